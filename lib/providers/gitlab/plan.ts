/**
 * GitLab's steps (flux2 pkg/bootstrap/bootstrap_provider.go, go-git-providers gitlab), planned
 * purely from what the API showed: create the project only when missing; visibility and the
 * roles of shared groups changed only with `reconcile` (else shown as drift); groups shared only
 * when missing; a deploy key added only when the cluster's key is not there, and the keys
 * fluxfleet added for the cluster before (same title, other key) replaced on rotation.
 */
import type { Permission, ProviderStep } from "../types.ts";
import { publicKeyMaterial } from "../types.ts";
import { ACCESS_LEVELS, KIND, permissionOfLevel, ROLE_NAMES, type Visibility } from "./settings.ts";
import type { GlDeployKey, GlProject } from "./api.ts";

export interface DesiredProject {
  name: string;
  visibility: Visibility;
  reconcile: boolean;
  teams: { group: string; permission: Permission }[];
}

function roleOf(level: number): string {
  const p = permissionOfLevel(level);
  return p ? ROLE_NAMES[p] : `access level ${level}`;
}

export function planProject(
  desired: DesiredProject,
  observed: GlProject | undefined,
): { steps: ProviderStep[]; warnings: string[] } {
  const steps: ProviderStep[] = [];
  const warnings: string[] = [];
  const base = { kind: "repository", provider: KIND, name: desired.name } as const;
  const shown = desired.visibility === "internal" ? { visibility: "internal" } : {};
  if (!observed) {
    steps.push({
      ...base,
      action: "create",
      private: desired.visibility !== "public",
      ...shown,
    });
  } else if (observed.visibility !== desired.visibility) {
    if (desired.reconcile) {
      steps.push({
        ...base,
        action: "update",
        private: desired.visibility !== "public",
        ...shown,
      });
    } else {
      warnings.push(
        `project ${desired.name} is ${observed.visibility}, the manifest says ${desired.visibility}; ` +
          "left as it is (set reconcile: true to change it)",
      );
    }
  }
  for (const t of desired.teams) {
    const link = observed?.sharedWith.find((l) =>
      l.fullPath.toLowerCase() === t.group.toLowerCase()
    );
    const grant: ProviderStep = {
      kind: "group",
      provider: KIND,
      action: "grant",
      group: t.group,
      permission: t.permission,
    };
    if (!link) {
      steps.push(grant);
    } else if (link.level !== ACCESS_LEVELS[t.permission]) {
      // As flux: an existing share is left alone unless asked to reconcile.
      if (desired.reconcile) steps.push(grant);
      else {
        warnings.push(
          `group ${t.group} has the ${
            roleOf(link.level)
          } role on project ${desired.name}, the manifest says ${
            ROLE_NAMES[t.permission]
          }; left as it is (set reconcile: true to change it)`,
        );
      }
    }
  }
  return { steps, warnings };
}

export interface DesiredKey {
  label: string;
  /** null: the key does not exist yet, apply generates it (of the kind `generatedKey`). */
  publicKey: string | null;
  permission: "read" | "write";
  generatedKey?: string;
}

/** The cluster's deploy key among the project's (`keys`): what to add, what to remove. */
export function planDeployKey(want: DesiredKey, keys: GlDeployKey[]): ProviderStep[] {
  const base = {
    kind: "accessKey",
    provider: KIND,
    label: want.label,
    permission: want.permission,
  } as const;
  const canPush = want.permission === "write";
  if (want.publicKey === null) {
    // A key generated at apply replaces the keys fluxfleet added for this cluster before.
    const old = keys.filter((k) => k.title === want.label);
    return [{
      ...base,
      action: old.length > 0 ? "replace" : "create",
      remove: old.map((k) => k.id),
      ...(want.generatedKey ? { generatedKey: want.generatedKey } : {}),
    }];
  }
  const material = publicKeyMaterial(want.publicKey);
  const present = keys.find((k) => k.publicKey === material);
  const stale = keys.filter((k) => k.title === want.label && k.publicKey !== material);
  if (present && present.canPush === canPush && stale.length === 0) return [];
  // GitLab answers an add of a key the project has with the key as it is: a key whose can_push
  // is wrong is removed first.
  return [{
    ...base,
    action: present || stale.length > 0 ? "replace" : "create",
    remove: [
      ...stale.map((k) => k.id),
      ...(present && present.canPush !== canPush ? [present.id] : []),
    ],
  }];
}
