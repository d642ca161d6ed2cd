/**
 * Carry out a plan as it is (lib/plan/types.ts FleetPlan): per repository its provider steps and
 * one commit with every cluster's files, then each cluster's steps with their payloads and the
 * health wait; --fail-fast and Ctrl-C stop new work. The session (lib/apply/session.ts) is what
 * reaches the servers; nothing is observed or planned again here.
 */
import type { DesiredCluster, PlannedCluster, RepositoryPlan, Step } from "../plan/types.ts";
import type { ClusterResult } from "../plan/results.ts";
import { applyClusterStep, waitForSync } from "../kube/apply.ts";
import { mapLimit } from "../util/pool.ts";
import { errorMessage, registerSecret } from "../util/redact.ts";
import { plural } from "../util/words.ts";
import { checkInterrupted, type ClusterEnd, InterruptedError, type RunOptions } from "./options.ts";
import { type ClusterSession, type FleetSession, type RepoSession } from "./session.ts";
import { withDeadline } from "./deadline.ts";
import { stepProgress } from "./step_progress.ts";
import { generateClusterKey, requireAcceptedKey } from "./cluster_key.ts";
import { installFromKustomization } from "./custom_kustomization.ts";
import { migrateBeforePush } from "./preflight.ts";
import { accessKeyLabel } from "../plan/cluster_key.ts";
import { applyDefaultBranch, applyProviderSteps, commit } from "./repository_phase.ts";

export async function applyPlan(
  plan: { clusters: PlannedCluster[]; repositories: RepositoryPlan[] },
  session: FleetSession,
  opts: RunOptions,
): Promise<ClusterResult[]> {
  // --fail-fast: the first failure stops new work everywhere; clusters not started are skipped.
  const stop = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, stop.signal]) : stop.signal;
  if (opts.failFast && plan.clusters.some((p) => p.plan.error)) stop.abort();
  // Each cluster's part of the plan; a repository created at apply may move its URLs.
  const planned = new Map(plan.clusters.map((p) => [p.plan.cluster, p]));
  // Storage migrations first: the release pushed next may drop a version still stored. A
  // cluster whose migration failed gets none of its files pushed.
  const unmigrated = await migrateBeforePush(plan.clusters, session, opts);
  // Repository phase: the provider's steps, then one commit holding every cluster's files.
  const repoErrors = new Map<string, unknown>();
  // The branches of one repository one after the other, its steward (provider steps) first.
  const byRepository = new Map<string, RepositoryPlan[]>();
  for (const rp of plan.repositories) {
    const group = byRepository.get(rp.steward ?? rp.key) ?? [];
    if (rp.steward) group.push(rp);
    else group.unshift(rp);
    byRepository.set(rp.steward ?? rp.key, group);
  }
  const applyRepository = async (rp: RepositoryPlan) => {
    const r = session.repos.find((x) => x.key === rp.key)!;
    const members = rp.clusters.filter((c) => !planned.get(c)!.plan.error);
    const tracker = { phase: `changing repository ${r.url}` };
    try {
      await withDeadline(opts.clusterTimeoutMs, tracker, async (deadline) => {
        r.deadline = deadline;
        const ctx = {
          signal: AbortSignal.any([signal, deadline]),
          tracker,
          planned,
          unmigrated,
        };
        await applyProviderSteps(rp, r, session, ctx, opts);
        await commit(rp, r, ctx, opts);
        await applyDefaultBranch(rp, r, ctx, opts);
      });
    } catch (e) {
      repoErrors.set(rp.key, e);
    }
    // Their repository is done: the clusters wait for their turn in the cluster phase.
    for (const c of members) opts.onQueued?.(c);
  };
  await mapLimit([...byRepository.values()], opts.concurrency, async (group) => {
    for (const rp of group) await applyRepository(rp);
  });

  if (opts.failFast && repoErrors.size > 0) stop.abort();
  return await mapLimit(plan.clusters, opts.concurrency, async (p): Promise<ClusterResult> => {
    const s = session.clusters.get(p.plan.cluster)!;
    const failedMigration = unmigrated.get(p.plan.cluster);
    const result = failedMigration
      ? { cluster: p.plan.cluster, outcome: "failed" as const, applied: [], error: failedMigration }
      : await applyCluster(planned.get(p.plan.cluster)!, s, repoErrors, signal, opts);
    if (result.outcome === "failed" && opts.failFast) stop.abort();
    opts.onEnd?.(p.plan.cluster, resultEnd(result));
    return result;
  });
}

/**
 * A cluster stopped before any of its steps ran is not started, not failed: interrupted by
 * Ctrl-C (the reason says where it stopped), or skipped by --fail-fast.
 */
function notStarted(
  cluster: string,
  e: unknown,
  applied: Step[],
  opts: RunOptions,
): ClusterResult | undefined {
  if (!(e instanceof InterruptedError) || applied.length > 0) return undefined;
  return opts.signal?.aborted
    ? { cluster, outcome: "interrupted", applied: [], reason: `interrupted before ${e.before}` }
    : { cluster, outcome: "skipped", applied: [], reason: "another cluster failed (--fail-fast)" };
}

/** How a cluster's apply ends on the progress display (the words of the final report). */
function resultEnd(r: ClusterResult): ClusterEnd {
  const steps = plural(r.applied.length, "step");
  switch (r.outcome) {
    case "changed":
      return { status: "done", summary: `changed (${steps})` };
    case "unchanged":
      return { status: "done", summary: "unchanged" };
    case "skipped":
    case "interrupted":
      return { status: "skipped", summary: `skipped: ${r.reason}` };
    case "failed":
      return { status: "failed", summary: `failed: ${r.error}` };
  }
}

async function applyCluster(
  planned: PlannedCluster,
  s: ClusterSession,
  repoErrors: Map<string, unknown>,
  signal: AbortSignal,
  opts: RunOptions,
): Promise<ClusterResult> {
  const p = planned.plan;
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
  // The SSH key made at apply (when the plan said so): reported even if a later step fails.
  const made: { generatedKey?: ClusterResult["generatedKey"] } = {};
  // What the cluster is doing now: shown, and named if its deadline passes.
  const tracker = { phase: "starting" };
  const event = (message: string) => {
    tracker.phase = message;
    opts.onEvent?.(p.cluster, message);
  };
  try {
    checkInterrupted(signal, "starting");
    applied.push(...p.steps.filter((st) => st.kind === "file" || st.kind === "migrate"));
    // The deadline bounds the steps; the health wait has its own bound (flux.timeout).
    const done = await withDeadline(opts.clusterTimeoutMs, tracker, (deadline) => {
      s.deadline = deadline;
      const run = { signal: AbortSignal.any([signal, deadline]), event, applied, made };
      return applySteps(planned, planned.desired!, s, run, opts);
    });
    checkInterrupted(signal, "waiting for Flux to be Ready");
    event("waiting for Flux to be Ready");
    if (opts.waitHealthy) await opts.waitHealthy(p.cluster, s.client!, done, revision, signal);
    else {
      await waitForSync(s.client!, done, {
        revision,
        timeoutMs: done.timeoutMs,
        signal,
        laterRevision: (rev) => isCurrentRemoteHead(s.repo, rev, head),
      });
    }
    return { cluster: p.cluster, outcome: "changed", applied, revision, ...made };
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

interface StepRun {
  signal: AbortSignal;
  event(message: string): void;
  /** Each done step is added. */
  applied: Step[];
  /** The SSH key made at apply, if the plan said one would be. */
  made: { generatedKey?: ClusterResult["generatedKey"] };
}

/** The cluster's steps in order, with their payloads; returns the desired state as applied. */
async function applySteps(
  planned: PlannedCluster,
  start: DesiredCluster,
  s: ClusterSession,
  run: StepRun,
  opts: RunOptions,
): Promise<DesiredCluster> {
  let desired = start;
  // A generated key not known to be accepted: checked before the cluster is pointed at it.
  let keyCheck = planned.keyCheck;
  const requireKey = async () => {
    run.event("checking the cluster's SSH key");
    await requireAcceptedKey(planned.keyTarget!, keyCheck!, run.signal, opts.timeoutMs);
    keyCheck = undefined;
  };
  for (const step of planned.plan.steps) {
    if (step.kind === "file" || step.kind === "migrate") continue;
    // Carried out (and shown) by the repository phase.
    if (step.kind === "repository" || step.kind === "group") {
      run.applied.push(step);
      continue;
    }
    // The secret is written first, so the key survives to the re-run (it is never regenerated).
    if (step.kind === "sync" && keyCheck) await requireKey();
    checkInterrupted(run.signal, stepProgress(step));
    // The key the plan announced as "generated at apply" is made now, once, and stored.
    if (step.kind === "secret" && planned.generateKey) {
      const made = await generateClusterKey(
        planned.plan.cluster,
        planned.generateKey,
        desired,
        run.event,
      );
      desired = made.desired;
      keyCheck = made.key;
      run.made.generatedKey = { publicKey: made.key.publicKey, fingerprint: made.key.fingerprint };
    }
    // Credentials the provider issues are made now, once, right before the secret holds them.
    if (step.kind === "secret" && desired.secret.issueAtApply) {
      desired = await issueCredentials(planned, desired, s, run);
    }
    run.event(stepProgress(step));
    if (step.kind === "accessKey") {
      await s.repo.provider!.apply(step, {
        publicKey: desired.secret.data["identity.pub"],
        warn: (w) => run.event(`warning: ${w}`),
      });
    } else if (step.kind === "components" && planned.customKustomization) {
      // As flux: the folder's kustomization.yaml (with the user's patches) is what is installed.
      await installFromKustomization(s, desired, step);
    } else {
      await applyClusterStep(s.client!, desired, step);
    }
    run.applied.push(step);
  }
  // No sync step (a rotated key): the cluster already reads with the key; say what to add
  // rather than wait for Flux to time out.
  if (keyCheck) await requireKey();
  return desired;
}

/** The provider issues the cluster's credentials; the secret about to be written holds them. */
async function issueCredentials(
  planned: PlannedCluster,
  desired: DesiredCluster,
  s: ClusterSession,
  run: StepRun,
): Promise<DesiredCluster> {
  const provider = s.repo.provider;
  if (!provider?.issueCredentials) {
    throw new Error(`the repository's provider cannot issue ${desired.secret.issueAtApply}`);
  }
  run.event(`issuing ${desired.secret.issueAtApply}`);
  const c = s.config;
  const issued = await provider.issueCredentials(
    accessKeyLabel(planned.plan.cluster, c.path, c.flux.namespace),
  );
  // The new credentials are secrets of this run from now on: redacted wherever they could echo.
  registerSecret(issued.password);
  registerSecret(`${issued.username}:${issued.password}`);
  return {
    ...desired,
    secret: {
      ...desired.secret,
      data: { ...desired.secret.data, username: issued.username, password: issued.password },
    },
  };
}

/**
 * The branch moved past our commit while we waited: the cluster's revision includes ours when it
 * is the remote's current head and that head is not our commit (branches only move forward).
 */
async function isCurrentRemoteHead(
  r: RepoSession,
  revision: string,
  ours: string | null | undefined,
): Promise<boolean> {
  if (!r.remote || !ours) return false;
  try {
    const head = await r.remote.remoteHead(r.branch);
    return head !== null && head !== ours && revision === `${r.branch}@sha1:${head}`;
  } catch {
    return false;
  }
}
