/**
 * The GitHub and Gitea sandboxes as provider tests use them: one organization `fleet` (owner
 * alice, member bob; teams ops and devs), a user carol outside it, tokens for each, and sessions
 * of the provider module opened on settings the module itself resolves from a block.
 */
import { provider as github } from "../../lib/providers/github/mod.ts";
import { provider as gitea } from "../../lib/providers/gitea/mod.ts";
import type { ForgeSettings } from "../../lib/providers/forge/types.ts";
import type {
  ProviderInput,
  ProviderModule,
  ProviderSession,
  SessionAccess,
} from "../../lib/providers/types.ts";
import { startGitHubSandbox } from "../../sandbox/github/server.ts";
import { startGiteaSandbox } from "../../sandbox/gitea/server.ts";
import type { RepoView } from "../../sandbox/forge/model.ts";
import type { SshdServer } from "../../sandbox/ssh/sshd.ts";

export type ForgeKind = "github" | "gitea";

export const FORGE_TOKENS = {
  alice: "forge_canary_alice_3f9a1c7e",
  bob: "forge_canary_bob_81d2e0b4",
  carol: "forge_canary_carol_c4e5a6f1",
  wrong: "forge_canary_wrong_9b7d2e13",
};

export interface ForgeEnv {
  kind: ForgeKind;
  module: ProviderModule;
  /** Where the API is (the block's apiUrl). */
  apiUrl: string;
  /** The site's host as messages name it (127.0.0.1:PORT). */
  host: string;
  /** The provider's settings for `block` (merged over owner fleet, repository fleet). */
  settings(block?: Record<string, unknown>, git?: Record<string, unknown>): ForgeSettings;
  /** A session of the module (as a run opens it), closed with the env. */
  open(
    block?: Record<string, unknown>,
    token?: string,
    access?: Partial<SessionAccess>,
  ): ProviderSession;
  repo(owner: string, name: string): RepoView | undefined;
  /** Requests that changed something, so far. */
  mutations(): { method: string; path: string; status: number }[];
  requests(): { method: string; path: string; status: number }[];
  /** Rate limit: the token's user is refused until `resetInSeconds` (GitHub primary, Gitea 429). */
  limit(user: string, resetInSeconds: number, count?: number): void;
  close(): Promise<void>;
}

export function blockInput(
  block: Record<string, unknown>,
  git: Record<string, unknown> = {},
  blockKey = "github",
): ProviderInput {
  return {
    get: (k) => block[k],
    git: (k) => git[k],
    field: (k) => `git.${blockKey}.${k}`,
  };
}

export async function startForge(
  kind: ForgeKind,
  opts: {
    perPage?: number;
    sshd?: SshdServer;
    rateLimit?: number;
    /** More tokens, in the sandbox's own spec (GitHub: kind, scopes, permissions; Gitea: scopes). */
    tokens?: Record<string, unknown>[];
  } = {},
): Promise<ForgeEnv> {
  const users = ["alice", "bob", "carol"];
  const orgs = [{
    login: "fleet",
    owners: ["alice"],
    members: ["bob"],
    teams: [
      { slug: "ops", permission: "push", members: ["bob"] },
      { slug: "devs", permission: "pull" },
    ],
  }];
  const tokens = [
    { token: FORGE_TOKENS.alice, user: "alice" },
    { token: FORGE_TOKENS.bob, user: "bob" },
    { token: FORGE_TOKENS.carol, user: "carol" },
    ...(opts.tokens ?? []) as { token: string; user: string }[],
  ];
  const sshd = opts.sshd;
  const common = {
    users,
    tokens,
    gitRoot: sshd?.root,
    sshCloneBase: sshd ? `ssh://git@127.0.0.1:${sshd.port}` : undefined,
    accessKeys: sshd
      ? {
        authorize: (
          key: string,
          o: { readOnly: boolean; repos: { path: string; readOnly: boolean }[] },
        ) => sshd.authorize(key, o),
        revoke: (key: string) => sshd.revoke(key),
      }
      : undefined,
  };
  const sessions: ProviderSession[] = [];
  if (kind === "github") {
    const gh = await startGitHubSandbox({
      ...common,
      orgs,
      perPage: opts.perPage ? { default: opts.perPage, max: opts.perPage } : undefined,
      rateLimit: opts.rateLimit,
    });
    return env(
      kind,
      github,
      gh.url,
      gh,
      (user, reset) => gh.exhaustRateLimit(user, { resetInSeconds: reset }),
    );
  }
  const gt = await startGiteaSandbox({
    ...common,
    orgs: orgs.map((o) => ({
      ...o,
      teams: [
        { slug: "ops", permission: "write", members: ["bob"] },
        { slug: "devs", permission: "read" },
      ],
    })),
    paging: opts.perPage ? { default: opts.perPage, max: opts.perPage } : undefined,
  });
  return env(
    kind,
    gitea,
    gt.apiUrl,
    gt,
    (_user, reset, count) =>
      gt.throttle({ status: 429, times: count ?? 1, retryAfterSeconds: reset }),
  );

  function env(
    k: ForgeKind,
    module: ProviderModule,
    apiUrl: string,
    sb: {
      url: string;
      repo(o: string, n: string): RepoView | undefined;
      mutatingRequests(): { method: string; path: string; status: number }[];
      requests: { method: string; path: string; status: number }[];
      close(): Promise<void>;
    },
    limit: ForgeEnv["limit"],
  ): ForgeEnv {
    const settings = (block: Record<string, unknown> = {}, git: Record<string, unknown> = {}) =>
      module.resolve(
        blockInput(
          { apiUrl, owner: "fleet", repository: "fleet", ...block },
          { allowInsecureHttp: true, ...git },
          k,
        ),
      ).settings as ForgeSettings;
    return {
      kind: k,
      module,
      apiUrl,
      host: new URL(sb.url).host,
      settings,
      open(block = {}, token = FORGE_TOKENS.alice, access = {}) {
        const s = module.open(settings(block), {
          token,
          allowInsecureHttp: true,
          attempts: 1,
          ...access,
        });
        sessions.push(s);
        return s;
      },
      repo: (o, n) => sb.repo(o, n),
      mutations: () => sb.mutatingRequests(),
      requests: () => sb.requests.map(({ method, path, status }) => ({ method, path, status })),
      limit,
      async close() {
        for (const s of sessions) s.close();
        await sb.close();
      },
    };
  }
}
