/**
 * Destroy: the uninstall plans, from the same observations as the plan (lib/plan/destroy.ts), and
 * carrying them out — cluster first, then one commit per repository deleting the files.
 */
import {
  type DestroyOptions,
  type DestroyPlan,
  type DestroyStep,
  planDestroy,
} from "../plan/destroy.ts";
import { destroyClusterStep } from "../kube/destroy.ts";
import { mapLimit } from "../util/pool.ts";
import { destroyStepProgress } from "./step_progress.ts";
import { errorMessage } from "../util/redact.ts";
import type { DesiredCluster, PlannedCluster } from "../plan/types.ts";
import type { DestroyResult } from "../plan/results.ts";
import { checkInterrupted, type ClusterEnd, InterruptedError, type RunOptions } from "./options.ts";
import type { FleetSession, RepoSession } from "./session.ts";
import { accessKeyLabel } from "../plan/cluster_key.ts";

/**
 * The uninstall plan of every cluster, from what its plan observed; with the session, also the
 * access keys the repository's provider holds for it.
 */
export function destroyPlans(
  planned: PlannedCluster[],
  o: DestroyOptions,
  session?: FleetSession,
): DestroyPlan[] {
  return planned.map((p) => {
    if (p.plan.error || !p.observed || !p.desired) {
      return { cluster: p.plan.cluster, steps: [], error: p.plan.error ?? "not observed" };
    }
    return planDestroy(p.desired, p.observed.repo, p.observed.cluster, o, clusterKeys(p, session));
  });
}

/** The cluster's access keys, as its repository's provider listed them when observed. */
function clusterKeys(
  p: PlannedCluster,
  session: FleetSession | undefined,
): { label: string; ids: number[] } | undefined {
  const s = session?.clusters.get(p.plan.cluster);
  const provider = s?.repo.provider;
  if (!s || !provider?.clusterKeys) return undefined;
  const label = accessKeyLabel(s.config.name, s.config.path, s.config.flux.namespace);
  return { label, ids: provider.clusterKeys(label) };
}

export async function destroyFleet(
  plans: DestroyPlan[],
  planned: PlannedCluster[],
  session: FleetSession,
  opts: RunOptions,
): Promise<DestroyResult[]> {
  const desired = new Map(planned.map((p) => [p.plan.cluster, p.desired]));
  // Cluster first: with the sync objects gone, Flux cannot re-apply what git still holds.
  const hasFiles = (cluster: string) =>
    plans.find((p) => p.cluster === cluster)!.steps.some((st) => st.kind === "file") &&
    session.repos.some((g) => g.checkout && g.clusters.includes(cluster));
  const results = await mapLimit(plans, opts.concurrency, async (p): Promise<DestroyResult> => {
    const r = await destroyCluster(p, desired.get(p.cluster), session, opts);
    // A cluster whose files go in a commit ends with that commit; the others end here.
    if ((r.outcome === "destroyed" || r.outcome === "unchanged") && hasFiles(p.cluster)) {
      opts.onEvent?.(p.cluster, "waiting for the commit removing its files");
    } else opts.onEnd?.(p.cluster, destroyEnd(r));
    return r;
  });
  // Then one commit per repository deleting the files of the clusters that were uninstalled.
  await mapLimit(session.repos, opts.concurrency, async (g) => {
    const members = results.filter((r) =>
      (r.outcome === "destroyed" || r.outcome === "unchanged") && g.clusters.includes(r.cluster)
    );
    try {
      await removeFiles(g, members, plans);
    } catch (e) {
      for (const r of members) Object.assign(r, { outcome: "failed", error: errorMessage(e) });
    }
    for (const r of members) if (hasFiles(r.cluster)) opts.onEnd?.(r.cluster, destroyEnd(r));
  });
  return results;
}

function destroyEnd(r: DestroyResult): ClusterEnd {
  if (r.outcome === "failed") return { status: "failed", summary: `failed: ${r.error}` };
  if (r.outcome === "interrupted") return { status: "skipped", summary: `skipped: ${r.reason}` };
  const steps = r.done.length ? ` (${r.done.length} step${r.done.length === 1 ? "" : "s"})` : "";
  return { status: "done", summary: `${r.outcome}${steps}` };
}

async function destroyCluster(
  p: DestroyPlan,
  desired: DesiredCluster | undefined,
  session: FleetSession,
  opts: RunOptions,
): Promise<DestroyResult> {
  if (p.error) return { cluster: p.cluster, outcome: "failed", done: [], error: p.error };
  if (p.steps.length === 0) return { cluster: p.cluster, outcome: "unchanged", done: [] };
  const s = session.clusters.get(p.cluster)!;
  const done: DestroyStep[] = [];
  try {
    checkInterrupted(opts.signal, "starting");
    for (const step of p.steps) {
      if (step.kind === "file") continue;
      const doing = destroyStepProgress(step);
      checkInterrupted(opts.signal, doing);
      opts.onEvent?.(p.cluster, doing);
      if (step.kind === "accessKey") await s.repo.provider!.removeKeys!(step.ids);
      else await destroyClusterStep(s.client!, desired!, step);
      done.push(step);
    }
    return { cluster: p.cluster, outcome: "destroyed", done };
  } catch (e) {
    // Stopped by Ctrl-C before anything was removed: skipped, not failed.
    if (e instanceof InterruptedError && done.length === 0) {
      return {
        cluster: p.cluster,
        outcome: "interrupted",
        done,
        reason: `interrupted before ${e.before}`,
      };
    }
    return { cluster: p.cluster, outcome: "failed", done, error: errorMessage(e) };
  }
}

/** One commit deleting the files of `members` (uninstalled clusters of the repository). */
async function removeFiles(
  g: RepoSession,
  members: DestroyResult[],
  plans: DestroyPlan[],
): Promise<void> {
  const deletions = members.flatMap((r) =>
    plans.find((p) => p.cluster === r.cluster)!.steps.flatMap((st) =>
      st.kind === "file" ? [{ path: st.path, content: null }] : []
    )
  );
  if (deletions.length === 0 || !g.checkout) return;
  const names = members.map((r) => r.cluster).join(", ");
  await g.remote!.push(
    g.checkout,
    deletions,
    `Remove Flux manifests for ${names}`,
    g.owner.git.author,
  );
  for (const r of members) {
    r.done.push(
      ...plans.find((p) => p.cluster === r.cluster)!.steps.filter((st) => st.kind === "file"),
    );
    r.outcome = "destroyed";
  }
}
