/**
 * Provider-side steps of a bootstrap, with flux's semantics (flux2 pkg/bootstrap/provider,
 * go-git-providers Reconcile): create the repository only when it is missing and leave an
 * existing one alone; reconcile an access key by its label (a key whose text or permission
 * differs is deleted and added again); grant only the groups that have no grant yet.
 */
import {
  type AccessKey,
  type CreateRepositoryOptions,
  type GitProvider,
  type GroupGrant,
  type NewAccessKey,
  ProviderError,
  type ProviderRepo,
  publicKeyMaterial,
} from "./types.ts";

export interface EnsuredRepository {
  repo: ProviderRepo;
  created: boolean;
}

export async function ensureRepository(
  provider: GitProvider,
  opts: CreateRepositoryOptions,
): Promise<EnsuredRepository> {
  const existing = await provider.getRepository();
  if (existing) return { repo: existing, created: false };
  return { repo: await provider.createRepository(opts), created: true };
}

export type KeyAction = "unchanged" | "created" | "replaced";

export interface EnsuredAccessKey {
  key: AccessKey;
  action: KeyAction;
}

function sameKey(a: AccessKey, want: NewAccessKey): boolean {
  return a.publicKey === publicKeyMaterial(want.publicKey) && a.permission === want.permission;
}

export async function ensureAccessKey(
  provider: GitProvider,
  want: NewAccessKey,
): Promise<EnsuredAccessKey> {
  const keys = await provider.listAccessKeys();
  const byLabel = keys.find((k) => k.label === want.label);
  if (byLabel && sameKey(byLabel, want)) return { key: byLabel, action: "unchanged" };
  // The same key material under another label: Bitbucket refuses a second copy, and an
  // identical grant already gives the access wanted.
  const sameMaterial = keys.find((k) => k.publicKey === publicKeyMaterial(want.publicKey));
  if (!byLabel && sameMaterial && sameMaterial.permission === want.permission) {
    return { key: sameMaterial, action: "unchanged" };
  }
  const stale = [byLabel, sameMaterial].filter((k): k is AccessKey => k !== undefined);
  for (const id of new Set(stale.map((k) => k.id))) await provider.deleteAccessKey(id);
  const key = await provider.addAccessKey(want);
  return { key, action: stale.length > 0 ? "replaced" : "created" };
}

export interface GroupGrantOutcome {
  granted: GroupGrant[];
  skipped: GroupGrant[];
  /** Flux reports group failures as warnings; so do we: the caller decides. */
  failed: { grant: GroupGrant; error: ProviderError }[];
}

export async function ensureGroupGrants(
  provider: GitProvider,
  want: GroupGrant[],
  opts: { reconcile?: boolean } = {},
): Promise<GroupGrantOutcome> {
  const outcome: GroupGrantOutcome = { granted: [], skipped: [], failed: [] };
  if (want.length === 0) return outcome;
  const existing = new Map((await provider.listGroupGrants()).map((g) => [g.group, g.permission]));
  for (const grant of want) {
    const has = existing.get(grant.group);
    if (has !== undefined && (!opts.reconcile || has === grant.permission)) {
      outcome.skipped.push(grant);
      continue;
    }
    try {
      await provider.grantGroup(grant);
      outcome.granted.push(grant);
    } catch (e) {
      if (!(e instanceof ProviderError)) throw e;
      outcome.failed.push({ grant, error: e });
    }
  }
  return outcome;
}
