/**
 * One Bitbucket Server repository through a run (flux bootstrap bitbucket-server): the token's
 * rights checked first, the repository, its group grants and access keys observed, planned with
 * the pure planners, and the steps carried out with the REST client.
 */
import type { ClusterAccess, ProviderSession, RepositoryFacts, SessionAccess } from "../types.ts";
import { publicKeyMaterial } from "../types.ts";
import { bitbucketServerProvider } from "./client.ts";
import { planAccessKey, planRepository } from "./plan.ts";
import {
  type BitbucketSettings,
  PERMISSION_WORDS,
  permissionOf,
  repositoryFacts,
} from "./settings.ts";
import type { AccessKey, GroupGrant, ProviderRepo } from "./types.ts";

export function openSession(b: BitbucketSettings, access: SessionAccess): ProviderSession {
  const client = bitbucketServerProvider({
    baseUrl: b.apiUrl,
    token: access.token,
    project: b.project,
    repository: b.slug,
    allowInsecureHttp: access.allowInsecureHttp,
    timeoutMs: access.timeoutMs,
    retry: access.attempts === undefined ? undefined : { attempts: access.attempts },
    onWait: access.onWait,
    deadline: access.deadline,
    caPem: access.caPem,
  });
  let repo: ProviderRepo | undefined;
  let groups: GroupGrant[] = [];
  let keys: AccessKey[] = [];
  const name = `${b.project}/${b.slug}`;
  const neutralKeys = () =>
    keys.map((k) => ({ ...k, permission: permissionOf(k.permission) as "read" | "write" }));

  return {
    registersKeys: !b.tokenAuth,
    async observe(): Promise<RepositoryFacts> {
      // Permissions first: a token that cannot create repositories or keys fails here, before
      // anything is pushed.
      await client.checkAccess();
      repo = await client.getRepository();
      groups = repo && b.groups.length > 0 ? await client.listGroupGrants() : [];
      keys = repo && !b.tokenAuth ? await client.listAccessKeys() : [];
      return repositoryFacts(b, repo);
    },
    planRepository: () =>
      planRepository(
        { name, private: b.private, reconcileVisibility: b.reconcileVisibility, groups: b.groups },
        { exists: repo !== undefined, private: repo?.private, groups: groups.map((g) => g.group) },
      ),
    planClusterAccess: (want: ClusterAccess) =>
      b.tokenAuth ? [] : planAccessKey(
        {
          label: want.label,
          publicKey: want.publicKey,
          permission: b.readWriteKey ? "write" : "read",
          ...(want.generatedKey ? { generatedKey: want.generatedKey } : {}),
        },
        neutralKeys(),
      ),
    keyRegistered: (publicKey) => keys.some((k) => k.publicKey === publicKeyMaterial(publicKey)),
    clusterKeys: (label) =>
      b.tokenAuth ? [] : keys.filter((k) => k.label === label).map((k) => k.id),
    async removeKeys(ids) {
      for (const id of ids) await client.deleteAccessKey(id);
      keys = keys.filter((k) => !ids.includes(k.id));
    },
    async apply(step, ctx) {
      switch (step.kind) {
        case "repository":
          if (step.action === "create") {
            repo = await client.createRepository({ private: step.private });
            return repositoryFacts(b, repo);
          }
          // Bitbucket's planner never reconciles the default branch.
          if (step.action === "defaultBranch") throw new Error("not a Bitbucket Server step");
          await client.setVisibility(step.private);
          return undefined;
        case "group":
          // A failed grant is a warning, as in flux.
          try {
            await client.grantGroup({
              group: step.group,
              permission: PERMISSION_WORDS[step.permission] as GroupGrant["permission"],
            });
          } catch (e) {
            ctx.warn(`could not grant group ${step.group}: ${(e as Error).message}`);
          }
          return undefined;
        case "accessKey": {
          if (!ctx.publicKey) throw new Error(`no public key to register as ${step.label}`);
          // Old keys go first: Bitbucket refuses the same key text twice (as flux: delete, then
          // add).
          for (const id of step.remove) await client.deleteAccessKey(id);
          await client.addAccessKey({
            label: step.label,
            publicKey: ctx.publicKey,
            permission: step.permission === "write" ? "REPO_WRITE" : "REPO_READ",
          });
          return undefined;
        }
      }
    },
    close: () => client.close(),
  };
}
