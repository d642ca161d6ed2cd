/**
 * Waiting on gates: until a cluster passes them all (after its wave's commit), and holding a
 * wave's clusters healthy for the bake time. A gate that fails on two polls in a row fails the
 * cluster with what its condition said; the cluster's flux.timeout bounds the wait.
 */
import type { KubeClient } from "../kube/client.ts";
import type { DesiredCluster } from "../plan/types.ts";
import { checkGates, type GateState, worstGate } from "./gates.ts";
import type { Gate } from "./waves.ts";

/** A cluster failed a gate: which one and what its condition said. */
export class GateError extends Error {
  constructor(readonly gate: string, readonly condition: string) {
    super(`gate ${gate}: ${condition}`);
    this.name = "GateError";
  }
}

export interface GateTarget {
  cluster: string;
  client: KubeClient;
  desired: DesiredCluster;
  revision: string | undefined;
  /** The repository builds the components from its own kustomization.yaml: images not compared. */
  ownImages?: boolean;
}

/**
 * Between gate polls: a wave waits for its slowest cluster, and each poll late is time the whole
 * rollout loses (bench/rollout.ts). Four GETs per cluster per poll, one of them a list.
 */
export const DEFAULT_INTERVAL_MS = 500;

export interface WaitOptions {
  gates: Gate[];
  /** Between polls (default DEFAULT_INTERVAL_MS; the first ones come sooner). */
  intervalMs?: number;
  signal?: AbortSignal;
  onWait?(cluster: string, message: string): void;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });

/** Polls until every gate passes; GateError when one fails twice in a row or time runs out. */
export async function waitForGates(t: GateTarget, opts: WaitOptions): Promise<void> {
  const deadline = Date.now() + t.desired.timeoutMs;
  let failedBefore: string | undefined;
  // Quick first polls (a cluster is often healthy within a second), then every intervalMs: the
  // wave waits for its slowest cluster, and each poll late is time the whole rollout loses.
  let interval = Math.min(200, opts.intervalMs ?? DEFAULT_INTERVAL_MS);
  while (true) {
    const worst = worstGate(
      await checkGates(t.client, t.desired, t.revision, opts.gates, t.ownImages),
    );
    if (!worst) return;
    if (worst.state === "fail") {
      if (failedBefore === worst.gate) throw new GateError(worst.gate, worst.message);
      failedBefore = worst.gate;
    } else failedBefore = undefined;
    if (opts.signal?.aborted) {
      throw new GateError(worst.gate, `interrupted while waiting; last status: ${worst.message}`);
    }
    if (Date.now() >= deadline) {
      throw new GateError(
        worst.gate,
        `not healthy within ${
          Math.round(t.desired.timeoutMs / 1000)
        }s (flux.timeout); last status: ${worst.message}`,
      );
    }
    opts.onWait?.(t.cluster, `gate ${worst.gate}: ${worst.message}`);
    await sleep(interval, opts.signal);
    interval = Math.min(opts.intervalMs ?? DEFAULT_INTERVAL_MS, interval * 1.5);
  }
}

/**
 * The bake: every cluster must keep passing its gates for `bakeMs`. A gate that fails (Ready=
 * False, a Deployment unavailable) fails its cluster at once; a pending one (a reconcile in
 * progress) is tolerated, but all must pass when the time is up. Returns the clusters that failed.
 */
export async function holdHealthy(
  targets: GateTarget[],
  bakeMs: number,
  opts: WaitOptions,
): Promise<{ cluster: string; error: GateError }[]> {
  const failed = new Map<string, GateError>();
  const end = Date.now() + bakeMs;
  const poll = async () => {
    await Promise.all(
      targets.filter((t) => !failed.has(t.cluster)).map(async (t) => {
        let states: GateState[];
        try {
          states = await checkGates(t.client, t.desired, t.revision, opts.gates, t.ownImages);
        } catch (e) {
          failed.set(t.cluster, new GateError("the cluster's API", (e as Error).message));
          return;
        }
        const bad = states.find((s) => s.state === "fail");
        if (bad) failed.set(t.cluster, new GateError(bad.gate, `during the bake: ${bad.message}`));
      }),
    );
  };
  while (Date.now() < end && !opts.signal?.aborted) {
    await poll();
    await sleep(
      Math.min(opts.intervalMs ?? DEFAULT_INTERVAL_MS, Math.max(0, end - Date.now())),
      opts.signal,
    );
  }
  // At the end every gate must pass; one still settling gets its cluster's timeout to.
  const settling = targets.filter((t) => !failed.has(t.cluster));
  await Promise.all(settling.map(async (t) => {
    try {
      await waitForGates(t, opts);
    } catch (e) {
      failed.set(t.cluster, e instanceof GateError ? e : new GateError("?", String(e)));
    }
  }));
  return [...failed].map(([cluster, error]) => ({ cluster, error }));
}
