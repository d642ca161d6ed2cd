/** A rollout in words and in JSON: the waves a plan will go through, and what apply did in each. */
import type { ClusterPlan } from "../plan/types.ts";
import { formatGoDuration } from "../config/duration.ts";
import type { Gate, Wave } from "../rollout/waves.ts";
import type { RolloutReport } from "../rollout/types.ts";
import { plural } from "../util/words.ts";

/** The gates every cluster passes, whatever the manifest adds. */
export const BUILT_IN_GATES =
  "GitRepository and Kustomization flux-system Ready at the new revision; every controller Deployment Available with the release's images";

export interface WavePlanView {
  index: number;
  label: string;
  clusters: string[];
  /** The clusters of the wave whose plan has steps. */
  changing: string[];
  maxParallel: number;
  bake: string;
  maxFailures: number;
  gates: Gate[];
}

export function rolloutPlanView(waves: Wave[], plans: ClusterPlan[]): { waves: WavePlanView[] } {
  const byName = new Map(plans.map((p) => [p.cluster, p]));
  return {
    waves: waves.map((w) => {
      const clusters = w.clusters.filter((c) => byName.has(c));
      return {
        index: w.index,
        label: w.label,
        clusters,
        changing: clusters.filter((c) => byName.get(c)!.steps.length > 0),
        maxParallel: w.maxParallel,
        bake: formatGoDuration(w.bakeMs),
        maxFailures: w.maxFailures,
        gates: w.gates,
      };
    }),
  };
}

function describeGate(g: Gate): string {
  return `${g.kind} ${g.namespace}/${g.name} Ready`;
}

export function renderRolloutPlanText(waves: Wave[], plans: ClusterPlan[]): string {
  const view = rolloutPlanView(waves, plans).waves.filter((w) => w.clusters.length > 0);
  const lines = [`Rollout in ${plural(view.length, "wave")}; gates: ${BUILT_IN_GATES}.`];
  for (const w of view) {
    lines.push(
      `  wave ${w.index} (${w.label}): ${w.clusters.join(", ")}`,
      `    ${
        w.changing.length === 0 ? "nothing to change" : `${w.changing.length} to change`
      }; ${w.maxParallel} at once, bake ${w.bake}, at most ${w.maxFailures} ${
        w.maxFailures === 1 ? "failure" : "failures"
      }${w.gates.length > 0 ? `; also ${w.gates.map(describeGate).join(", ")}` : ""}`,
    );
  }
  return `${lines.join("\n")}\n`;
}

export function rolloutResultView(report: RolloutReport) {
  return {
    waves: report.waves.map((w) => ({
      index: w.index,
      label: w.label,
      clusters: w.clusters,
      state: w.state,
      failures: w.failures,
    })),
    ...(report.stoppedAt !== undefined ? { stoppedAt: report.stoppedAt } : {}),
  };
}

const STATE_WORDS = {
  already: "already rolled out (nothing done)",
  done: "healthy",
  failed: "failed",
  skipped: "not started",
};

export function renderRolloutText(report: RolloutReport): string {
  const lines = ["Rollout:"];
  for (const w of report.waves.filter((w) => w.clusters.length > 0)) {
    lines.push(
      `  wave ${w.index} (${w.label}): ${STATE_WORDS[w.state]} — ${w.clusters.join(", ")}`,
    );
    for (const f of w.failures) {
      lines.push(`    ✗ ${f.cluster}: ${f.gate ? `gate ${f.gate}: ` : ""}${f.message}`);
    }
  }
  if (report.stoppedAt !== undefined) {
    const untouched = report.waves.filter((w) => w.state === "skipped")
      .reduce((n, w) => n + w.clusters.length, 0);
    lines.push(
      `Stopped after wave ${report.stoppedAt}: ${
        plural(untouched, "cluster")
      } of later waves untouched. Fix the cause and run apply again to resume (or pass --continue-on-failure).`,
    );
  }
  return `${lines.join("\n")}\n`;
}
