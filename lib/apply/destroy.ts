/** Carry out destroy plans: cluster first, then one commit per repository deleting the files. */
import { type DestroyPlan, type DestroyStep } from "../plan/destroy.ts";
import { destroyClusterStep } from "../kube/destroy.ts";
import { mapLimit } from "../util/pool.ts";
import { destroyStepProgress } from "./step_progress.ts";
import { errorMessage } from "../util/redact.ts";
import {
  checkInterrupted,
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
  const results = await mapLimit(plans, opts.concurrency, async (p): Promise<DestroyResult> => {
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
  });
  // Then one commit per repository deleting the files of the clusters that were uninstalled.
  await mapLimit([...groups.values()], opts.concurrency, async (g) => {
    const members = results.filter((r) =>
      (r.outcome === "destroyed" || r.outcome === "unchanged") && g.clusters.includes(r.cluster)
    );
    const deletions = members.flatMap((r) =>
      plans.find((p) => p.cluster === r.cluster)!.steps.flatMap((st) =>
        st.kind === "file" ? [{ path: st.path, content: null }] : []
      )
    );
    if (deletions.length === 0 || !g.checkout) return;
    const names = members.map((r) => r.cluster).join(", ");
    try {
      await g.remote!.push(
        g.checkout,
        deletions,
        `Remove Flux manifests for ${names}`,
        g.author,
      );
      for (const r of members) {
        r.done.push(
          ...plans.find((p) => p.cluster === r.cluster)!.steps.filter((st) => st.kind === "file"),
        );
        r.outcome = "destroyed";
      }
    } catch (e) {
      for (const r of members) Object.assign(r, { outcome: "failed", error: errorMessage(e) });
    }
  });
  return results;
}
