/** What apply and destroy did per cluster: data, rendered by lib/report. */
import type { Step } from "./types.ts";
import type { DestroyStep } from "./destroy.ts";

/**
 * How a cluster's apply ended. Never started: `skipped` (another cluster failed, --fail-fast) or
 * `interrupted` (Ctrl-C, SIGTERM…); both say why in `reason` and are reported as skipped.
 */
export type Outcome = "unchanged" | "changed" | "failed" | "skipped" | "interrupted";

export interface ClusterResult {
  cluster: string;
  outcome: Outcome;
  applied: Step[];
  error?: string;
  /** Why a skipped cluster was not started. */
  reason?: string;
  revision?: string;
  /** Generated-key mode: the SSH key this apply generated (public half). */
  generatedKey?: { publicKey: string; fingerprint: string };
}

export interface DestroyResult {
  cluster: string;
  /** interrupted: never started (Ctrl-C), reported as skipped. */
  outcome: "destroyed" | "unchanged" | "failed" | "interrupted";
  done: DestroyStep[];
  error?: string;
  /** Why a skipped cluster was not started. */
  reason?: string;
}

/** The outcome as reports show it: a cluster never started is skipped, whatever stopped it. */
export function shownOutcome<O extends string>(o: O): Exclude<O, "interrupted"> | "skipped" {
  return o === "interrupted" ? "skipped" : o as Exclude<O, "interrupted">;
}
