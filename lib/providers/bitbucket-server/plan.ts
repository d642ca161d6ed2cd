/**
 * Bitbucket's steps (flux2 pkg/bootstrap/provider, go-git-providers reconcile), planned purely
 * from what the API showed: create the repository only when missing, show visibility drift (change
 * it only when asked), grant only missing groups, register an access key only when the cluster's
 * key is not there, and replace the keys fluxfleet added earlier (same label, other key) on
 * rotation. Steps use neutral permission words.
 */
import type { Permission, ProviderStep } from "../types.ts";
import { publicKeyMaterial } from "../types.ts";
import { KIND } from "./settings.ts";
import type { AccessKey } from "./types.ts";

export interface DesiredRepository {
  name: string;
  private: boolean;
  reconcileVisibility: boolean;
  groups: { group: string; permission: Permission }[];
}

export interface ObservedRepository {
  exists: boolean;
  private?: boolean;
  /** The groups that have a grant (whatever it is). */
  groups: string[];
}

export function planRepository(
  desired: DesiredRepository,
  observed: ObservedRepository,
): { steps: ProviderStep[]; warnings: string[] } {
  const steps: ProviderStep[] = [];
  const warnings: string[] = [];
  const name = desired.name;
  if (!observed.exists) {
    steps.push({
      kind: "repository",
      provider: KIND,
      action: "create",
      name,
      private: desired.private,
    });
  } else if (observed.private !== undefined && observed.private !== desired.private) {
    if (desired.reconcileVisibility) {
      steps.push({
        kind: "repository",
        provider: KIND,
        action: "update",
        name,
        private: desired.private,
      });
    } else {
      warnings.push(
        `repository ${name} is ${observed.private ? "private" : "public"}, the manifest says ` +
          `${
            desired.private ? "private" : "public"
          }; left as it is (set reconcileVisibility: true to change it)`,
      );
    }
  }
  for (const g of desired.groups) {
    if (!observed.groups.includes(g.group)) {
      steps.push({
        kind: "group",
        provider: KIND,
        action: "grant",
        group: g.group,
        permission: g.permission,
      });
    }
  }
  return { steps, warnings };
}

export interface DesiredAccessKey {
  label: string;
  /** null: the key does not exist yet, apply generates it (of the kind `generatedKey`). */
  publicKey: string | null;
  permission: "read" | "write";
  generatedKey?: string;
}

/** `keys`: the repository's access keys, their permissions in neutral words. */
export function planAccessKey(
  want: DesiredAccessKey,
  keys: (Omit<AccessKey, "permission"> & { permission: "read" | "write" })[],
): ProviderStep[] {
  const base = {
    kind: "accessKey",
    provider: KIND,
    label: want.label,
    permission: want.permission,
  } as const;
  if (want.publicKey === null) {
    // A key generated at apply cannot be registered yet; the keys fluxfleet added for this
    // cluster before (same label) are replaced by it.
    const old = keys.filter((k) => k.label === want.label);
    return [{
      ...base,
      action: old.length > 0 ? "replace" : "create",
      remove: old.map((k) => k.id),
      ...(want.generatedKey ? { generatedKey: want.generatedKey } : {}),
    }];
  }
  const material = publicKeyMaterial(want.publicKey);
  const present = keys.find((k) => k.publicKey === material);
  const stale = keys.filter((k) => k.label === want.label && k.publicKey !== material);
  if (present && present.permission === want.permission && stale.length === 0) return [];
  return [{
    ...base,
    action: present || stale.length > 0 ? "replace" : "create",
    remove: [
      ...stale.map((k) => k.id),
      ...(present && present.permission !== want.permission ? [present.id] : []),
    ],
  }];
}
