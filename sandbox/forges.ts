/**
 * The GitHub or Gitea API sandbox by kind, its repositories served by the sandbox sshd when one is
 * given (deploy keys then enforced by it, each key scoped to its repositories): what the demo,
 * the provider tests and the bench start.
 */
import type { ApiRequestRecord } from "./forge/ledger.ts";
import type { OrgSpec, RepoView } from "./forge/model.ts";
import { type GitHubSandbox, type GitHubTokenSpec, startGitHubSandbox } from "./github/server.ts";
import { type GiteaSandbox, type GiteaTokenSpec, startGiteaSandbox } from "./gitea/server.ts";
import type { SshdServer } from "./ssh/sshd.ts";
import type { AccessKeyHooks } from "./forge/ssh_keys.ts";

export type ForgeKind = "github" | "gitea";

export interface HostedForgeOptions {
  users: string[];
  orgs?: OrgSpec[];
  /** In the sandbox's own terms (GitHub: kind, scopes, permissions; Gitea: scopes). */
  tokens: (GitHubTokenSpec & GiteaTokenSpec)[];
  /** Serves the repositories over SSH and enforces deploy keys. */
  sshd?: SshdServer;
  /** Page size default and cap (GitHub's per_page, Gitea's limit). */
  perPage?: number;
  tls?: boolean;
}

export interface HostedForge {
  kind: ForgeKind;
  /** The site (git over HTTPS at <url>/<owner>/<repo>.git). */
  url: string;
  /** The API's base URL (GitHub: the site; Gitea: <url>/api/v1). */
  apiUrl: string;
  caPem?: string;
  requests: ApiRequestRecord[];
  mutatingRequests(): { method: string; path: string; status: number; token: string | null }[];
  repo(owner: string, name: string): RepoView | undefined;
  /** The kind's own sandbox, for what only it does (rate limits, throttling). */
  github?: GitHubSandbox;
  gitea?: GiteaSandbox;
  close(): Promise<void>;
}

export async function startHostedForge(
  kind: ForgeKind,
  opts: HostedForgeOptions,
): Promise<HostedForge> {
  const common = {
    users: opts.users,
    orgs: opts.orgs,
    tokens: opts.tokens,
    tls: opts.tls,
    ...servedBySshd(opts.sshd),
  };
  const paging = opts.perPage ? { default: opts.perPage, max: opts.perPage } : undefined;
  if (kind === "github") {
    const gh = await startGitHubSandbox({ ...common, perPage: paging });
    return { kind, apiUrl: gh.url, ...view(gh), github: gh };
  }
  const gt = await startGiteaSandbox({ ...common, paging });
  return { kind, apiUrl: gt.apiUrl, ...view(gt), gitea: gt };
}

/**
 * A forge sandbox's options that serve its repositories through the sandbox sshd (its root, its
 * SSH clone links, each deploy key told to it); none without one.
 */
export function servedBySshd(sshd: SshdServer | undefined): {
  gitRoot?: string;
  sshCloneBase?: string;
  accessKeys?: AccessKeyHooks;
} {
  if (!sshd) return {};
  return {
    gitRoot: sshd.root,
    sshCloneBase: `ssh://git@127.0.0.1:${sshd.port}`,
    accessKeys: {
      authorize: (key, o) => sshd.authorize(key, o),
      revoke: (key) => sshd.revoke(key),
    },
  };
}

function view(s: GitHubSandbox | GiteaSandbox) {
  return {
    url: s.url,
    caPem: s.caPem,
    requests: s.requests,
    mutatingRequests: () => s.mutatingRequests(),
    repo: (o: string, n: string) => s.repo(o, n),
    close: () => s.close(),
  };
}
