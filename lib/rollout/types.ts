/** What a rollout in waves did (lib/rollout/run.ts): data, rendered by lib/report/rollout.ts. */
import type { ClusterResult } from "../plan/results.ts";

export interface WaveFailure {
  cluster: string;
  /** The gate that failed; absent when the cluster failed before its gates (a step). */
  gate?: string;
  message: string;
}

export interface WaveOutcome {
  index: number;
  label: string;
  clusters: string[];
  /** already: rolled out before this run; skipped: not started (the rollout stopped before). */
  state: "already" | "done" | "failed" | "skipped";
  failures: WaveFailure[];
}

export interface RolloutReport {
  waves: WaveOutcome[];
  results: ClusterResult[];
  /** The wave whose failures stopped the rollout. */
  stoppedAt?: number;
}
