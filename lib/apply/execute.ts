/**
 * Carry out plans: one commit per repository (after provider steps), then each cluster's steps
 * and the health wait; --fail-fast and Ctrl-C stop new work.
 */
import { generateClusterKey, requireAcceptedKey } from "./cluster_key.ts";
import type { ClusterPlan, Step } from "../plan/types.ts";
import { ensureWorktree } from "../git/checkout.ts";
import { applyClusterStep, waitForSync } from "../kube/apply.ts";
import { kustomizeBuild } from "../manifests/kustomize.ts";
import { mapLimit } from "../util/pool.ts";
import { errorMessage } from "../util/redact.ts";
import {
  checkInterrupted,
  type ClusterEnd,
  type ClusterResult,
  type ClusterState,
  InterruptedError,
  type RepoGroup,
  type RunOptions,
} from "./state.ts";
import { completeUrls, openGroupRemote } from "./observe.ts";
import { type PhaseTracker, withDeadline } from "./deadline.ts";
import { stepProgress } from "./step_progress.ts";

export async function applyFleet(
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
  const repoErrors = new Map<string, unknown>();
  await mapLimit([...groups.values()], opts.concurrency, async (g) => {
    const members = g.clusters.map((c) => byName.get(c)!).filter((p) => !p.error);
    const tracker = { phase: `changing repository ${g.url}` };
    try {
      await withDeadline(opts.clusterTimeoutMs, tracker, async (deadline) => {
        g.deadline = deadline;
        await applyRepository(
          g,
          members,
          states,
          AbortSignal.any([signal, deadline]),
          opts,
          tracker,
        );
      });
    } catch (e) {
      repoErrors.set(g.key, e);
    }
    // Their repository is done: the clusters wait for their turn in the cluster phase.
    for (const p of members) opts.onQueued?.(p.cluster);
  });

  if (opts.failFast && repoErrors.size > 0) stop.abort();
  return await mapLimit(plans, opts.concurrency, async (p): Promise<ClusterResult> => {
    const result = await applyCluster(p, states.get(p.cluster)!, repoErrors, signal, opts);
    if (result.outcome === "failed" && opts.failFast) stop.abort();
    opts.onEnd?.(p.cluster, resultEnd(result));
    return result;
  });
}

/**
 * A cluster stopped before any of its steps ran is skipped, not failed: by Ctrl-C (the reason
 * says where it stopped) or by --fail-fast.
 */
function notStarted(
  cluster: string,
  e: unknown,
  applied: Step[],
  opts: RunOptions,
): ClusterResult | undefined {
  if (!(e instanceof InterruptedError) || applied.length > 0) return undefined;
  const reason = opts.signal?.aborted
    ? `interrupted before ${e.before}`
    : "another cluster failed (--fail-fast)";
  return { cluster, outcome: "skipped", applied: [], reason };
}

/** How a cluster's apply ends on the progress display (the words of the final report). */
function resultEnd(r: ClusterResult): ClusterEnd {
  const steps = `${r.applied.length} step${r.applied.length === 1 ? "" : "s"}`;
  switch (r.outcome) {
    case "changed":
      return { status: "done", summary: `changed (${steps})` };
    case "unchanged":
      return { status: "done", summary: "unchanged" };
    case "skipped":
      return { status: "skipped", summary: `skipped: ${r.reason}` };
    case "failed":
      return { status: "failed", summary: `failed: ${r.error}` };
  }
}

/** The repository phase of one repository: provider steps, then one commit with every file. */
async function applyRepository(
  g: RepoGroup,
  members: ClusterPlan[],
  states: Map<string, ClusterState>,
  signal: AbortSignal,
  opts: RunOptions,
  tracker: PhaseTracker,
): Promise<void> {
  if (g.session) await applyProviderRepository(g, members, states, signal, opts);
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
  checkInterrupted(signal, `pushing to ${g.url}`);
  tracker.phase = `pushing to ${g.url}`;
  for (const c of names) opts.onEvent?.(c, `pushing to ${g.url} (${g.branch})`);
  await g.remote!.push(g.checkout, changes, message, g.author);
}

/**
 * Provider phase of one repository: create it / change visibility / grant groups (the steps sit on
 * its first cluster), then learn its real clone links, complete the clusters' desired state with
 * them and open the git remote for the push.
 */
async function applyProviderRepository(
  g: RepoGroup,
  members: ClusterPlan[],
  states: Map<string, ClusterState>,
  signal: AbortSignal,
  opts: RunOptions,
): Promise<void> {
  const session = g.session!;
  const steps = members.flatMap((p) =>
    p.steps.filter((st) => st.kind === "repository" || st.kind === "group")
  );
  if (steps.length === 0) return;
  const name = g.owner.git.provider.name ?? g.url;
  checkInterrupted(signal, `changing repository ${name}`);
  const first = g.clusters[0];
  opts.onEvent?.(first, `reconciling repository ${name}`);
  const warn = (w: string) => opts.onEvent?.(first, `warning: ${w}`);
  for (const step of steps) {
    const facts = await session.apply(step, { warn });
    if (facts) g.facts = facts;
  }
  if (!g.remote && g.facts?.exists) {
    if (g.facts.httpUrl) g.url = g.facts.httpUrl;
    for (const c of g.clusters) completeUrls(states.get(c)!);
    g.remote = await openGroupRemote(g, opts);
    await g.remote.adopt(g.checkout!);
  }
}

async function applyCluster(
  p: ClusterPlan,
  s: ClusterState,
  repoErrors: Map<string, unknown>,
  signal: AbortSignal,
  opts: RunOptions,
): Promise<ClusterResult> {
  if (p.error) return { cluster: p.cluster, outcome: "failed", applied: [], error: p.error };
  if (p.steps.length === 0) return { cluster: p.cluster, outcome: "unchanged", applied: [] };
  if (repoErrors.has(s.repo.key)) {
    const e = repoErrors.get(s.repo.key);
    return notStarted(p.cluster, e, [], opts) ??
      { cluster: p.cluster, outcome: "failed", applied: [], error: errorMessage(e) };
  }
  const applied: Step[] = [];
  const head = s.repo.checkout?.head;
  const revision = head ? `${s.repo.branch}@sha1:${head}` : undefined;
  // What the cluster is doing now: shown, and named if its deadline passes.
  // The SSH key made at apply (when the plan said so): reported even if a later step fails.
  const made: { generatedKey?: ClusterResult["generatedKey"] } = {};
  const tracker = { phase: "starting" };
  const event = (message: string) => {
    tracker.phase = message;
    opts.onEvent?.(p.cluster, message);
  };
  try {
    checkInterrupted(signal, "starting");
    applied.push(...p.steps.filter((st) => st.kind === "file"));
    // The deadline bounds the steps; the health wait has its own bound (flux.timeout).
    await withDeadline(opts.clusterTimeoutMs, tracker, async (deadline) => {
      s.deadline = deadline;
      await applySteps(p, s, AbortSignal.any([signal, deadline]), opts, event, applied, made);
    });
    checkInterrupted(signal, "waiting for Flux to be Ready");
    event("waiting for Flux to be Ready");
    await waitForSync(s.client!, s.desired, {
      revision,
      timeoutMs: s.desired.timeoutMs,
      signal,
      laterRevision: (rev) => isCurrentRemoteHead(s.repo, rev, head),
    });
    return {
      cluster: p.cluster,
      outcome: "changed",
      applied,
      revision,
      ...made,
    };
  } catch (e) {
    const skipped = notStarted(p.cluster, e, applied, opts);
    if (skipped) return skipped;
    // After a deadline, a step still in flight may finish: the report keeps what was confirmed.
    return {
      cluster: p.cluster,
      outcome: "failed",
      applied: [...applied],
      error: errorMessage(e),
      revision,
      ...made,
    };
  }
}

/**
 * The cluster's steps in order; each done step is added to `applied`, and the SSH key made at
 * apply (if the plan said one would be) to `made`.
 */
async function applySteps(
  p: ClusterPlan,
  s: ClusterState,
  signal: AbortSignal,
  opts: RunOptions,
  event: (message: string) => void,
  applied: Step[],
  made: { generatedKey?: ClusterResult["generatedKey"] },
): Promise<void> {
  for (const step of p.steps) {
    if (step.kind === "file") continue;
    // Carried out (and shown) by the repository phase.
    if (step.kind === "repository" || step.kind === "group") {
      applied.push(step);
      continue;
    }
    // A generated key must be accepted before the cluster is pointed at it. The secret is
    // written first, so the key survives to the re-run (it is never regenerated).
    if (step.kind === "sync" && s.keyCheck) {
      event("checking the cluster's SSH key");
      await requireAcceptedKey(s, signal, opts.timeoutMs);
    }
    checkInterrupted(signal, stepProgress(step));
    // The key the plan announced as "generated at apply" is made now, once, and stored.
    if (step.kind === "secret" && s.desired.secret.generateAtApply) {
      made.generatedKey = await generateClusterKey(s, event);
    }
    event(stepProgress(step));
    if (step.kind === "accessKey") {
      await s.repo.session!.apply(step, {
        publicKey: s.desired.secret.data["identity.pub"],
        warn: (w) => event(`warning: ${w}`),
      });
    } else if (step.kind === "components" && s.customKustomization) {
      // As flux: the folder's kustomization.yaml (with the user's patches) is what is installed.
      await ensureWorktree(s.repo.checkout!);
      const built = await kustomizeBuild(s.repo.checkout!.dir, s.desired.dir);
      if (!built.some((o) => o.kind === "CustomResourceDefinition")) {
        throw new Error(
          `${s.desired.dir}/kustomization.yaml builds no Flux CRDs: its resources must include gotk-components.yaml and gotk-sync.yaml`,
        );
      }
      const components = built.filter((o) =>
        !(o.kind === "GitRepository" || o.kind === "Kustomization") ||
        o.metadata.name !== s.desired.kustomization.metadata.name
      );
      await applyClusterStep(s.client!, { ...s.desired, components }, step);
    } else {
      await applyClusterStep(s.client!, s.desired, step);
    }
    applied.push(step);
  }
  // No sync step (a rotated key): the cluster already reads with the key; say what to add
  // rather than wait for Flux to time out.
  if (s.keyCheck) {
    event("checking the cluster's SSH key");
    await requireAcceptedKey(s, signal, opts.timeoutMs);
  }
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
