/**
 * A digest of what was observed for one cluster, saved with a plan so that `apply --plan-file`
 * can refuse a stale plan (like Terraform). Secret values never enter it: only key names.
 */
import { createHash } from "node:crypto";
import type { ObservedCluster, ObservedFluxObject, ObservedRepo } from "./types.ts";

function fluxPart(o: ObservedFluxObject | undefined) {
  return o ? { spec: o.spec, generation: o.generation, revision: o.revision ?? null } : null;
}

/** Stable JSON: object keys sorted, so equal states give equal digests. */
function stable(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stable).join(",")}]`;
  if (v && typeof v === "object") {
    const entries = Object.entries(v as Record<string, unknown>)
      .filter(([, x]) => x !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${stable(x)}`).join(",")}}`;
  }
  return JSON.stringify(v ?? null);
}

export function observedDigest(repo: ObservedRepo, cluster: ObservedCluster): string {
  const state = {
    repo: { head: repo.head, branchExists: repo.branchExists, files: repo.files },
    cluster: {
      namespace: cluster.namespace,
      secretKeys: cluster.secret ? Object.keys(cluster.secret).sort() : null,
      // Only for clusters with an image pull secret (undefined is left out: other digests stay).
      pullSecret: cluster.pullSecret
        ? { type: cluster.pullSecret.type, keys: Object.keys(cluster.pullSecret.data).sort() }
        : undefined,
      gitRepository: fluxPart(cluster.gitRepository),
      kustomization: fluxPart(cluster.kustomization),
    },
  };
  return "sha256:" + createHash("sha256").update(stable(state)).digest("hex");
}
