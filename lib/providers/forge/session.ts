/**
 * One hosted repository through a run (flux bootstrap <forge>): observed once — the
 * repository, then the token's rights, then its deploy keys and teams, one listing each shared by
 * every cluster of the repository —, planned with the shared planners, and the steps carried out
 * through the provider's REST API.
 */
import type { ClusterAccess, ProviderSession, RepositoryFacts, SessionAccess } from "../types.ts";
import { publicKeyMaterial } from "../types.ts";
import { checkHttpCloneLink, checkSshCloneLink, type CloneLinkHome } from "../clone_links.ts";
import { createJsonClient, type JsonClient } from "../http/client.ts";
import { DEFAULT_RETRY } from "../../util/retry.ts";
import { checkAccess } from "./access.ts";
import { type HeldKey, planAccessKey, planRepository } from "./plan.ts";
import * as rest from "./rest.ts";
import type { ForgeDialect, ForgeKey, ForgeRepo, ForgeSettings, ForgeTeam } from "./types.ts";

const DEFAULT_TIMEOUT_MS = 30_000;

/** The forge's JSON client for one session; remembers the last answer's headers. */
export function forgeClient(
  d: ForgeDialect,
  s: ForgeSettings,
  access: SessionAccess,
): { http: JsonClient; headers(): Headers | undefined } {
  let last: Headers | undefined;
  const http = createJsonClient({
    service: d.service,
    baseUrl: s.apiUrl,
    allowInsecureHttp: access.allowInsecureHttp,
    token: access.token,
    authorization: d.authorization(access.token),
    headers: d.headers,
    timeoutMs: access.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    retry: { ...DEFAULT_RETRY, attempts: access.attempts ?? DEFAULT_RETRY.attempts },
    onWait: access.onWait,
    deadline: access.deadline,
    caPem: access.caPem,
    describe: (ctx) => d.describe(ctx, s),
    onAnswer: (h) => {
      last = h;
    },
  });
  return { http, headers: () => last };
}

/** The URLs the cluster and fluxfleet use: the API's links, or the conventions before creation. */
export function repositoryFacts(s: ForgeSettings, repo: ForgeRepo | undefined): RepositoryFacts {
  const path = `${s.owner}/${s.repository}.git`;
  const httpUrl = repo?.httpUrl ?? `${s.webUrl}/${path}`;
  // The forges link SSH as scp-like "git@host:owner/repo.git"; the cluster takes ssh://.
  const link = repo?.sshUrl ?? `git@${new URL(s.webUrl).hostname}:${path}`;
  const scp = /^([^@/:]+)@([^:/]+):(?!\/)(.+)$/.exec(link);
  const sshUrl = scp ? `ssh://${scp[1]}@${scp[2]}/${scp[3]}` : link;
  checkCloneLinks(s, httpUrl, sshUrl);
  if (!s.sshHostname) return { exists: repo !== undefined, httpUrl, sshUrl };
  // --ssh-hostname replaces host and port.
  const u = new URL(sshUrl);
  return {
    exists: repo !== undefined,
    httpUrl,
    sshUrl: `ssh://${u.username || "git"}@${s.sshHostname}${u.pathname}`,
  };
}

export function openForgeSession(
  d: ForgeDialect,
  s: ForgeSettings,
  access: SessionAccess,
): ProviderSession {
  const client = forgeClient(d, s, access);
  const http = client.http;
  let repo: ForgeRepo | undefined;
  let keys: ForgeKey[] = [];
  let teams: ForgeTeam[] = [];
  const teamsApply = () => !s.personal && s.teams.length > 0;
  const held = (): HeldKey[] =>
    keys.map((k) => ({
      id: k.id,
      label: k.title,
      publicKey: k.publicKey,
      permission: k.readOnly ? "read" : "write",
    }));

  return {
    registersKeys: !s.tokenAuth,
    async observe(): Promise<RepositoryFacts> {
      repo = await rest.getRepository(http, s);
      // Rights first: a token that cannot push or add keys fails here, before anything is pushed.
      await checkAccess(http, client, d, s, repo);
      keys = repo && !s.tokenAuth ? await rest.listKeys(http, d, s) : [];
      teams = repo && teamsApply() ? await rest.listTeams(http, d, s) : [];
      return repositoryFacts(s, repo);
    },
    planRepository: () =>
      planRepository(
        {
          provider: d.kind,
          name: rest.repoName(s),
          private: s.private,
          reconcile: s.reconcile,
          reconcileSetting: "reconcile",
          groups: teamsApply() ? s.teams : [],
          groupWord: "team",
          defaultBranch: s.branch,
          ...(access.branches ? { branches: access.branches } : {}),
        },
        {
          exists: repo !== undefined,
          private: repo?.private,
          defaultBranch: repo?.defaultBranch,
          groups: teams.map((t) => ({ group: t.name, permission: t.permission })),
        },
      ),
    planClusterAccess: (want: ClusterAccess) =>
      s.tokenAuth ? [] : planAccessKey(
        {
          provider: d.kind,
          label: want.label,
          publicKey: want.publicKey,
          permission: s.readWriteKey ? "write" : "read",
          ...(want.generatedKey ? { generatedKey: want.generatedKey } : {}),
        },
        held(),
      ),
    keyRegistered: (publicKey) => keys.some((k) => k.publicKey === publicKeyMaterial(publicKey)),
    clusterKeys: (label) =>
      s.tokenAuth ? [] : keys.filter((k) => k.title === label).map((k) => k.id),
    async removeKeys(ids) {
      for (const id of ids) await rest.deleteKey(http, s, id);
      keys = keys.filter((k) => !ids.includes(k.id));
    },
    async apply(step, ctx) {
      switch (step.kind) {
        case "repository":
          if (step.action === "create") {
            repo = await rest.createRepository(http, d, s, step.private);
            return repositoryFacts(s, repo);
          }
          if (step.action === "defaultBranch") {
            await rest.setDefaultBranch(http, s, step.branch);
            if (repo) repo = { ...repo, defaultBranch: step.branch };
            return undefined;
          }
          await rest.setVisibility(http, s, step.private);
          return undefined;
        case "group":
          // A failed grant is a warning, as in flux.
          try {
            await rest.grantTeam(http, d, s, step.group, step.permission);
          } catch (e) {
            ctx.warn(`could not grant team ${step.group}: ${(e as Error).message}`);
          }
          return undefined;
        case "accessKey": {
          if (!ctx.publicKey) throw new Error(`no public key to register as ${step.label}`);
          // Old keys go first: both sites refuse a key text the repository already has.
          for (const id of step.remove) await rest.deleteKey(http, s, id);
          const added = await rest.addKey(http, s, {
            title: step.label,
            publicKey: ctx.publicKey,
            readOnly: step.permission !== "write",
          });
          keys = [...keys.filter((k) => !step.remove.includes(k.id)), added];
          return undefined;
        }
      }
    },
    close: () => http.close(),
  };
}

/** The API's links stay on the forge the manifest names (lib/providers/clone_links.ts). */
function checkCloneLinks(s: ForgeSettings, httpUrl: string, sshUrl: string): void {
  const home: CloneLinkHome = {
    origin: s.webUrl,
    repository: `${s.owner}/${s.repository}`,
    namer: "the API",
    hint: `check the server's external URL, or ${
      s.tokenField.replace(/\.token$/, "")
    }.hostname / apiUrl`,
    ...(s.sshHostname ? { sshHostname: s.sshHostname } : {}),
  };
  checkHttpCloneLink(home, httpUrl);
  checkSshCloneLink(home, sshUrl);
}
