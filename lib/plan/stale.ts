/** Compares a saved plan with a fresh one: any difference makes the saved plan stale. */
import type { ClusterPlanView } from "./types.ts";

export interface SavedPlan {
  manifestDigest?: string;
  clusters: ClusterPlanView[];
}

export function staleReasons(
  saved: SavedPlan,
  manifestDigest: string,
  fresh: ClusterPlanView[],
): string[] {
  const reasons: string[] = [];
  if (saved.manifestDigest !== manifestDigest) reasons.push("the manifest file changed");
  const byName = new Map(fresh.map((p) => [p.cluster, p]));
  for (const old of saved.clusters) {
    const now = byName.get(old.cluster);
    if (!now) {
      reasons.push(`cluster "${old.cluster}" is no longer selected`);
      continue;
    }
    if (old.error || now.error) {
      reasons.push(`cluster "${old.cluster}" could not be planned`);
    } else if (old.observed !== now.observed) {
      reasons.push(`cluster "${old.cluster}" or its repository changed since the plan was made`);
    } else if ((old.sshKey?.publicKey ?? null) !== (now.sshKey?.publicKey ?? null)) {
      // The digest holds the secret's key names only; the key the plan showed (and the user
      // added to the repository) is the one that must be applied.
      reasons.push(
        `cluster "${old.cluster}": the SSH key in its secret is not the one the plan showed (${
          old.sshKey?.fingerprint ?? "generated at apply"
        }, now ${now.sshKey?.fingerprint ?? "generated at apply"})`,
      );
    } else if (JSON.stringify(old.steps) !== JSON.stringify(now.steps)) {
      reasons.push(`cluster "${old.cluster}" would now get different steps`);
    } else if (old.payload !== undefined && old.payload !== now.payload) {
      // Same steps, other contents: a download of flux.manifests that changed, say.
      reasons.push(
        `cluster "${old.cluster}": what apply would write differs from the saved plan (a file's content or an object changed)`,
      );
    }
  }
  for (const p of fresh) {
    if (!saved.clusters.some((c) => c.cluster === p.cluster)) {
      reasons.push(`cluster "${p.cluster}" was not in the saved plan`);
    }
  }
  return reasons;
}
