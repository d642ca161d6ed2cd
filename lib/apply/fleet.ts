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
import type { RunOptions } from "./options.ts";
import { resolveLocal } from "./local.ts";
import { componentsSource } from "./components.ts";
import { type FleetSession, openSession, releaseRepository } from "./session.ts";
import { observeRepositories } from "./observe.ts";
import {
  type ClusterApiRead,
  planCluster,
  planEnd,
  planRepositories,
  readClusterApi,
  withDeprecations,
  withSigning,
  withSourceWarning,
} from "./planning.ts";
import { applyPlan } from "./execute.ts";
import { withPreflight } from "./preflight.ts";
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
  /** The live side of the run and its options, for a rollout in waves (lib/rollout). */
  session: FleetSession;
  options: RunOptions;
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
  const session = await openSession(clusters, creds, opts, manifest.clusters);
  try {
    // One shallow fetch per repository, shared by every cluster that uses it, at the same time
    // as the clusters' API reads: a cluster waits for its repository only to read its files.
    const fetching = observeRepositories(session, opts);
    // The clusters' API reads go on, `concurrency` at a time, whether or not their repositories
    // are fetched yet: a cluster waiting for its repository holds no place among them (the first
    // clusters all wait for the first repository). Planning, once both are there, has places of
    // its own (it may contact the repository's server: a generated key's check).
    const sessions = [...session.clusters.values()];
    const apiReads = new Map(
      sessions.map((s) => [s, Promise.withResolvers<ClusterApiRead | null>()]),
    );
    const reading = mapLimit(sessions, opts.concurrency, (s) => {
      const read = readClusterApi(s, session, opts);
      // Its planning takes the outcome, a failure too; nobody waits on a read never made.
      apiReads.get(s)!.resolve(read);
      return read.then(() => {}, () => {});
    });
    const planning = mapLimit(sessions, opts.concurrency, async (s) => {
      const apiRead = await apiReads.get(s)!.promise;
      const p = withDeprecations(
        withSourceWarning(
          withSigning(await planCluster(s, source, opts, apiRead), s),
          s.config,
          await source.manifests(s.config),
        ),
        s.config,
      );
      // Pre-flight reads the cluster (its version, stored CRD versions): before its client closes.
      const checked = await withPreflight(p, s);
      if (opts.planOnly) {
        s.client?.close();
        s.client = undefined;
      }
      if (++s.repo.planned === s.repo.clusters.length) {
        await releaseRepository(s.repo, opts.planOnly === true);
      }
      opts.onEnd?.(s.config.name, planEnd(checked.plan));
      return checked;
    });
    // The components (parsing and rendering the release, CPU only) are made once the first
    // requests are out, not before: they are needed only when the first cluster is planned. A
    // source that cannot be read still fails the whole run with one error.
    const components = Promise.all(clusters.map((c) => source.components(c)));
    components.catch(() => {});
    const planned = await planning;
    await reading;
    await fetching;
    await components;
    const plan: FleetPlan = { clusters: planned, repositories: planRepositories(session, planned) };
    return {
      plan,
      plans: planned.map((p) => p.plan),
      session,
      options: opts,
      close: () => session.close(),
      apply: async () => await applyPlan(plan, session, onlyPlanned(opts)),
      destroyPlans: (o) => destroyPlans(planned, o, session),
      destroy: async (d) => await destroyFleet(d, planned, session, onlyPlanned(opts)),
    };
  } catch (e) {
    await session.close();
    throw e;
  }
}

/** A run that only plans has released its checkouts and clients: it cannot carry anything out. */
function onlyPlanned(opts: RunOptions): RunOptions {
  if (opts.planOnly) throw new Error("this run only plans (planOnly): it cannot apply or destroy");
  return opts;
}
