/**
 * The Bitbucket Server side of a run: observe the repository, its group grants and access keys
 * through the REST API (flux bootstrap bitbucket-server), plan with the pure planner, and carry
 * out the repository, group and access-key steps.
 */
import type { BitbucketConfig, ClusterConfig } from "../config/types.ts";
import {
  type BitbucketServerProvider,
  bitbucketServerProvider,
} from "../providers/bitbucket-server/mod.ts";
import type { AccessKey, GroupGrant, ProviderRepo } from "../providers/types.ts";
import { planRepository } from "../plan/provider.ts";
import type { Step } from "../plan/types.ts";
import { bitbucketCloneUrl } from "../config/load.ts";

export interface BitbucketState {
  config: BitbucketConfig;
  provider: BitbucketServerProvider;
  repo?: ProviderRepo;
  groups: GroupGrant[];
  keys: AccessKey[];
  plan: { steps: Step[]; warnings: string[] };
}

export async function observeBitbucket(
  c: ClusterConfig,
  token: string,
  limits: { timeoutMs?: number; attempts?: number } = {},
): Promise<BitbucketState> {
  const b = c.git.bitbucket!;
  const provider = bitbucketServerProvider({
    baseUrl: b.apiUrl,
    token,
    project: b.project,
    repository: b.slug,
    allowInsecureHttp: c.git.allowInsecureHttp,
    timeoutMs: limits.timeoutMs,
    retry: limits.attempts === undefined ? undefined : { attempts: limits.attempts },
  });
  try {
    // Permissions first: a token that cannot create repositories or keys fails here, before
    // anything is pushed.
    await provider.checkAccess();
    const repo = await provider.getRepository();
    const groups = repo && b.groups.length > 0 ? await provider.listGroupGrants() : [];
    const keys = repo && !b.tokenAuth ? await provider.listAccessKeys() : [];
    const plan = planRepository(
      {
        name: `${b.project}/${b.slug}`,
        private: b.private,
        reconcileVisibility: b.reconcileVisibility,
        groups: b.groups,
      },
      { exists: repo !== undefined, private: repo?.private, groups },
    );
    return { config: b, provider, repo, groups, keys, plan };
  } catch (e) {
    provider.close();
    throw e;
  }
}

/** The URLs the cluster and fluxfleet use: the API's clone links, or the conventions before creation. */
export function bitbucketUrls(
  b: BitbucketConfig,
  repo: ProviderRepo | undefined,
): { http: string; ssh: string } {
  const http = repo?.httpCloneUrl ?? bitbucketCloneUrl(b);
  const linkSsh = repo?.sshCloneUrl ??
    `ssh://git@${new URL(b.apiUrl).hostname}/${b.project.toLowerCase()}/${b.slug}.git`;
  if (!b.sshHostname) return { http, ssh: linkSsh };
  // --ssh-hostname replaces host and port (Bitbucket's SSH port is often 7999).
  const u = new URL(linkSsh);
  return { http, ssh: `ssh://${u.username || "git"}@${b.sshHostname}${u.pathname}` };
}

/** Repository and group steps, before anything is pushed. Group failures are warnings, as in flux. */
export async function applyRepositorySteps(
  state: BitbucketState,
  steps: Step[],
  warn: (message: string) => void,
): Promise<void> {
  for (const step of steps) {
    if (step.kind === "repository" && step.action === "create") {
      state.repo = await state.provider.createRepository({ private: step.private });
    } else if (step.kind === "repository") {
      await state.provider.setVisibility(step.private);
    } else if (step.kind === "group") {
      try {
        await state.provider.grantGroup({
          group: step.group,
          permission: step.permission as GroupGrant["permission"],
        });
      } catch (e) {
        warn(`could not grant group ${step.group}: ${(e as Error).message}`);
      }
    }
  }
}

export async function applyAccessKey(
  state: BitbucketState,
  step: Extract<Step, { kind: "accessKey" }>,
  publicKey: string,
): Promise<void> {
  // Old keys go first: Bitbucket refuses the same key text twice (as flux: delete, then add).
  for (const id of step.remove) await state.provider.deleteAccessKey(id);
  await state.provider.addAccessKey({ label: step.label, publicKey, permission: step.permission });
}
