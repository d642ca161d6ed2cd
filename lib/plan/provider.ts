/**
 * Provider steps (flux2 pkg/bootstrap/provider, go-git-providers reconcile), planned purely from
 * what the API showed: create the repository only when missing, show visibility drift (change it
 * only when asked), grant only missing groups, register an access key only when the cluster's key
 * is not there, and replace the keys fluxfleet added earlier (same label, other key) on rotation.
 */
import type { AccessKey, GroupGrant } from "../providers/types.ts";
import { publicKeyMaterial } from "../providers/types.ts";
import type { Step } from "./types.ts";

export interface DesiredProviderRepo {
  name: string;
  private: boolean;
  reconcileVisibility: boolean;
  groups: GroupGrant[];
}

export interface ObservedProviderRepo {
  exists: boolean;
  private?: boolean;
  groups: GroupGrant[];
}

export function planRepository(
  desired: DesiredProviderRepo,
  observed: ObservedProviderRepo,
): { steps: Step[]; warnings: string[] } {
  const steps: Step[] = [];
  const warnings: string[] = [];
  if (!observed.exists) {
    steps.push({
      kind: "repository",
      action: "create",
      name: desired.name,
      private: desired.private,
    });
  } else if (observed.private !== undefined && observed.private !== desired.private) {
    if (desired.reconcileVisibility) {
      steps.push({
        kind: "repository",
        action: "update",
        name: desired.name,
        private: desired.private,
      });
    } else {
      warnings.push(
        `repository ${desired.name} is ${
          observed.private ? "private" : "public"
        }, the manifest says ` +
          `${
            desired.private ? "private" : "public"
          }; left as it is (set reconcileVisibility: true to change it)`,
      );
    }
  }
  const has = new Map(observed.groups.map((g) => [g.group, g.permission]));
  for (const g of desired.groups) {
    if (!has.has(g.group)) {
      steps.push({ kind: "group", action: "grant", group: g.group, permission: g.permission });
    }
  }
  return { steps, warnings };
}

export interface DesiredAccessKey {
  label: string;
  /** null: the key does not exist yet, apply generates it (of the kind `generatedKey`). */
  publicKey: string | null;
  permission: "REPO_READ" | "REPO_WRITE";
  generatedKey?: string;
}

export function planAccessKey(want: DesiredAccessKey, keys: AccessKey[]): Step[] {
  if (want.publicKey === null) {
    // A key generated at apply cannot be registered yet; the keys fluxfleet added for this
    // cluster before (same label) are replaced by it.
    const old = keys.filter((k) => k.label === want.label);
    return [{
      kind: "accessKey",
      action: old.length > 0 ? "replace" : "create",
      label: want.label,
      permission: want.permission,
      remove: old.map((k) => k.id),
      ...(want.generatedKey ? { generatedKey: want.generatedKey } : {}),
    }];
  }
  const material = publicKeyMaterial(want.publicKey);
  const present = keys.find((k) => k.publicKey === material);
  const stale = keys.filter((k) => k.label === want.label && k.publicKey !== material);
  if (present && present.permission === want.permission && stale.length === 0) return [];
  return [{
    kind: "accessKey",
    action: present || stale.length > 0 ? "replace" : "create",
    label: want.label,
    permission: want.permission,
    remove: [
      ...stale.map((k) => k.id),
      ...(present && present.permission !== want.permission ? [present.id] : []),
    ],
  }];
}

/** Access key labels unique per cluster, repository path and namespace (flux users hit collisions). */
export function accessKeyLabel(cluster: string, path: string, namespace: string): string {
  return `fluxfleet-${cluster}-${path.replaceAll("/", "-")}-${namespace}`.slice(0, 100);
}
