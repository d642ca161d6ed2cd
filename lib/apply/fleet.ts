/**
 * Orchestration for a whole manifest: resolve secrets (before any contact), observe repositories
 * and clusters with bounded concurrency, plan each cluster (pure), then apply: one commit per
 * repository, then the cluster steps, then the health wait.
 */
import { dirname } from "node:path";
import type { ClusterConfig, Manifest } from "../config/types.ts";
import { resolveSecret, type SecretSource } from "../config/secrets.ts";
import { desiredCluster } from "../plan/desired.ts";
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
import {
  checkoutRepo,
  commitAndPush,
  type GitAccess,
  readRepoFiles,
  type RepoCheckout,
} from "../git/repo.ts";
import { type GitHttp, makeGitHttp } from "../git/http.ts";
import { createKubeClient, type KubeClient } from "../kube/client.ts";
import { observeCluster } from "../kube/observe.ts";
import { applyClusterStep, waitForSync } from "../kube/apply.ts";
import { loadInstallManifest } from "../manifests/source.ts";
import { mapLimit } from "../util/pool.ts";
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
}

function checkInterrupted(signal: AbortSignal | undefined, before: string) {
  if (signal?.aborted) throw new Error(`interrupted before ${before}; re-run to continue`);
}

interface RepoGroup {
  key: string;
  url: string;
  branch: string;
  access: GitAccess;
  http: GitHttp;
  author: { name: string; email: string };
  appendix?: string;
  version: string;
  checkout?: RepoCheckout;
  error?: string;
  clusters: string[];
}

interface ClusterState {
  config: ClusterConfig;
  desired: DesiredCluster;
  repo: RepoGroup;
  client?: KubeClient;
  observed?: { repo: ObservedRepo; cluster: ObservedCluster };
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
  // Secrets first: a missing variable or file stops the run before anything is contacted.
  const tokens = new Map<string, string>();
  for (const c of clusters) {
    const what = `cluster "${c.name}": git.auth.token`;
    tokens.set(c.name, await resolveSecret(c.git.auth.token, what, baseDir, opts.secrets));
  }
  const installCache = new Map<string, Promise<string>>();
  const install = (src: string) => {
    if (!installCache.has(src)) installCache.set(src, loadInstallManifest(src));
    return installCache.get(src)!;
  };
  const states = new Map<string, ClusterState>();
  const groups = new Map<string, RepoGroup>();
  for (const c of clusters) {
    const key = `${c.git.url}#${c.git.branch}`;
    let group = groups.get(key);
    if (!group) {
      group = await newRepoGroup(key, c, tokens.get(c.name)!, opts);
      groups.set(key, group);
    }
    group.clusters.push(c.name);
    const desired = {
      ...desiredCluster(c, await install(c.flux.manifests), tokens.get(c.name)!),
      force: opts.force,
    };
    states.set(c.name, { config: c, desired, repo: group });
  }

  const workspace = await Deno.makeTempDir({ prefix: "fluxfleet-" });
  const close = async () => {
    for (const s of states.values()) s.client?.close();
    for (const g of groups.values()) g.http.close();
    await Deno.remove(workspace, { recursive: true }).catch(() => {});
  };
  try {
    // One shallow fetch per repository, shared by every cluster that uses it.
    await mapLimit([...groups.values()], opts.concurrency, async (g, i) => {
      try {
        g.checkout = await checkoutRepo(g.access, g.branch, `${workspace}/repo-${i}`, g.http);
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

async function newRepoGroup(
  key: string,
  c: ClusterConfig,
  token: string,
  opts: RunOptions,
): Promise<RepoGroup> {
  let caPem: string | undefined;
  if (c.git.caFile) {
    try {
      caPem = await Deno.readTextFile(c.git.caFile);
    } catch (e) {
      throw new Error(
        `cluster "${c.name}": git.caFile: cannot read ${c.git.caFile}: ${(e as Error).name}`,
      );
    }
  }
  return {
    key,
    url: c.git.url,
    branch: c.git.branch,
    access: { url: c.git.url, username: c.git.auth.username, password: token },
    http: makeGitHttp({
      caPem,
      allowInsecureHttp: c.git.allowInsecureHttp,
      timeoutMs: opts.gitTimeoutMs ?? 60_000,
    }),
    author: c.git.author,
    appendix: c.git.commitMessageAppendix,
    version: c.flux.version,
    clusters: [],
  };
}

async function observeAndPlan(s: ClusterState, opts: RunOptions): Promise<ClusterPlan> {
  const empty: ClusterPlan = {
    cluster: s.config.name,
    repository: { url: s.desired.repo.url, branch: s.desired.repo.branch, dir: s.desired.dir },
    steps: [],
    status: [],
    warnings: [],
  };
  if (s.repo.error) return { ...empty, error: s.repo.error };
  try {
    opts.onEvent?.(s.config.name, "observing");
    s.client = await createKubeClient(s.config.kube);
    const observedCluster = await observeCluster(s.client, s.desired);
    const co = s.repo.checkout!;
    const observedRepo: ObservedRepo = {
      branchExists: co.branchExists,
      head: co.head,
      files: await readRepoFiles(co, s.desired.files.map((f) => f.path)),
    };
    s.observed = { repo: observedRepo, cluster: observedCluster };
    const plan = planCluster(s.desired, observedRepo, observedCluster);
    return { ...plan, observed: observedDigest(observedRepo, observedCluster) };
  } catch (e) {
    return { ...empty, error: errorMessage(e) };
  }
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
      await commitAndPush(g.checkout, g.access, g.http, changes, message, g.author);
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
      checkInterrupted(signal, describeStepShort(step));
      opts.onEvent?.(p.cluster, describeStepShort(step));
      await applyClusterStep(s.client!, s.desired, step);
      applied.push(step);
    }
    checkInterrupted(signal, "waiting for Flux to be Ready");
    opts.onEvent?.(p.cluster, "waiting for Flux to be Ready");
    await waitForSync(s.client!, s.desired, {
      revision,
      timeoutMs: s.desired.timeoutMs,
      signal,
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
      await commitAndPush(
        g.checkout,
        g.access,
        g.http,
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
