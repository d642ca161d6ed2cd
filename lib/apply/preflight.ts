/**
 * Pre-flight of a cluster that gets a Flux release (installed or changed): its Kubernetes version
 * against the release's minimum, and the storage migrations the release's CRDs need (planned as
 * `migrate` steps, lib/plan/preflight.ts). The migrations run before the repository's commit is
 * pushed: Flux applies the new CRDs from git, and the API server refuses them until then.
 */
import type { PlannedCluster, Step } from "../plan/types.ts";
import { kubernetesVersionProblem, liveCrd, planMigrations } from "../plan/preflight.ts";
import { fluxCrds, migrateCrd, serverVersion } from "../kube/migrate.ts";
import { mapLimit } from "../util/pool.ts";
import { errorMessage } from "../util/redact.ts";
import type { RunOptions } from "./options.ts";
import type { ClusterSession, FleetSession } from "./session.ts";

function changesRelease(steps: Step[]): boolean {
  return steps.some((st) =>
    st.kind === "components" || (st.kind === "file" && st.path.endsWith("/gotk-components.yaml"))
  );
}

/** The plan with the pre-flight's verdict: an error, or the migrations first. Reads only. */
export async function withPreflight(
  planned: PlannedCluster,
  s: ClusterSession,
): Promise<PlannedCluster> {
  const plan = planned.plan;
  if (plan.error || !planned.desired || !s.client || !changesRelease(plan.steps)) return planned;
  try {
    const version = await serverVersion(s.client);
    const tooOld = version && kubernetesVersionProblem(s.config.flux.version, version);
    if (tooOld) throw new Error(tooOld);
    const live = (await fluxCrds(s.client)).map(liveCrd);
    const migrations = planMigrations(planned.desired.components, live);
    if (migrations.length === 0) return planned;
    return { ...planned, plan: { ...plan, steps: [...migrations, ...plan.steps] } };
  } catch (e) {
    return { ...planned, plan: { ...plan, steps: [], error: `pre-flight: ${errorMessage(e)}` } };
  }
}

/** Runs every planned migration before anything is pushed; the clusters where one failed. */
export async function migrateBeforePush(
  clusters: PlannedCluster[],
  session: FleetSession,
  opts: RunOptions,
): Promise<Map<string, string>> {
  const failed = new Map<string, string>();
  const migrating = clusters.filter((p) => p.plan.steps.some((st) => st.kind === "migrate"));
  await mapLimit(migrating, opts.concurrency, async (p) => {
    const s = session.clusters.get(p.plan.cluster)!;
    for (const step of p.plan.steps) {
      if (step.kind !== "migrate") continue;
      if (opts.signal?.aborted) {
        failed.set(p.plan.cluster, "interrupted before the storage migration");
        return;
      }
      opts.onEvent?.(p.plan.cluster, `migrating ${step.crd} to ${step.version}`);
      try {
        await migrateCrd(s.client!, step.crd, step.version);
      } catch (e) {
        failed.set(p.plan.cluster, `migrating ${step.crd}: ${errorMessage(e)}`);
        return;
      }
    }
  });
  return failed;
}
