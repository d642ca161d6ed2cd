/**
 * A run over a whole manifest: the local checks (before any contact), then observe every
 * repository and cluster with bounded concurrency, and plan each once. The plan is data
 * (FleetPlan); apply and destroy carry it out through the run's session.
 */
import type { ClusterConfig, Manifest } from "../config/types.ts";
import type { ClusterPlan, FleetPlan } from "../plan/types.ts";
import type { DestroyOptions, DestroyPlan } from "../plan/destroy.ts";
import type { ClusterResult, DestroyResult } from "../plan/results.ts";
import { mapLimit } from "../util/pool.ts";
import { errorMessage } from "../util/redact.ts";
import type { RunOptions } from "./options.ts";
import { resolveLocal } from "./local.ts";
import { componentsSource } from "./components.ts";
import { openSession } from "./session.ts";
import { observeRepository } from "./observe.ts";
import {
  planCluster,
  planEnd,
  planRepositories,
  withDeprecations,
  withSigning,
  withSourceWarning,
} from "./planning.ts";
import { withDeadline } from "./deadline.ts";
import { applyPlan } from "./execute.ts";
import { destroyFleet, destroyPlans } from "./destroy.ts";

export type { ClusterResult, DestroyResult, RunOptions };
export { resolveLocal };

export interface FleetRun {
  /** The plan: data, carried out as it is by apply. */
  plan: FleetPlan;
  /** Each cluster's plan as shown. */
  plans: ClusterPlan[];
  /** Carries out the plan (same session: the clones and connections of the observation). */
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
  const creds = await resolveLocal(manifest, clusters, opts.secrets);
  // The local checks passed: from here on servers are contacted (progress starts showing).
  opts.onChecked?.();
  const source = componentsSource(opts);
  for (const c of clusters) await source.components(c);
  const session = await openSession(clusters, creds, opts);
  try {
    // One shallow fetch per repository, shared by every cluster that uses it.
    await mapLimit(session.repos, opts.concurrency, async (r, i) => {
      const tracker = { phase: `fetching ${r.url}` };
      for (const c of r.clusters) opts.onEvent?.(c, `fetching ${r.url} (${r.branch})`);
      try {
        await withDeadline(opts.clusterTimeoutMs, tracker, async (deadline) => {
          r.deadline = deadline;
          await observeRepository(r, `${session.workspace}/repo-${i}`, session, opts);
        });
      } catch (e) {
        r.error = errorMessage(e);
      }
    });
    const planned = await mapLimit([...session.clusters.values()], opts.concurrency, async (s) => {
      const p = withDeprecations(
        withSourceWarning(
          withSigning(await planCluster(s, session, source, opts), s),
          s.config,
          await source.manifests(s.config),
        ),
        s.config,
      );
      opts.onEnd?.(s.config.name, planEnd(p.plan));
      return p;
    });
    const plan: FleetPlan = { clusters: planned, repositories: planRepositories(session, planned) };
    return {
      plan,
      plans: planned.map((p) => p.plan),
      close: () => session.close(),
      apply: () => applyPlan(plan, session, opts),
      destroyPlans: (o) => destroyPlans(planned, o, session),
      destroy: (d) => destroyFleet(d, planned, session, opts),
    };
  } catch (e) {
    await session.close();
    throw e;
  }
}
