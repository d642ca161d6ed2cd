/**
 * The live side of a run, kept from observe to apply: each repository's clone, git remote and
 * provider session, each cluster's Kubernetes client. The plan is data; this is what carries it
 * out. Closing it closes every connection and removes the clones.
 */
import type { ClusterConfig } from "../config/types.ts";
import type { RemoteAccess, RepoRemote } from "../git/remote.ts";
import type { RepoCheckout } from "../git/types.ts";
import { forgetReadCache } from "../git/checkout.ts";
import { parseSshUrl } from "../git/ssh_url.ts";
import { repositoryKey } from "../git/url.ts";
import type { KubeClient } from "../kube/client.ts";
import type { ProviderSession, RepositoryFacts } from "../providers/types.ts";
import type { RetryPolicy } from "../util/retry.ts";
import type { Credentials } from "./credentials.ts";
import { observedRetry } from "./deadline.ts";
import { type HostKeyLearner, type KnownHosts, sharedHostKeys } from "./host_keys.ts";
import { type Connectors, connectors, type RunOptions } from "./options.ts";

/** One repository (and branch) of the run, shared by the clusters that use it. */
export interface RepoSession {
  key: string;
  /** Where it is fetched and pushed: the first cluster's URL, or the provider's link. */
  url: string;
  branch: string;
  /**
   * Every branch the manifest's clusters sync from this repository, selected for this run or
   * not (a provider reconciles its default branch only when they agree).
   */
  branches: string[];
  /** The first cluster using the repository: its credentials fetch and push. */
  owner: ClusterConfig;
  creds: Credentials;
  clusters: string[];
  provider?: ProviderSession;
  /** What the provider observed (its links; whether the repository exists). */
  facts?: RepositoryFacts;
  remote?: RepoRemote;
  /** SSH: the git server's host key, learnt when the remote was opened. */
  knownHosts?: KnownHosts;
  /** Learns a git server's host key once per run (shared by every repository and cluster). */
  hostKeys: HostKeyLearner;
  checkout?: RepoCheckout;
  /** It could not be observed: its clusters are not planned. */
  error?: string;
  /** Aborted when the repository's fetch or push ran out of time: no retry starts after it. */
  deadline?: AbortSignal;
  /** Settles when the repository is observed (or could not be): its clusters' files wait for it. */
  observed?: Promise<void>;
  /** How many of `clusters` are planned: after the last, what only planning needed is released. */
  planned: number;
  /**
   * The first session of the same repository on another branch: its provider session (observed
   * once) and its repository steps (create, visibility, grants) are this one's too.
   */
  lead?: RepoSession;
  /** The sessions whose lead this is (other branches of the same repository). */
  followers: RepoSession[];
  /** Its provider session observed (or rejects with why not): its followers wait for it. */
  providerObserved?: Promise<{ provider?: ProviderSession; facts: RepositoryFacts }>;
  /** Released after planning (releaseRepository). */
  released?: boolean;
}

/** One cluster of the run. */
export interface ClusterSession {
  config: ClusterConfig;
  creds: Credentials;
  repo: RepoSession;
  client?: KubeClient;
  /** Aborted when the cluster ran out of time in this stage: no retry starts after it. */
  deadline?: AbortSignal;
}

export interface FleetSession {
  repos: RepoSession[];
  clusters: Map<string, ClusterSession>;
  /** Where the repositories are cloned (removed by close). */
  workspace: string;
  connect: Connectors;
  close(): Promise<void>;
}

/**
 * One session per repository however its clusters spell its URL (lib/git/url.ts) and branch; the
 * branches of one repository share its provider session (the first branch's is their lead).
 */
export async function openSession(
  clusters: ClusterConfig[],
  creds: Map<string, Credentials>,
  opts: RunOptions,
  /** The manifest's clusters, all of them (a --cluster, --selector or --shard run selects some). */
  all: ClusterConfig[] = clusters,
): Promise<FleetSession> {
  const repos = new Map<string, RepoSession>();
  const sessions = new Map<string, ClusterSession>();
  const leads = new Map<string, RepoSession>();
  const hostKeys = sharedHostKeys();
  // Every branch the manifest syncs from each repository, found in one pass (not one pass over
  // the manifest per repository: 100 repositories of 1,000 clusters made 200,000 key readings).
  const branchesOf = new Map<string, Set<string>>();
  for (const o of all) {
    const identity = repositoryKey(o.git.url);
    let found = branchesOf.get(identity);
    if (!found) branchesOf.set(identity, found = new Set());
    found.add(o.git.branch);
  }
  for (const c of clusters) {
    const identity = repositoryKey(c.git.url);
    const key = `${identity}#${c.git.branch}`;
    let repo = repos.get(key);
    if (!repo) {
      repo = {
        key,
        url: c.git.url,
        branch: c.git.branch,
        branches: [...branchesOf.get(identity) ?? []],
        owner: c,
        creds: creds.get(c.name)!,
        clusters: [],
        planned: 0,
        followers: [],
        hostKeys,
      };
      const lead = leads.get(identity);
      if (lead) {
        repo.lead = lead;
        lead.followers.push(repo);
      } else leads.set(identity, repo);
      repos.set(key, repo);
    }
    repo.clusters.push(c.name);
    sessions.set(c.name, { config: c, creds: creds.get(c.name)!, repo });
  }
  const workspace = await Deno.makeTempDir({ prefix: "fluxfleet-" });
  return {
    repos: [...repos.values()],
    clusters: sessions,
    workspace,
    connect: connectors(opts),
    async close() {
      for (const s of sessions.values()) s.client?.close();
      for (const r of repos.values()) if (!r.lead) r.provider?.close();
      for (const r of repos.values()) await r.remote?.close().catch(() => {});
      await Deno.remove(workspace, { recursive: true }).catch(() => {});
    },
  };
}

/**
 * The session that carries the repository's own provider steps (create, visibility, grants) for
 * all its branches: the first that could be observed. Known once they all are (`observed`).
 */
export function repositorySteward(r: RepoSession): RepoSession | undefined {
  const lead = r.lead ?? r;
  return [lead, ...lead.followers].find((x) => x.error === undefined);
}

/** Settles when every branch of the session's repository is observed (or could not be). */
export async function repositoryObserved(r: RepoSession): Promise<void> {
  const lead = r.lead ?? r;
  await Promise.all([lead, ...lead.followers].map((x) => x.observed));
}

/**
 * Once the last of the repository's clusters is planned: the objects read from its commit are
 * dropped, and when the run only plans (`RunOptions.planOnly`) its checkout is removed and its
 * connections closed at once, rather than held until the whole fleet is planned.
 */
export async function releaseRepository(r: RepoSession, planOnly: boolean): Promise<void> {
  if (r.checkout) await forgetReadCache(r.checkout);
  if (!planOnly) return;
  const co = r.checkout;
  const remote = r.remote;
  const provider = r.provider;
  r.checkout = undefined;
  r.remote = undefined;
  r.provider = undefined;
  r.released = true;
  // The provider session is shared by the repository's branches: closed once all are released.
  const lead = r.lead ?? r;
  if ([lead, ...lead.followers].every((x) => x.released)) provider?.close();
  await remote?.close().catch(() => {});
  // A checkout in memory (RepoCheckout.fs) goes with the last reference to it.
  if (co && !co.fs && !co.reader) await Deno.remove(co.dir, { recursive: true }).catch(() => {});
}

/** The git-level access to a repository: its URL, the credentials, known hosts, transport, signer. */
export function remoteAccess(
  c: ClusterConfig,
  creds: Credentials,
  url: string,
  knownHosts: string | undefined,
): RemoteAccess {
  return {
    url,
    credentials: creds.kind === "token"
      ? {
        kind: "token",
        username: creds.username,
        token: creds.token,
        ...(creds.caPem ? { caPem: creds.caPem } : {}),
      }
      : { kind: "ssh", privateKey: creds.keyText, passphrase: creds.passphrase },
    knownHosts,
    hostKeyAlgorithms: c.git.hostKeyAlgorithms,
    transport: c.git.transport,
    allowInsecureHttp: c.git.allowInsecureHttp,
    signer: creds.signer,
  };
}

/**
 * How a repository's remote is opened: the run's per-request timeout, and its retries shown on
 * the lines of every cluster using the repository (none starts after the repository's deadline).
 */
function remoteOptions(r: RepoSession, opts: RunOptions) {
  return {
    timeoutMs: opts.timeoutMs ?? 60_000,
    maxResponseBytes: opts.limits?.gitPack,
    deadline: () => r.deadline,
    retry: observedRetry(opts.retry, (m) => {
      for (const c of r.clusters) opts.onEvent?.(c, m);
    }, () => r.deadline),
  };
}

/**
 * Opens the repository's git remote (its owner's credentials); over SSH the server's host key is
 * learnt first, and kept: the cluster's known_hosts is the same.
 */
export async function openRepoRemote(
  r: RepoSession,
  connect: Connectors,
  opts: RunOptions,
): Promise<RepoRemote> {
  const options = remoteOptions(r, opts);
  if (r.creds.kind === "ssh") {
    const target = parseSshUrl(r.url);
    r.knownHosts = await r.hostKeys(r.owner.git, target.host, target.port, options.timeoutMs);
  }
  return connect.openRemote(
    remoteAccess(r.owner, r.creds, r.url, r.knownHosts?.text),
    options,
  );
}

/** The cluster's own retries (Kubernetes API), shown on its line; none after its deadline. */
export function clusterRetry(s: ClusterSession, opts: RunOptions): RetryPolicy {
  return observedRetry(opts.retry, (m) => opts.onEvent?.(s.config.name, m), () => s.deadline);
}
