/** What apply and destroy did per cluster: data, rendered by lib/report. */
import type { Step } from "./types.ts";
import type { DestroyStep } from "./destroy.ts";

export interface ClusterResult {
  cluster: string;
  /** skipped: never started (another cluster failed under --fail-fast, or Ctrl-C). */
  outcome: "unchanged" | "changed" | "failed" | "skipped";
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
  /** skipped: never started (Ctrl-C). */
  outcome: "destroyed" | "unchanged" | "failed" | "skipped";
  done: DestroyStep[];
  error?: string;
  /** Why a skipped cluster was not started. */
  reason?: string;
}
