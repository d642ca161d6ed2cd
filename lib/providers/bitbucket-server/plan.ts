/**
 * Bitbucket's steps, planned by the shared planners of ../forge/plan.ts: its groups are compared by
 * name only (a group already granted is left as it is), its visibility changes with
 * `reconcileVisibility`.
 */
import type { Permission, ProviderStep } from "../types.ts";
import { type HeldKey, planAccessKey as planKey, planRepository as plan } from "../forge/plan.ts";
import { KIND } from "./settings.ts";

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
  return plan(
    {
      provider: KIND,
      name: desired.name,
      private: desired.private,
      reconcile: desired.reconcileVisibility,
      reconcileSetting: "reconcileVisibility",
      groups: desired.groups,
      groupWord: "group",
    },
    { ...observed, groups: observed.groups.map((group) => ({ group })) },
  );
}

export interface DesiredAccessKey {
  label: string;
  /** null: the key does not exist yet, apply generates it (of the kind `generatedKey`). */
  publicKey: string | null;
  permission: "read" | "write";
  generatedKey?: string;
}

export function planAccessKey(want: DesiredAccessKey, keys: HeldKey[]): ProviderStep[] {
  return planKey({ provider: KIND, ...want }, keys);
}
