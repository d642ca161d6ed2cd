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
import { type ForgeKind, type HostedForge, startHostedForge } from "../../sandbox/forges.ts";
import type { RepoView } from "../../sandbox/forge/model.ts";
import type { SshdServer } from "../../sandbox/ssh/sshd.ts";

export type { ForgeKind };

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
  /**
   * Rate limit: the next `count` requests are refused with retry-after `seconds` (GitHub's
   * secondary limit, 403; Gitea's throttling, 429). `user` names whose (GitHub: any token's).
   */
  limit(user: string, seconds: number, count?: number): void;
  /** The sandbox itself, for what only one kind does. */
  sandbox: HostedForge;
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
    /** More tokens, in the sandbox's own spec (GitHub: kind, scopes, permissions; Gitea: scopes). */
    tokens?: Record<string, unknown>[];
  } = {},
): Promise<ForgeEnv> {
  // The same teams on both sites, in each site's words (GitHub roles, Gitea modes).
  const words = kind === "github"
    ? { write: "push", read: "pull" }
    : { write: "write", read: "read" };
  const sb = await startHostedForge(kind, {
    users: ["alice", "bob", "carol"],
    orgs: [{
      login: "fleet",
      owners: ["alice"],
      members: ["bob"],
      teams: [
        { slug: "ops", permission: words.write, members: ["bob"] },
        { slug: "devs", permission: words.read },
      ],
    }],
    tokens: [
      { token: FORGE_TOKENS.alice, user: "alice" },
      { token: FORGE_TOKENS.bob, user: "bob" },
      { token: FORGE_TOKENS.carol, user: "carol" },
      ...(opts.tokens ?? []) as { token: string; user: string }[],
    ],
    sshd: opts.sshd,
    perPage: opts.perPage,
  });
  const module = kind === "github" ? github : gitea;
  const sessions: ProviderSession[] = [];
  const settings = (block: Record<string, unknown> = {}, git: Record<string, unknown> = {}) =>
    module.resolve(
      blockInput(
        { apiUrl: sb.apiUrl, owner: "fleet", repository: "fleet", ...block },
        { allowInsecureHttp: true, ...git },
        kind,
      ),
    ).settings as ForgeSettings;
  return {
    kind,
    module,
    apiUrl: sb.apiUrl,
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
    limit(_user, reset, count) {
      // Refused whenever the requests come (a secondary limit): no race with a reset time.
      if (sb.github) {
        sb.github.secondaryRateLimit({ status: 403, retryAfterSeconds: reset, times: count ?? 1 });
      } else sb.gitea!.throttle({ status: 429, times: count ?? 1, retryAfterSeconds: reset });
    },
    sandbox: sb,
    async close() {
      for (const s of sessions) s.close();
      await sb.close();
    },
  };
}

/** One user, alice, owner of the organization acme, with `token`: the end-to-end tests' forge. */
/**
 * A manifest's `defaults.git` lines for a forge sandbox reached over plain HTTP, its repositories
 * read over the sandbox sshd; `block`: the settings of the provider's block (`owner: acme, …`).
 */
export function forgeGitLines(forge: HostedForge, sshdPort: number, block: string): string[] {
  return [
    `provider: ${forge.kind}`,
    "allowInsecureHttp: true",
    `sshHostname: 127.0.0.1:${sshdPort}`,
    `${forge.kind}: { apiUrl: ${forge.apiUrl}, ${block} }`,
  ];
}

export function acmeForge(kind: ForgeKind, token: string, sshd?: SshdServer): Promise<HostedForge> {
  return startHostedForge(kind, {
    users: ["alice"],
    orgs: [{ login: "acme", owners: ["alice"] }],
    tokens: [{ token, user: "alice" }],
    sshd,
  });
}
