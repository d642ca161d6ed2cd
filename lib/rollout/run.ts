/**
 * Apply in waves (`rollout:`): each wave's clusters get their own commit (a batch of maxParallel
 * at a time), then must pass their gates and stay healthy for the bake time before the next wave
 * starts. More failures in a wave than maxFailures stop the rollout: later waves are untouched.
 *
 * Resume needs no state file: the waves come from the manifest alone, and a wave whose clusters
 * plan no change and pass their gates now is already rolled out. The run resumes at the first
 * wave that is not, or at the one before it when that one's bake may have been cut short (see
 * resumeWave); nothing already pushed or applied is done again.
 */
import type { FleetRun } from "../apply/fleet.ts";
import { applyPlan } from "../apply/execute.ts";
import { commitMessage } from "../apply/planning.ts";
import type { FleetPlan, PlannedCluster } from "../plan/types.ts";
import type { ClusterResult } from "../plan/results.ts";
import { checkGates, worstGate } from "./gates.ts";
import { GateError, type GateTarget, holdHealthy, waitForGates } from "./wait.ts";
import type { Wave } from "./waves.ts";
import type { RolloutReport, WaveFailure, WaveOutcome } from "./types.ts";

export type { RolloutReport, WaveFailure, WaveOutcome };

export interface RolloutOptions {
  /** Go on with the next waves after a wave failed (the run still fails). */
  continueOnFailure?: boolean;
  /** Between gate polls (default 1s). */
  intervalMs?: number;
  /** A wave begins its work (after the waves already rolled out); for measurements. */
  onWaveStart?(wave: Wave): void;
}

/** The plan restricted to `names`: their steps, and per repository one commit of their files. */
function subsetPlan(
  run: FleetRun,
  names: Set<string>,
  providerStepsDone: Set<string>,
): FleetPlan {
  const clusters = run.plan.clusters.filter((p) => names.has(p.plan.cluster));
  const repositories = run.plan.repositories.flatMap((rp) => {
    const members = rp.clusters.filter((c) => names.has(c));
    if (members.length === 0) return [];
    const commitClusters = (rp.commit?.clusters ?? []).filter((c) => names.has(c));
    const owner = run.session.repos.find((r) => r.key === rp.key)!.owner;
    // The repository's own steps (create, grants) go with the first batch that reaches it, on
    // whichever of its branches (the steward's steps, taken by another branch if need be).
    const repository = rp.steward ?? rp.key;
    const steward = run.plan.repositories.find((x) => x.key === repository)!;
    const providerSteps = providerStepsDone.has(repository) ? [] : steward.providerSteps;
    providerStepsDone.add(repository);
    // A branch that takes the steward's steps is applied on its own, not after the steward.
    const { steward: _, ...plan } = rp;
    return [{
      ...(providerSteps.length > 0 ? plan : rp),
      clusters: members,
      providerSteps,
      commit: rp.commit && commitClusters.length > 0
        ? { ...rp.commit, message: commitMessage(owner, commitClusters), clusters: commitClusters }
        : undefined,
    }];
  });
  return { clusters, repositories };
}

function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

export async function applyInWaves(
  run: FleetRun,
  waves: Wave[],
  ropts: RolloutOptions = {},
): Promise<RolloutReport> {
  const opts = run.options;
  const byName = new Map(run.plan.clusters.map((p) => [p.plan.cluster, p]));
  const results = new Map<string, ClusterResult>();
  const report: RolloutReport = { waves: [], results: [] };
  const providerStepsDone = new Set<string>();
  let stopped: { wave: number; why: string } | undefined;

  const target = (p: PlannedCluster): GateTarget | undefined => {
    const s = run.session.clusters.get(p.plan.cluster)!;
    const head = s.repo.checkout?.head;
    if (!s.client || !p.desired) return undefined;
    return {
      cluster: p.plan.cluster,
      client: s.client,
      desired: p.desired,
      revision: head ? `${s.repo.branch}@sha1:${head}` : undefined,
      ownImages: p.customKustomization,
    };
  };

  const resumeAt = await resumeWave(waves, byName, target);
  for (const wave of waves) {
    const members = wave.clusters.filter((c) => byName.has(c)).map((c) => byName.get(c)!);
    const outcome: WaveOutcome = {
      index: wave.index,
      label: wave.label,
      clusters: members.map((p) => p.plan.cluster),
      state: "done",
      failures: [],
    };
    report.waves.push(outcome);
    const gateOpts = {
      gates: wave.gates,
      intervalMs: ropts.intervalMs,
      signal: opts.signal,
      onWait: (c: string, m: string) => opts.onEvent?.(c, `wave ${wave.index}: ${m}`),
    };
    if (stopped || opts.signal?.aborted) {
      outcome.state = "skipped";
      const reason = stopped?.why ?? "interrupted before this wave";
      for (const p of members) {
        const c = p.plan.cluster;
        results.set(c, { cluster: c, outcome: "skipped", applied: [], reason });
        opts.onEnd?.(c, { status: "skipped", summary: `skipped: ${reason}` });
      }
      continue;
    }
    if (wave.index < resumeAt) {
      outcome.state = "already";
      for (const p of members) {
        const c = p.plan.cluster;
        results.set(c, { cluster: c, outcome: "unchanged", applied: [] });
        opts.onEnd?.(c, { status: "done", summary: `wave ${wave.index}: already rolled out` });
      }
      continue;
    }
    ropts.onWaveStart?.(wave);
    const gateErrors = new Map<string, GateError>();
    for (const batch of chunks(members, wave.maxParallel)) {
      // Too many failures in the wave's first batches: its later batches are not started.
      const failedSoFar = outcome.clusters.filter((c) => results.get(c)?.outcome === "failed");
      if (failedSoFar.length > wave.maxFailures && !ropts.continueOnFailure) {
        for (const p of batch) {
          const reason = `wave ${wave.index} stopped after ${failedSoFar.length} failed`;
          results.set(p.plan.cluster, {
            cluster: p.plan.cluster,
            outcome: "skipped",
            applied: [],
            reason,
          });
        }
        continue;
      }
      const names = new Set(batch.map((p) => p.plan.cluster));
      // Clusters with nothing to change (their wave was pushed before a stop) are only gated.
      const quiet = batch.filter((p) => !p.plan.error && p.plan.steps.length === 0);
      for (const p of quiet) opts.onEvent?.(p.plan.cluster, `wave ${wave.index}: checking gates`);
      const [applied] = await Promise.all([
        applyPlan(subsetPlan(run, names, providerStepsDone), run.session, {
          ...opts,
          concurrency: Math.max(1, batch.length),
          // The run's onEnd comes after the gates and the bake, from here.
          onEnd: undefined,
          waitHealthy: async (cluster, client, desired, revision, signal) => {
            opts.onEvent?.(cluster, `wave ${wave.index}: waiting for the gates`);
            try {
              const ownImages = byName.get(cluster)?.customKustomization;
              await waitForGates({ cluster, client, desired, revision, ownImages }, {
                ...gateOpts,
                signal,
              });
            } catch (e) {
              if (e instanceof GateError) gateErrors.set(cluster, e);
              throw e;
            }
          },
        }),
        Promise.all(quiet.map(async (p) => {
          const t = target(p);
          try {
            if (t) await waitForGates(t, gateOpts);
          } catch (e) {
            if (e instanceof GateError) gateErrors.set(p.plan.cluster, e);
          }
        })),
      ]);
      for (const r of applied) {
        const gateError = gateErrors.get(r.cluster);
        results.set(
          r.cluster,
          r.outcome === "unchanged" && gateError
            ? { ...r, outcome: "failed", error: gateError.message }
            : r,
        );
      }
    }
    const failures = (): WaveFailure[] =>
      outcome.clusters.flatMap((c) => {
        const r = results.get(c)!;
        if (r.outcome !== "failed") return [];
        const g = gateErrors.get(c);
        return [
          g ? { cluster: c, gate: g.gate, message: g.condition } : {
            cluster: c,
            message: r.error ?? "failed",
          },
        ];
      });
    if (failures().length <= wave.maxFailures && wave.bakeMs > 0) {
      const healthy = members.filter((p) => results.get(p.plan.cluster)!.outcome !== "failed")
        .map(target).filter((t): t is GateTarget => t !== undefined);
      for (const t of healthy) {
        opts.onEvent?.(t.cluster, `wave ${wave.index}: baking ${Math.round(wave.bakeMs / 1000)}s`);
      }
      for (const { cluster, error } of await holdHealthy(healthy, wave.bakeMs, gateOpts)) {
        gateErrors.set(cluster, error);
        const r = results.get(cluster)!;
        results.set(cluster, { ...r, outcome: "failed", error: error.message });
      }
    }
    outcome.failures = failures();
    for (const c of outcome.clusters) {
      const r = results.get(c)!;
      opts.onEnd?.(
        c,
        r.outcome === "failed"
          ? { status: "failed", summary: `wave ${wave.index} failed: ${r.error}` }
          : r.outcome === "skipped" || r.outcome === "interrupted"
          ? { status: "skipped", summary: `skipped: ${r.reason}` }
          : { status: "done", summary: `wave ${wave.index}: healthy` },
      );
    }
    if (outcome.failures.length > 0) outcome.state = "failed";
    if (outcome.failures.length > wave.maxFailures && !ropts.continueOnFailure) {
      report.stoppedAt = wave.index;
      stopped = {
        wave: wave.index,
        why: `the rollout stopped: wave ${wave.index} (${wave.label}) failed`,
      };
    }
  }
  report.results = run.plan.clusters.map((p) =>
    results.get(p.plan.cluster) ??
      { cluster: p.plan.cluster, outcome: "skipped", applied: [], reason: "in no wave" }
  );
  return report;
}

/**
 * Where a run starts: the first wave not rolled out yet when some of its clusters were pushed
 * already (the rollout reached it, so the wave before finished its bake); else the wave before
 * it (a stop may have cut its bake short: it is gated and baked again, nothing is written).
 * Waves before are done. Past the last wave when all are rolled out.
 */
async function resumeWave(
  waves: Wave[],
  byName: Map<string, PlannedCluster>,
  target: (p: PlannedCluster) => GateTarget | undefined,
): Promise<number> {
  for (const wave of waves) {
    const members = wave.clusters.filter((c) => byName.has(c)).map((c) => byName.get(c)!);
    if (await alreadyRolledOut(members, target, wave)) continue;
    // Some of its clusters were pushed: it started, so the wave before had finished its bake.
    const started = members.some((p) => !p.plan.error && p.plan.steps.length === 0);
    return started ? wave.index : Math.max(1, wave.index - 1);
  }
  return waves.length + 1;
}

/** Every cluster plans no change and passes its gates now: the wave was rolled out before. */
async function alreadyRolledOut(
  members: PlannedCluster[],
  target: (p: PlannedCluster) => GateTarget | undefined,
  wave: Wave,
): Promise<boolean> {
  if (members.some((p) => p.plan.error || p.plan.steps.length > 0)) return false;
  const checks = await Promise.all(members.map(async (p) => {
    const t = target(p);
    if (!t) return false;
    try {
      // At any revision: the repository may have moved on since (a later wave's commit).
      return worstGate(
        await checkGates(t.client, t.desired, undefined, wave.gates, t.ownImages),
      ) ===
        undefined;
    } catch {
      // Not reachable now: not known to be rolled out.
      return false;
    }
  }));
  return checks.every((ok) => ok);
}
