/**
 * The steps of a hosted repository (flux2 pkg/bootstrap/bootstrap_provider.go reconcileOrgRepository
 * and reconcileUserRepository, go-git-providers' Reconcile), planned purely from what a provider's
 * API showed: create the repository only when missing; show visibility drift and change it only
 * when asked, and likewise the default branch (flux's repository info carries it: with
 * --reconcile it is set on an existing repository); grant missing groups (teams), and re-grant one whose permission differs only when
 * asked (flux: "Don't reconcile team if team already exists and b.reconcile is false"); register
 * the cluster's access (deploy) key only when it is not there, and replace the keys fluxfleet
 * added earlier (same label, other key) on rotation. Shared by every provider with an API; steps
 * use neutral permission words.
 */
import type { Permission, ProviderStep } from "../types.ts";
import { publicKeyMaterial } from "../types.ts";

export interface DesiredRepository {
  /** The provider's kind, as steps carry it. */
  provider: string;
  name: string;
  private: boolean;
  /** Re-apply visibility (and, with `regrant`, group permissions) to an existing repository. */
  reconcile: boolean;
  /** The setting that turns `reconcile` on, named in warnings ("reconcile"). */
  reconcileSetting: string;
  groups: { group: string; permission: Permission }[];
  /** What the provider calls a group in warnings ("group", "team"). */
  groupWord: string;
  /** The branch the clusters sync, wanted as the default branch; absent: not compared. */
  defaultBranch?: string;
  /**
   * Every branch the manifest's clusters sync from this repository: when they differ, no branch
   * is the default they want, and it is left as it is.
   */
  branches?: string[];
}

export interface ObservedRepository {
  exists: boolean;
  private?: boolean;
  /** The groups that have a grant; `permission` when the API says which (else not compared). */
  groups: { group: string; permission?: Permission }[];
  defaultBranch?: string;
}

export function planRepository(
  desired: DesiredRepository,
  observed: ObservedRepository,
): { steps: ProviderStep[]; warnings: string[] } {
  const steps: ProviderStep[] = [];
  const warnings: string[] = [];
  const { name, provider } = desired;
  const reconcileHint = `(set ${desired.reconcileSetting}: true to change it)`;
  if (!observed.exists) {
    steps.push({ kind: "repository", provider, action: "create", name, private: desired.private });
  } else if (observed.private !== undefined && observed.private !== desired.private) {
    if (desired.reconcile) {
      steps.push({
        kind: "repository",
        provider,
        action: "update",
        name,
        private: desired.private,
      });
    } else {
      warnings.push(
        `repository ${name} is ${observed.private ? "private" : "public"}, the manifest says ` +
          `${desired.private ? "private" : "public"}; left as it is ${reconcileHint}`,
      );
    }
  }
  const defaultBranch = planDefaultBranch(desired, observed, reconcileHint);
  steps.push(...defaultBranch.steps);
  warnings.push(...defaultBranch.warnings);
  for (const g of desired.groups) {
    const held = observed.groups.find((o) => o.group.toLowerCase() === g.group.toLowerCase());
    const grant = () =>
      steps.push({
        kind: "group",
        provider,
        action: "grant",
        group: g.group,
        permission: g.permission,
      });
    if (!held) grant();
    else if (held.permission !== undefined && held.permission !== g.permission) {
      if (desired.reconcile) grant();
      else {
        warnings.push(
          `${desired.groupWord} ${g.group} has ${held.permission} access to ${name}, the manifest ` +
            `says ${g.permission}; left as it is ${reconcileHint}`,
        );
      }
    }
  }
  return { steps, warnings };
}

/**
 * The default branch of an existing repository: set to the branch its clusters sync with
 * `reconcile`, else its drift reported. Clusters syncing several branches of the repository want
 * no one of them as the default: with `reconcile` that is said, and nothing changes (each
 * branch's run would set it back otherwise).
 */
function planDefaultBranch(
  desired: DesiredRepository,
  observed: ObservedRepository,
  reconcileHint: string,
): { steps: ProviderStep[]; warnings: string[] } {
  const want = desired.defaultBranch;
  const have = observed.defaultBranch;
  if (!observed.exists || want === undefined || have === undefined || have === want) {
    return { steps: [], warnings: [] };
  }
  const { name, provider } = desired;
  const branches = [...new Set([want, ...(desired.branches ?? [])])].sort();
  if (branches.length > 1) {
    return {
      steps: [],
      warnings: desired.reconcile
        ? [
          `the clusters of repository ${name} sync branches ${branches.join(", ")}: its ` +
          `default branch ${have} is left as it is`,
        ]
        : [],
    };
  }
  if (desired.reconcile) {
    return {
      steps: [{
        kind: "repository",
        provider,
        action: "defaultBranch",
        name,
        branch: want,
        from: have,
      }],
      warnings: [],
    };
  }
  return {
    steps: [],
    warnings: [
      `repository ${name} has default branch ${have}, the manifest's clusters sync ${want}; ` +
      `left as it is ${reconcileHint}`,
    ],
  };
}

/** An access key the repository holds, its permission in neutral words. */
export interface HeldKey {
  id: number;
  label: string;
  /** "<type> <base64>" without the comment. */
  publicKey: string;
  permission: "read" | "write";
}

export interface DesiredAccessKey {
  provider: string;
  label: string;
  /** null: the key does not exist yet, apply generates it (of the kind `generatedKey`). */
  publicKey: string | null;
  permission: "read" | "write";
  generatedKey?: string;
}

/** `keys`: the repository's access keys, listed once for all its clusters. */
export function planAccessKey(want: DesiredAccessKey, keys: HeldKey[]): ProviderStep[] {
  const base = {
    kind: "accessKey",
    provider: want.provider,
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
