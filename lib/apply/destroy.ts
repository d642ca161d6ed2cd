/** Carry out destroy plans: cluster first, then one commit per repository deleting the files. */
import { type DestroyPlan, type DestroyStep } from "../plan/destroy.ts";
import { destroyClusterStep } from "../kube/destroy.ts";
import { mapLimit } from "../util/pool.ts";
import { destroyStepProgress } from "./step_progress.ts";
import { errorMessage } from "../util/redact.ts";
import {
  checkInterrupted,
  type ClusterEnd,
  type ClusterState,
  type DestroyResult,
  InterruptedError,
  type RepoGroup,
  type RunOptions,
} from "./state.ts";

export async function destroyFleet(
  plans: DestroyPlan[],
  states: Map<string, ClusterState>,
  groups: Map<string, RepoGroup>,
  opts: RunOptions,
): Promise<DestroyResult[]> {
  // Cluster first: with the sync objects gone, Flux cannot re-apply what git still holds.
  const hasFiles = (cluster: string) =>
    plans.find((p) => p.cluster === cluster)!.steps.some((st) => st.kind === "file") &&
    [...groups.values()].some((g) => g.checkout && g.clusters.includes(cluster));
  const results = await mapLimit(plans, opts.concurrency, async (p): Promise<DestroyResult> => {
    const r = await destroyCluster(p, states, opts);
    // A cluster whose files go in a commit ends with that commit; the others end here.
    if ((r.outcome === "destroyed" || r.outcome === "unchanged") && hasFiles(p.cluster)) {
      opts.onEvent?.(p.cluster, "waiting for the commit removing its files");
    } else opts.onEnd?.(p.cluster, destroyEnd(r));
    return r;
  });
  // Then one commit per repository deleting the files of the clusters that were uninstalled.
  await mapLimit([...groups.values()], opts.concurrency, async (g) => {
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
  if (r.outcome === "skipped") return { status: "skipped", summary: `skipped: ${r.reason}` };
  const steps = r.done.length ? ` (${r.done.length} step${r.done.length === 1 ? "" : "s"})` : "";
  return { status: "done", summary: `${r.outcome}${steps}` };
}

async function destroyCluster(
  p: DestroyPlan,
  states: Map<string, ClusterState>,
  opts: RunOptions,
): Promise<DestroyResult> {
  if (p.error) return { cluster: p.cluster, outcome: "failed", done: [], error: p.error };
  if (p.steps.length === 0) return { cluster: p.cluster, outcome: "unchanged", done: [] };
  const s = states.get(p.cluster)!;
  const done: DestroyStep[] = [];
  try {
    checkInterrupted(opts.signal, "starting");
    for (const step of p.steps) {
      if (step.kind === "file") continue;
      const doing = destroyStepProgress(step);
      checkInterrupted(opts.signal, doing);
      opts.onEvent?.(p.cluster, doing);
      await destroyClusterStep(s.client!, s.desired, step);
      done.push(step);
    }
    return { cluster: p.cluster, outcome: "destroyed", done };
  } catch (e) {
    // Stopped by Ctrl-C before anything was removed: skipped, not failed.
    if (e instanceof InterruptedError && done.length === 0) {
      return {
        cluster: p.cluster,
        outcome: "skipped",
        done,
        reason: `interrupted before ${e.before}`,
      };
    }
    return { cluster: p.cluster, outcome: "failed", done, error: errorMessage(e) };
  }
}

/** One commit deleting the files of `members` (uninstalled clusters of the repository). */
async function removeFiles(
  g: RepoGroup,
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
  await g.remote!.push(g.checkout, deletions, `Remove Flux manifests for ${names}`, g.author);
  for (const r of members) {
    r.done.push(
      ...plans.find((p) => p.cluster === r.cluster)!.steps.filter((st) => st.kind === "file"),
    );
    r.outcome = "destroyed";
  }
}
