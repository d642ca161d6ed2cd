/**
 * The hosted providers a bench fleet can be built on (`--provider github|gitea|gitlab`): the
 * GitHub, Gitea or GitLab API sandbox on 127.0.0.1, its repositories real bare repositories served
 * by a sandbox sshd of its own (each deploy key scoped to its repository there, as the Flux
 * stand-in reads them over SSH), and what the manifest's `git:` says to use it. Each sandbox
 * records every API request it answers (server side): the bench counts those, never the client.
 */
import { startHostedForge } from "../../sandbox/forges.ts";
import { startGitLabSandbox } from "../../sandbox/gitlab/server.ts";
import { startSshd } from "../../sandbox/ssh/sshd.ts";

export type HostedKind = "github" | "gitea" | "gitlab";
export const HOSTED_KINDS: readonly HostedKind[] = ["github", "gitea", "gitlab"];

/** One API request as the sandbox recorded it. */
export interface ApiCall {
  method: string;
  /** Path and query as received (GitLab redacts a private_token query). */
  path: string;
  status: number;
}

export interface ProviderSite {
  kind: HostedKind;
  /** `defaults.git` lines (unindented); `teams`: every repository also grants the team `ops`. */
  gitLines(teams: boolean): string[];
  /** A cluster's own `git:` line naming its repository. */
  clusterGit(repo: string): string;
  /** Every API request the sandbox answered so far, in arrival order. */
  calls(): readonly ApiCall[];
  /** The repository a request is about, from its path; undefined for run-level requests. */
  repoOfPath(path: string): string | undefined;
  /** The main branch's commit of each repository (null: none), read from the bare repository. */
  heads(repos: string[]): Promise<(string | null)[]>;
  /** Connections the site's sshd accepted so far (a host-key scan is one), from its own log. */
  sshConnections(): number;
  close(): Promise<void>;
}

const OWNER = "acme";
const TEAM = "ops";

/** The last segment of a URL-encoded GitLab project path ("acme%2Ffleet-00" → "fleet-00"). */
function gitlabProject(segment: string): string | undefined {
  try {
    const full = decodeURIComponent(segment);
    // A numeric id names no project by its path: counted with the run-level requests.
    return /^\d+$/.test(full) ? undefined : full.split("/").at(-1);
  } catch {
    return undefined;
  }
}

/**
 * Starts the sandbox of `kind` with one user `bench` (token `token`, which the manifest reads from
 * GIT_PASSWORD), owner of the organization or group `acme`, and a team/group `ops`.
 */
export async function startProviderSite(
  kind: HostedKind,
  token: string,
): Promise<ProviderSite> {
  const sshd = await startSshd({ hostKeyTypes: ["ed25519"] });
  const common = (apiUrl: string) => [
    `provider: ${kind}`,
    `allowInsecureHttp: true   # the ${kind} sandbox is plain http on 127.0.0.1`,
    // Before a repository exists its SSH address is not known: flux's --ssh-hostname.
    `sshHostname: "127.0.0.1:${sshd.port}"`,
    "sshKey: { algorithm: ed25519 }",
    `${kind}: { apiUrl: "${apiUrl}", owner: ${OWNER}, token: { env: GIT_PASSWORD } }`,
  ];
  const heads = (repos: string[]) =>
    Promise.all(repos.map((r) => sshd.headSha(`${OWNER}/${r}`, "main")));
  const withTeams = (lines: string[], teams: boolean) =>
    teams ? lines.map((l) => l.replace(/ token: \{/, ` teams: [${TEAM}], token: {`)) : lines;
  try {
    if (kind === "gitlab") {
      // fluxfleet reads and pushes over HTTP with the token (http_url_to_repo, served by the
      // sandbox on its API's origin as GitLab does), the clusters over SSH with their deploy keys.
      const sandbox = await startGitLabSandbox({
        users: [{ username: "bench", tokens: [{ token, name: "bench" }] }],
        groups: [
          { path: OWNER, members: { bench: 50 } },
          { path: TEAM, members: { bench: 30 } },
        ],
        gitRoot: sshd.root,
        sshCloneBase: `ssh://git@127.0.0.1:${sshd.port}`,
        accessKeys: {
          authorize: (key, o) => sshd.authorize(key, { repos: o.repos }),
          revoke: (key) => sshd.revoke(key),
        },
      });
      return {
        kind,
        gitLines: (teams) => withTeams(common(sandbox.url), teams),
        clusterGit: (repo) => `gitlab: { repository: ${repo} }`,
        calls: () => sandbox.requests,
        heads,
        sshConnections: () => sshd.connections(),
        repoOfPath: (path) => {
          const m = /^\/api\/v4\/projects\/([^/?]+)/.exec(path);
          return m ? gitlabProject(m[1]) : undefined;
        },
        async close() {
          await sandbox.close();
          await sshd.stop();
        },
      };
    }
    const forge = await startHostedForge(kind, {
      users: ["bench"],
      orgs: [{ login: OWNER, owners: ["bench"], teams: [{ slug: TEAM }] }],
      tokens: [{ token, user: "bench" }],
      sshd,
    });
    const repoPath = kind === "github"
      ? /^\/repos\/[^/]+\/([^/?]+)/
      : /^\/api\/v1\/repos\/[^/]+\/([^/?]+)/;
    return {
      kind,
      gitLines: (teams) => withTeams(common(forge.apiUrl), teams),
      clusterGit: (repo) => `${kind}: { repository: ${repo} }`,
      calls: () => forge.requests,
      heads,
      sshConnections: () => sshd.connections(),
      repoOfPath: (path) => repoPath.exec(path)?.[1],
      async close() {
        await forge.close();
        await sshd.stop();
      },
    };
  } catch (e) {
    await sshd.stop();
    throw e;
  }
}
