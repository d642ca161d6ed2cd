/**
 * Observe, before anything is planned: each repository's provider side and its shallow fetch, and
 * at the same time each cluster — its Flux objects first (they need nothing from git), then, once
 * its repository is fetched, the source secret's data (host keys scanned or pinned, a generated
 * key read from the secret and whether the repository accepts it) and the files in the
 * repository. Everything a plan is made from; nothing is changed.
 */
import type { ClusterConfig } from "../config/types.ts";
import { clusterRepoUrl, sshSecretData, tokenSecretData } from "../plan/desired.ts";
import { findHostKeys } from "../keys/known_hosts.ts";
import { parseSshUrl } from "../git/ssh_url.ts";
import { emptyCheckout, readRepoFiles } from "../git/checkout.ts";
import type { RepoCheckout } from "../git/types.ts";
import type {
  ClusterKey,
  ClusterTargets,
  KeyCheckTarget,
  ObservedCluster,
  ObservedRepo,
} from "../plan/types.ts";
import { generatedKeyKind, type KeyAcceptance } from "../plan/cluster_key.ts";
import type { ProviderSession, RepositoryFacts } from "../providers/types.ts";
import { observeCluster as observeKube } from "../kube/observe.ts";
import { mapLimit } from "../util/pool.ts";
import { errorMessage } from "../util/redact.ts";
import { withDeadline } from "./deadline.ts";
import { checkClusterKey, readClusterKey } from "./cluster_key.ts";
import type { RunOptions } from "./options.ts";
import {
  clusterRetry,
  type ClusterSession,
  type FleetSession,
  openRepoRemote,
  type RepoSession,
} from "./session.ts";

/** What a repository's lead hands its other branches once its provider session observed it. */
type ProviderObserved = { provider?: ProviderSession; facts: RepositoryFacts };

/**
 * Observes every repository, `concurrency` at a time, in the order of their first clusters; each
 * one's `observed` settles when it is done. A repository that cannot be observed keeps its error
 * (`error`): its clusters are not planned. The returned promise never rejects.
 */
export function observeRepositories(session: FleetSession, opts: RunOptions): Promise<void> {
  const settle = new Map<RepoSession, () => void>();
  for (const r of session.repos) {
    r.observed = new Promise((resolve) => settle.set(r, resolve));
  }
  const provided = new Map<RepoSession, PromiseWithResolvers<ProviderObserved>>();
  for (const r of session.repos.filter((x) => x.followers.length > 0)) {
    const p = Promise.withResolvers<ProviderObserved>();
    // Its followers take the error from it; the lead reports it itself.
    p.promise.catch(() => {});
    r.providerObserved = p.promise;
    provided.set(r, p);
  }
  return mapLimit(session.repos, opts.concurrency, async (r, i) => {
    const tracker = { phase: `fetching ${r.url}` };
    for (const c of r.clusters) opts.onEvent?.(c, `fetching ${r.url} (${r.branch})`);
    try {
      await withDeadline(opts.clusterTimeoutMs, tracker, async (deadline) => {
        r.deadline = deadline;
        await observeRepository(
          r,
          `${session.workspace}/repo-${i}`,
          session,
          opts,
          provided.get(r),
        );
      });
    } catch (e) {
      r.error = errorMessage(e);
      provided.get(r)?.reject(e);
    } finally {
      settle.get(r)!();
    }
  }).then(() => {});
}

/** The provider's side first (the repository may not exist yet), then the shallow fetch. */
export async function observeRepository(
  r: RepoSession,
  dir: string,
  session: FleetSession,
  opts: RunOptions,
  provided?: PromiseWithResolvers<ProviderObserved>,
): Promise<void> {
  if (r.lead) {
    // Another branch of a repository its lead observes: one provider session per repository.
    const lead = await r.lead.providerObserved!;
    r.provider = lead.provider;
    r.facts = lead.facts;
  } else {
    r.facts = await observeProvider(r, session, opts);
    provided?.resolve({ provider: r.provider, facts: r.facts });
  }
  // A run that only plans reads three blobs per cluster from the commit and writes nothing: its
  // checkouts stay in memory (lib/git/memory_fs.ts). One that may apply fetches to disk.
  const inMemory = opts.planOnly === true;
  if (!r.facts.exists) {
    // Created by apply before the first push; until then it is an empty repository.
    r.checkout = await emptyCheckout(dir, r.branch, r.facts.httpUrl ?? r.url, inMemory);
    return;
  }
  if (r.facts.httpUrl) r.url = r.facts.httpUrl;
  r.remote = await openRepoRemote(r, session.connect, opts);
  r.checkout = await r.remote.checkout(r.branch, dir, { inMemory });
}

/** The repository's provider session, opened with its first cluster's settings, and observed. */
function observeProvider(
  r: RepoSession,
  session: FleetSession,
  opts: RunOptions,
): Promise<RepositoryFacts> {
  const onWait = (message: string) => {
    for (const x of [r, ...r.followers]) for (const c of x.clusters) opts.onEvent?.(c, message);
  };
  r.provider = session.connect.openProvider(r.owner.git.provider, {
    token: r.creds.kind === "token" ? r.creds.token : "",
    allowInsecureHttp: r.owner.git.allowInsecureHttp,
    timeoutMs: opts.timeoutMs,
    attempts: opts.retry?.attempts,
    ...(r.creds.kind === "token" && r.creds.caPem ? { caPem: r.creds.caPem } : {}),
    branches: r.branches,
    onWait,
    // The repository's deadline of the stage it is in (observe, then apply's repository phase).
    deadline: () => r.deadline,
  });
  return r.provider.observe();
}

/**
 * The cluster's settings with the repository's URLs as its provider gave them (its links, or their
 * convention before the repository exists); unchanged for a provider without an API.
 */
export function withProviderUrls(
  c: ClusterConfig,
  facts: RepositoryFacts | undefined,
): ClusterConfig {
  if (!facts?.httpUrl) return c;
  const git = { ...c.git, url: facts.httpUrl };
  if (git.clusterSsh && facts.sshUrl && git.clusterSsh.clusterUrl === undefined) {
    git.clusterSsh = { ...git.clusterSsh, clusterUrl: facts.sshUrl };
  }
  return { ...c, git };
}

/** Where the repository is asked whether it accepts the cluster's generated key. */
export function keyTarget(c: ClusterConfig): KeyCheckTarget {
  return { url: clusterRepoUrl(c), hostKeyAlgorithms: c.git.hostKeyAlgorithms };
}

/** What observing one cluster showed: everything its plan is made from. */
export interface ClusterObservation {
  /** Its settings with the repository's URLs from the provider. */
  config: ClusterConfig;
  cluster: ObservedCluster;
  repo: ObservedRepo;
  /** The source secret's data for the cluster's auth mode (flux2 pkg/manifestgen/sourcesecret). */
  secretData: Record<string, string>;
  /** Generated-key mode: the key the secret holds; absent when apply generates one. */
  key?: ClusterKey;
  /** Generated-key mode without a key (or rotated): apply generates one of this kind. */
  generateAtApply?: string;
  /** The provider issues the cluster's credentials at apply (none valid held, or rotated). */
  issueAtApply?: string;
  /** Whether the repository accepts `key` (an SSH handshake, or the provider's key list). */
  acceptance?: KeyAcceptance;
  /** known_hosts learnt by a scan (trust on first use), said when the secret is written. */
  scanNote?: string;
  /** A branch that does not exist yet: where apply starts it. */
  branchNote?: string;
}

/** Where a branch that does not exist yet will start, as the plan says it. */
function newBranchNote(co: RepoCheckout): string | undefined {
  if (co.branchExists || co.startsFrom === undefined) return undefined;
  return co.startsFrom === null
    ? `branch ${co.branch} does not exist, and the remote's HEAD names no existing branch: apply starts it without history`
    : `branch ${co.branch} does not exist yet: apply creates it from ${co.startsFrom}`;
}

/**
 * The cluster's own side: its Kubernetes client and what it has of Flux. It needs nothing from
 * git, so it runs while the cluster's repository is still being fetched.
 */
export async function observeClusterApi(
  s: ClusterSession,
  targets: ClusterTargets,
  connect: FleetSession["connect"],
  opts: RunOptions,
): Promise<ObservedCluster> {
  s.client = await connect.kubeClient(s.config.kube, {
    retry: clusterRetry(s, opts),
    timeoutMs: opts.timeoutMs,
    deadline: () => s.deadline,
    maxResponseBytes: opts.limits?.kubeResponse,
  });
  return await observeKube(s.client, targets);
}

/**
 * The rest, once the cluster's repository is observed: the source secret's data (host keys, a
 * generated key and whether the repository accepts it) and the cluster's files in the repository.
 */
export async function observeClusterRepo(
  s: ClusterSession,
  cluster: ObservedCluster,
  targets: ClusterTargets,
  files: string[],
  rotate: boolean,
  opts: RunOptions,
): Promise<ClusterObservation> {
  const config = withProviderUrls(s.config, s.repo.facts);
  const secret = await secretData(s, config, cluster, targets, rotate, opts);
  const co = s.repo.checkout!;
  const repo: ObservedRepo = {
    branchExists: co.branchExists,
    head: co.head,
    files: await readRepoFiles(co, files),
  };
  const branchNote = newBranchNote(co);
  let acceptance: KeyAcceptance | undefined;
  if (secret.key) {
    const provider = s.repo.provider;
    acceptance = provider?.registersKeys
      ? provider.keyRegistered(secret.key.publicKey)
        ? { accepted: true }
        : { accepted: false, reason: "not registered as a repository access key" }
      : await checkClusterKey(keyTarget(config), secret.key, opts.timeoutMs);
  }
  return {
    config,
    cluster,
    repo,
    ...secret,
    ...(acceptance ? { acceptance } : {}),
    ...(branchNote ? { branchNote } : {}),
  };
}

/**
 * The source secret's data for the cluster's auth mode (flux2 pkg/manifestgen/sourcesecret). In
 * generated-key mode, `key` is the key the secret holds; without one (or on rotation) apply
 * generates one, of the kind `generateAtApply`.
 */
async function secretData(
  s: ClusterSession,
  c: ClusterConfig,
  observed: ObservedCluster,
  targets: ClusterTargets,
  rotate: boolean,
  opts: RunOptions,
): Promise<
  Pick<ClusterObservation, "secretData" | "key" | "generateAtApply" | "issueAtApply" | "scanNote">
> {
  if (s.creds.kind === "token" && c.git.issuedCredentials) {
    // The provider's credentials, never the push token: kept while the provider still lists
    // them, issued anew at apply otherwise (or on rotation).
    const held = observed.secret;
    const valid = !rotate && held?.username && held.password &&
      s.repo.provider?.credentialsValid?.(held.username) === true;
    return valid ? { secretData: tokenSecretData(held.username, held.password, s.creds.caPem) } : {
      secretData: s.creds.caPem ? { caFile: s.creds.caPem } : {},
      issueAtApply: c.git.issuedCredentials,
    };
  }
  if (s.creds.kind === "token" && !c.git.clusterSsh) {
    return { secretData: tokenSecretData(s.creds.username, s.creds.token, s.creds.caPem) };
  }
  const url = c.git.clusterSsh?.clusterUrl ?? c.git.url;
  const target = parseSshUrl(url);
  const known = s.creds.kind === "ssh" && s.repo.knownHosts
    ? s.repo.knownHosts
    : await s.repo.hostKeys(c.git, target.host, target.port, opts.timeoutMs);
  let scanNote: string | undefined;
  if (known.scanned) {
    const { name, key } = known.scanned;
    // After the first bootstrap the cluster's known_hosts pins the key: a different one now is
    // refused rather than silently trusted.
    const pinned = observed.secret?.known_hosts
      ? findHostKeys(observed.secret.known_hosts, target.host, target.port)
      : [];
    if (pinned.length > 0 && !pinned.some((k) => k.base64 === key.base64)) {
      throw new Error(
        `host key of ${name} changed: the cluster's known_hosts has ${
          pinned.map((k) => k.fingerprint).join(", ")
        }, ` +
          `the server now presents ${key.type} ${key.fingerprint}; if this is expected, pin the new key with git.knownHosts`,
      );
    }
    scanNote =
      `known_hosts for ${name} from a scan (trust on first use): ${key.type} ${key.fingerprint}; ` +
      "compare it with the server's published fingerprint, or pin it with git.knownHosts";
  }
  const note = scanNote ? { scanNote } : {};
  if (s.creds.kind === "ssh") {
    return {
      secretData: sshSecretData(
        s.creds.keyText,
        s.creds.parsed.publicKey,
        known.text,
        s.creds.passphrase,
      ),
      ...note,
    };
  }
  // Generated-key mode: the key is made once, by apply, and kept in the cluster; `rotate`
  // replaces it. A plan never makes one: a key that does not exist is not shown.
  const identity = observed.secret?.identity;
  if (!identity || rotate) {
    return {
      secretData: { known_hosts: known.text },
      generateAtApply: generatedKeyKind(c.git.clusterSsh!.key),
      ...note,
    };
  }
  const { namespace, name } = targets.secret;
  const key = await readClusterKey(identity, known.text, `${namespace}/${name}`);
  // identity.pub is informational (flux stores it): kept as the secret has it when present.
  const publicKey = observed.secret?.["identity.pub"] ?? key.publicKey;
  return { secretData: sshSecretData(identity, publicKey, known.text), key, ...note };
}
