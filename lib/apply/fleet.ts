/**
 * Orchestration for a whole manifest: resolve secrets (before any contact), observe repositories
 * and clusters with bounded concurrency, plan each cluster (pure), then apply: one commit per
 * repository, then the cluster steps, then the health wait.
 */
import { dirname, join } from "node:path";
import type { ClusterConfig, Manifest } from "../config/types.ts";
import type { SecretSource } from "../config/secrets.ts";
import {
  type Components,
  componentsFor,
  desiredCluster,
  installOptions,
  sshSecretData,
  tokenSecretData,
} from "../plan/desired.ts";
import {
  type Credentials,
  learnHostKeys,
  openRemote,
  type RepoRemote,
  resolveCredentials,
  sshKeyAccepted,
} from "./credentials.ts";
import { findHostKeys } from "../keys/known_hosts.ts";
import { generateKeyPair } from "../keys/generate.ts";
import { parseSshUrl } from "../git/ssh_url.ts";
import { registerSecret } from "../util/redact.ts";
import { planCluster } from "../plan/plan.ts";
import { observedDigest } from "../plan/digest.ts";
import type {
  ClusterPlan,
  DesiredCluster,
  ObservedCluster,
  ObservedRepo,
  Step,
} from "../plan/types.ts";
import {
  type DestroyOptions,
  type DestroyPlan,
  type DestroyStep,
  planDestroy,
} from "../plan/destroy.ts";
import { destroyClusterStep } from "../kube/destroy.ts";
import { emptyCheckout, readRepoFiles, type RepoCheckout, setRemoteUrl } from "../git/repo.ts";
import {
  applyAccessKey,
  applyRepositorySteps,
  type BitbucketState,
  bitbucketUrls,
  observeBitbucket,
} from "./bitbucket.ts";
import { accessKeyLabel, planAccessKey } from "../plan/provider.ts";
import { createKubeClient, type KubeClient, loadKubeConfig } from "../kube/client.ts";
import { observeCluster } from "../kube/observe.ts";
import { applyClusterStep, waitForSync } from "../kube/apply.ts";
import { loadInstallManifest } from "../manifests/source.ts";
import { kustomizeBuild } from "../manifests/kustomize.ts";
import { mapLimit } from "../util/pool.ts";
import type { RetryPolicy } from "../util/retry.ts";
import { errorMessage } from "../util/redact.ts";

export interface RunOptions {
  concurrency: number;
  secrets: SecretSource;
  /** Progress messages per cluster (the printer redacts them). */
  onEvent?(cluster: string, message: string): void;
  gitTimeoutMs?: number;
  /** Aborted on Ctrl-C: no new step starts, steps in flight finish and are reported. */
  signal?: AbortSignal;
  /** Stop starting new work as soon as one cluster fails. */
  failFast?: boolean;
  /** Take over Flux CRDs that another tool manages. */
  force?: boolean;
  /** Clusters whose credentials are replaced on purpose (`--rotate NAME`). */
  rotate?: string[];
  /** Retries of transient faults (git and Kubernetes API). */
  retry?: RetryPolicy;
}

function checkInterrupted(signal: AbortSignal | undefined, before: string) {
  if (signal?.aborted) throw new Error(`interrupted before ${before}; re-run to continue`);
}

interface RepoGroup {
  key: string;
  url: string;
  branch: string;
  /** The first cluster using the repository: its credentials fetch and push. */
  owner: ClusterConfig;
  creds: Credentials;
  remote?: RepoRemote;
  author: { name: string; email: string };
  appendix?: string;
  version: string;
  checkout?: RepoCheckout;
  error?: string;
  clusters: string[];
  /** provider: bitbucket-server: what the API showed, and the provider client. */
  bitbucket?: BitbucketState;
}

interface ClusterState {
  config: ClusterConfig;
  creds: Credentials;
  desired: DesiredCluster;
  repo: RepoGroup;
  client?: KubeClient;
  observed?: { repo: ObservedRepo; cluster: ObservedCluster };
  components: Components;
  /** The repository's kustomization.yaml is the user's own (patches): build it to install. */
  customKustomization?: boolean;
  /** Generated-key mode: checked before the cluster is pointed at the key. */
  keyCheck?: { url: string; identity: string; publicKey: string; knownHosts: string };
}

export interface ClusterResult {
  cluster: string;
  /** skipped: not started because another cluster failed under --fail-fast. */
  outcome: "unchanged" | "changed" | "failed" | "skipped";
  applied: Step[];
  error?: string;
  revision?: string;
}

export interface DestroyResult {
  cluster: string;
  outcome: "destroyed" | "unchanged" | "failed";
  done: DestroyStep[];
  error?: string;
}

export interface FleetRun {
  plans: ClusterPlan[];
  /** Carries out the plans just made (same observations, same clones). */
  apply(): Promise<ClusterResult[]>;
  /** Uninstall plans from the same observations. */
  destroyPlans(opts: DestroyOptions): DestroyPlan[];
  destroy(plans: DestroyPlan[]): Promise<DestroyResult[]>;
  /** Closes connections and removes the temporary clones. */
  close(): Promise<void>;
}

export async function planFleet(
  manifest: Manifest,
  clusters: ClusterConfig[],
  opts: RunOptions,
): Promise<FleetRun> {
  const baseDir = dirname(manifest.file);
  // Secrets first: a missing variable, unreadable file or wrong passphrase stops the run before
  // anything is contacted.
  const creds = new Map<string, Credentials>();
  for (const c of clusters) {
    creds.set(c.name, await resolveCredentials(c, baseDir, opts.secrets));
    // The kubeconfig and its context are local files: check them before any contact too.
    try {
      loadKubeConfig(c.kube);
    } catch (e) {
      throw new Error(`cluster "${c.name}": ${(e as Error).message}`);
    }
  }
  // Components are the same for every cluster with the same release and install options.
  const installCache = new Map<string, Promise<string>>();
  const componentsCache = new Map<string, Components>();
  const components = async (c: ClusterConfig) => {
    const src = c.flux.manifests;
    if (!installCache.has(src)) {
      installCache.set(src, loadInstallManifest({ source: src, sha256: c.flux.manifestsSha256 }));
    }
    const options = installOptions(c);
    const key = JSON.stringify([src, options]);
    if (!componentsCache.has(key)) {
      componentsCache.set(key, componentsFor(await installCache.get(src)!, options));
    }
    return componentsCache.get(key)!;
  };
  const states = new Map<string, ClusterState>();
  const groups = new Map<string, RepoGroup>();
  for (const c of clusters) {
    const key = `${c.git.url}#${c.git.branch}`;
    let group = groups.get(key);
    if (!group) {
      group = {
        key,
        url: c.git.url,
        branch: c.git.branch,
        owner: c,
        creds: creds.get(c.name)!,
        author: c.git.author,
        appendix: c.git.commitMessageAppendix,
        version: c.flux.version,
        clusters: [],
      };
      groups.set(key, group);
    }
    group.clusters.push(c.name);
    // Secret data is filled in once the cluster and host keys are observed.
    const rotate = c.rotate || (opts.rotate ?? []).includes(c.name);
    const desired = { ...desiredCluster(c, await components(c), {}), force: opts.force, rotate };
    states.set(c.name, {
      config: c,
      creds: creds.get(c.name)!,
      desired,
      repo: group,
      components: await components(c),
    });
  }

  const workspace = await Deno.makeTempDir({ prefix: "fluxfleet-" });
  const close = async () => {
    for (const s of states.values()) s.client?.close();
    for (const g of groups.values()) g.bitbucket?.provider.close();
    for (const g of groups.values()) await g.remote?.close().catch(() => {});
    await Deno.remove(workspace, { recursive: true }).catch(() => {});
  };
  try {
    // One shallow fetch per repository, shared by every cluster that uses it.
    await mapLimit([...groups.values()], opts.concurrency, async (g, i) => {
      try {
        const dir = `${workspace}/repo-${i}`;
        if (g.owner.git.bitbucket && g.creds.kind === "token") {
          g.bitbucket = await observeBitbucket(g.owner, g.creds.token);
          if (!g.bitbucket.repo) {
            // Created by apply before the first push; until then it is an empty repository.
            g.checkout = await emptyCheckout(
              dir,
              g.branch,
              bitbucketUrls(g.bitbucket.config, undefined).http,
            );
            return;
          }
          g.url = g.bitbucket.repo.httpCloneUrl;
        }
        g.remote = await openRemote(withUrl(g.owner, g.url), g.creds, {
          timeoutMs: opts.gitTimeoutMs ?? 60_000,
        });
        g.checkout = await g.remote.checkout(g.branch, dir);
      } catch (e) {
        g.error = errorMessage(e);
      }
    });
    const plans = await mapLimit(
      [...states.values()],
      opts.concurrency,
      (s) => observeAndPlan(s, opts),
    );
    return {
      plans,
      close,
      apply: () => applyFleet(plans, states, groups, opts),
      destroyPlans: (o) =>
        plans.map((p) => {
          const st = states.get(p.cluster)!;
          return p.error || !st.observed
            ? { cluster: p.cluster, steps: [], error: p.error ?? "not observed" }
            : planDestroy(st.desired, st.observed.repo, st.observed.cluster, o);
        }),
      destroy: (d) => destroyFleet(d, states, groups, opts),
    };
  } catch (e) {
    await close();
    throw e;
  }
}

function withUrl(c: ClusterConfig, url: string): ClusterConfig {
  return { ...c, git: { ...c.git, url } };
}

/**
 * Bitbucket: the URLs come from the API (or its conventions before the repository exists), so
 * the cluster's config and desired state are completed once the API was observed.
 */
function completeBitbucket(s: ClusterState): void {
  const b = s.repo.bitbucket;
  if (!b) return;
  const urls = bitbucketUrls(b.config, b.repo);
  const git = { ...s.config.git, url: urls.http };
  if (git.clusterSsh) git.clusterSsh = { ...git.clusterSsh, clusterUrl: urls.ssh };
  s.config = { ...s.config, git };
  const data = s.desired.secret.data;
  s.desired = {
    ...desiredCluster(s.config, s.components, data),
    force: s.desired.force,
    rotate: s.desired.rotate,
  };
}

/** Provider steps: the repository's own (on its first cluster), the cluster's access key. */
function withProviderSteps(s: ClusterState, plan: ClusterPlan): ClusterPlan {
  const b = s.repo.bitbucket;
  if (!b) return plan;
  const first = s.repo.clusters[0] === s.config.name;
  const repoSteps = first ? b.plan.steps : [];
  const keySteps = b.config.tokenAuth ? [] : planAccessKey(
    {
      label: accessKeyLabel(s.config.name, s.config.path, s.config.flux.namespace),
      publicKey: s.desired.secret.data["identity.pub"],
      permission: b.config.readWriteKey ? "REPO_WRITE" : "REPO_READ",
    },
    b.keys,
  );
  // The key is registered after the secret holds it and before the cluster is pointed at it.
  const firstSync = plan.steps.findIndex((st) => st.kind === "sync");
  const at = firstSync < 0 ? plan.steps.length : firstSync;
  const steps = [...repoSteps, ...plan.steps.slice(0, at), ...keySteps, ...plan.steps.slice(at)];
  return { ...plan, steps, warnings: [...(first ? b.plan.warnings : []), ...plan.warnings] };
}

async function observeAndPlan(s: ClusterState, opts: RunOptions): Promise<ClusterPlan> {
  const empty: ClusterPlan = {
    cluster: s.config.name,
    repository: { url: s.desired.repo.url, branch: s.desired.repo.branch, dir: s.desired.dir },
    steps: [],
    status: [],
    warnings: [],
    notes: [],
  };
  if (s.repo.error) return { ...empty, error: s.repo.error };
  try {
    opts.onEvent?.(s.config.name, "observing");
    completeBitbucket(s);
    s.client = await createKubeClient(s.config.kube, { retry: opts.retry });
    const observedCluster = await observeCluster(s.client, s.desired);
    const notes: string[] = [];
    s.desired.secret.data = await secretData(s, observedCluster, notes, opts);
    const co = s.repo.checkout!;
    const observedRepo: ObservedRepo = {
      branchExists: co.branchExists,
      head: co.head,
      files: await readRepoFiles(co, s.desired.files.map((f) => f.path)),
    };
    s.observed = { repo: observedRepo, cluster: observedCluster };
    const kfile = s.desired.files.find((f) => f.onlyIfAbsent);
    const current = kfile ? observedRepo.files[kfile.path] : null;
    s.customKustomization = current !== null && current !== undefined && current !== kfile!.content;
    const plan = withProviderSteps(s, planCluster(s.desired, observedRepo, observedCluster));
    if (s.customKustomization && plan.steps.some((st) => st.kind === "components")) {
      notes.push(
        "the repository has its own kustomization.yaml: the components are installed from its kubectl kustomize build (your patches apply)",
      );
    }
    const secretChanges = plan.steps.some((st) => st.kind === "secret");
    return {
      ...plan,
      // Host keys learnt by a scan are shown whenever they are about to be stored.
      notes: secretChanges ? notes : notes.filter((n) => !n.startsWith("known_hosts")),
      observed: observedDigest(observedRepo, observedCluster),
    };
  } catch (e) {
    return { ...empty, error: errorMessage(e) };
  }
}

/** The source secret's data for the cluster's auth mode (flux2 pkg/manifestgen/sourcesecret). */
async function secretData(
  s: ClusterState,
  observed: ObservedCluster,
  notes: string[],
  opts: RunOptions,
): Promise<Record<string, string>> {
  const c = s.config;
  if (s.creds.kind === "token" && !c.git.clusterSsh) {
    return tokenSecretData(s.creds.username, s.creds.token);
  }
  // Bitbucket registers the key through the API: no "add it by hand" note, and no check needed
  // before the key is registered.
  const url = c.git.clusterSsh?.clusterUrl ?? c.git.url;
  const target = parseSshUrl(url);
  const known = s.creds.kind === "ssh" && s.repo.remote?.knownHosts
    ? s.repo.remote.knownHosts
    : await learnHostKeys(c, target.host, target.port);
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
    notes.push(
      `known_hosts for ${name} from a scan (trust on first use): ${key.type} ${key.fingerprint}; ` +
        "compare it with the server's published fingerprint, or pin it with git.knownHosts",
    );
  }
  if (s.creds.kind === "ssh") {
    return sshSecretData(s.creds.keyText, s.creds.parsed.publicKey, known.text, s.creds.passphrase);
  }
  // Generated-key mode: the key is made once and kept in the cluster; `rotate` replaces it.
  const existing = observed.secret;
  let identity = existing?.identity;
  let publicKey = existing?.["identity.pub"];
  if (!identity || !publicKey || s.desired.rotate) {
    const spec = c.git.clusterSsh!.key;
    // RSA 4096 takes seconds: generated without blocking, and said so.
    opts.onEvent?.(
      c.name,
      `generating an ${spec.algorithm}${
        spec.algorithm === "rsa" ? ` ${spec.rsaBits}` : ""
      } SSH key`,
    );
    const pair = await generateKeyPair(
      { algorithm: spec.algorithm, ecdsaCurve: spec.ecdsaCurve, rsaBits: spec.rsaBits },
      `fluxfleet-${c.name}`,
    );
    registerSecret(pair.privateKey.trim());
    identity = pair.privateKey;
    publicKey = pair.publicKey;
    const what = s.desired.rotate && existing?.identity ? "rotating: new" : "new";
    notes.push(
      c.git.bitbucket
        ? `${what} SSH key for the cluster (${pair.fingerprint}), registered as a repository access key by apply`
        : `${what} SSH key for the cluster; add this public key to the repository with read access ` +
          `(deploy key), then apply: ${publicKey.trim()} (${pair.fingerprint})`,
    );
  } else registerSecret(identity.trim());
  s.keyCheck = { url, identity, publicKey, knownHosts: known.text };
  return sshSecretData(identity, publicKey, known.text);
}

async function applyFleet(
  plans: ClusterPlan[],
  states: Map<string, ClusterState>,
  groups: Map<string, RepoGroup>,
  opts: RunOptions,
): Promise<ClusterResult[]> {
  // --fail-fast: the first failure stops new work everywhere; clusters not started are skipped.
  const stop = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, stop.signal]) : stop.signal;
  if (opts.failFast && plans.some((p) => p.error)) stop.abort();
  const byName = new Map(plans.map((p) => [p.cluster, p]));
  // Repository phase: one commit per repository holding every cluster's file changes.
  const repoErrors = new Map<string, string>();
  await mapLimit([...groups.values()], opts.concurrency, async (g) => {
    const members = g.clusters.map((c) => byName.get(c)!).filter((p) => !p.error);
    if (g.bitbucket) {
      try {
        await applyBitbucketRepository(g, members, states, signal, opts);
      } catch (e) {
        repoErrors.set(g.key, errorMessage(e));
        return;
      }
    }
    const changing = members.filter((p) => p.steps.some((s) => s.kind === "file"));
    if (changing.length === 0 || !g.checkout) return;
    const changes = changing.flatMap((p) => {
      const files = states.get(p.cluster)!.desired.files;
      return p.steps.flatMap((s) =>
        s.kind === "file"
          ? files.filter((f) => f.path === s.path).map(({ path, content }) => ({ path, content }))
          : []
      );
    });
    const names = changing.map((p) => p.cluster);
    let message = `Add Flux ${g.version} manifests for ${
      names.length === 1 ? "cluster" : "clusters"
    } ${names.join(", ")}`;
    if (g.appendix) message += `\n\n${g.appendix}`;
    try {
      checkInterrupted(signal, `pushing to ${g.url}`);
      for (const c of names) opts.onEvent?.(c, `pushing to ${g.url} (${g.branch})`);
      await g.remote!.push(g.checkout, changes, message, g.author);
    } catch (e) {
      repoErrors.set(g.key, errorMessage(e));
    }
  });

  if (opts.failFast && repoErrors.size > 0) stop.abort();
  const results = await mapLimit(plans, opts.concurrency, async (p): Promise<ClusterResult> => {
    const result = await applyCluster(p, states.get(p.cluster)!, repoErrors, signal, opts);
    if (result.outcome === "failed" && opts.failFast) stop.abort();
    return result;
  });
  return results.map((r) =>
    r.outcome === "failed" && r.applied.length === 0 && stop.signal.aborted &&
      r.error?.startsWith("interrupted before") && !opts.signal?.aborted
      ? {
        cluster: r.cluster,
        outcome: "skipped",
        applied: [],
        error: "another cluster failed (--fail-fast)",
      }
      : r
  );
}

/**
 * Provider phase of one repository: create it / change visibility / grant groups (the steps sit on
 * its first cluster), then learn its real clone links, complete the clusters' desired state with
 * them and open the git remote for the push.
 */
async function applyBitbucketRepository(
  g: RepoGroup,
  members: ClusterPlan[],
  states: Map<string, ClusterState>,
  signal: AbortSignal,
  opts: RunOptions,
): Promise<void> {
  const b = g.bitbucket!;
  const steps = members.flatMap((p) =>
    p.steps.filter((st) => st.kind === "repository" || st.kind === "group")
  );
  if (steps.length === 0) return;
  checkInterrupted(signal, `changing repository ${b.config.project}/${b.config.slug}`);
  const first = g.clusters[0];
  opts.onEvent?.(first, `reconciling repository ${b.config.project}/${b.config.slug}`);
  await applyRepositorySteps(b, steps, (w) => opts.onEvent?.(first, `warning: ${w}`));
  if (!g.remote && b.repo) {
    g.url = b.repo.httpCloneUrl;
    for (const name of g.clusters) completeBitbucket(states.get(name)!);
    g.remote = await openRemote(withUrl(g.owner, g.url), g.creds, {
      timeoutMs: opts.gitTimeoutMs ?? 60_000,
    });
    await setRemoteUrl(g.checkout!, g.remote.remote!.url);
  }
}

async function applyCluster(
  p: ClusterPlan,
  s: ClusterState,
  repoErrors: Map<string, string>,
  signal: AbortSignal,
  opts: RunOptions,
): Promise<ClusterResult> {
  if (p.error) return { cluster: p.cluster, outcome: "failed", applied: [], error: p.error };
  if (p.steps.length === 0) return { cluster: p.cluster, outcome: "unchanged", applied: [] };
  const repoError = repoErrors.get(s.repo.key);
  if (repoError) return { cluster: p.cluster, outcome: "failed", applied: [], error: repoError };
  const applied: Step[] = [];
  const head = s.repo.checkout?.head;
  const revision = head ? `${s.repo.branch}@sha1:${head}` : undefined;
  try {
    checkInterrupted(signal, "starting");
    applied.push(...p.steps.filter((st) => st.kind === "file"));
    for (const step of p.steps) {
      if (step.kind === "file") continue;
      // A generated key must be accepted before the cluster is pointed at it. The secret is
      // written first, so the key survives to the re-run (it is never regenerated).
      if (step.kind === "sync" && s.keyCheck) await checkGeneratedKey(s, signal);
      checkInterrupted(signal, describeStepShort(step));
      opts.onEvent?.(p.cluster, describeStepShort(step));
      if (step.kind === "accessKey") {
        await applyAccessKey(s.repo.bitbucket!, step, s.desired.secret.data["identity.pub"]);
      } else if (step.kind === "components" && s.customKustomization) {
        // As flux: the folder's kustomization.yaml (with the user's patches) is what is installed.
        const built = await kustomizeBuild(join(s.repo.checkout!.dir, s.desired.dir));
        const components = built.filter((o) =>
          !(o.kind === "GitRepository" || o.kind === "Kustomization") ||
          o.metadata.name !== s.desired.kustomization.metadata.name
        );
        await applyClusterStep(s.client!, { ...s.desired, components }, step);
      } else if (step.kind !== "repository" && step.kind !== "group") {
        await applyClusterStep(s.client!, s.desired, step);
      }
      applied.push(step);
    }
    checkInterrupted(signal, "waiting for Flux to be Ready");
    opts.onEvent?.(p.cluster, "waiting for Flux to be Ready");
    await waitForSync(s.client!, s.desired, {
      revision,
      timeoutMs: s.desired.timeoutMs,
      signal,
      laterRevision: (rev) => isCurrentRemoteHead(s.repo, rev, head),
    });
    return { cluster: p.cluster, outcome: "changed", applied, revision };
  } catch (e) {
    return { cluster: p.cluster, outcome: "failed", applied, error: errorMessage(e), revision };
  }
}

async function destroyFleet(
  plans: DestroyPlan[],
  states: Map<string, ClusterState>,
  groups: Map<string, RepoGroup>,
  opts: RunOptions,
): Promise<DestroyResult[]> {
  // Cluster first: with the sync objects gone, Flux cannot re-apply what git still holds.
  const results = await mapLimit(plans, opts.concurrency, async (p): Promise<DestroyResult> => {
    if (p.error) return { cluster: p.cluster, outcome: "failed", done: [], error: p.error };
    if (p.steps.length === 0) return { cluster: p.cluster, outcome: "unchanged", done: [] };
    const s = states.get(p.cluster)!;
    const done: DestroyStep[] = [];
    try {
      for (const step of p.steps) {
        if (step.kind === "file") continue;
        checkInterrupted(opts.signal, `${step.kind} ${step.action}`);
        opts.onEvent?.(p.cluster, `${step.action} ${step.kind}`);
        await destroyClusterStep(s.client!, s.desired, step);
        done.push(step);
      }
      return { cluster: p.cluster, outcome: "destroyed", done };
    } catch (e) {
      return { cluster: p.cluster, outcome: "failed", done, error: errorMessage(e) };
    }
  });
  // Then one commit per repository deleting the files of the clusters that were uninstalled.
  await mapLimit([...groups.values()], opts.concurrency, async (g) => {
    const members = results.filter((r) => r.outcome !== "failed" && g.clusters.includes(r.cluster));
    const deletions = members.flatMap((r) =>
      plans.find((p) => p.cluster === r.cluster)!.steps.flatMap((st) =>
        st.kind === "file" ? [{ path: st.path, content: null }] : []
      )
    );
    if (deletions.length === 0 || !g.checkout) return;
    const names = members.map((r) => r.cluster).join(", ");
    try {
      await g.remote!.push(
        g.checkout,
        deletions,
        `Remove Flux manifests for ${names}`,
        g.author,
      );
      for (const r of members) {
        r.done.push(
          ...plans.find((p) => p.cluster === r.cluster)!.steps.filter((st) => st.kind === "file"),
        );
        r.outcome = "destroyed";
      }
    } catch (e) {
      for (const r of members) Object.assign(r, { outcome: "failed", error: errorMessage(e) });
    }
  });
  return results;
}

/**
 * The branch moved past our commit while we waited: the cluster's revision includes ours when it
 * is the remote's current head and that head is not our commit (branches only move forward).
 */
async function isCurrentRemoteHead(
  g: RepoGroup,
  revision: string,
  ours: string | null | undefined,
): Promise<boolean> {
  if (!g.remote || !ours) return false;
  try {
    const head = await g.remote.remoteHead(g.branch);
    return head !== null && head !== ours && revision === `${g.branch}@sha1:${head}`;
  } catch {
    return false;
  }
}

async function checkGeneratedKey(s: ClusterState, signal: AbortSignal) {
  const k = s.keyCheck!;
  checkInterrupted(signal, "checking the cluster's SSH key");
  const r = await sshKeyAccepted(k.url, k.identity, k.knownHosts, s.config.git.hostKeyAlgorithms);
  if (!r.ok) {
    throw new Error(
      `the repository does not accept the cluster's SSH key yet (${r.reason}); add this public key ` +
        `with read access (deploy key), then re-run: ${k.publicKey.trim()}`,
    );
  }
  s.keyCheck = undefined;
}

function describeStepShort(step: Step): string {
  switch (step.kind) {
    case "namespace":
      return `creating namespace ${step.name}`;
    case "components":
      return `installing components (${step.objects} objects)`;
    case "secret":
      return `${
        step.action === "create" ? "creating" : "updating"
      } secret ${step.namespace}/${step.name}`;
    case "sync":
      return `applying ${step.object} ${step.namespace}/${step.name}`;
    default:
      return step.kind;
  }
}
