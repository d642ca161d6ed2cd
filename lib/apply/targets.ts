/**
 * Two clusters of one manifest that reach the same Kubernetes API server with the same Flux
 * namespace share one Flux installation — one GitRepository and one Kustomization, named after
 * the namespace — so the second would silently re-point the first's sync to its own path. Found
 * from the kubeconfigs (local files) before anything is contacted. Pure but for reading them.
 */
import type { Manifest } from "../config/types.ts";
import type { ConfigProblem } from "../config/errors.ts";
import { resolveKubeServer } from "../kube/kubeconfig.ts";

/**
 * One key per API server however the kubeconfig spells it: scheme and host in lower case, the
 * default port and a trailing `/` dropped (two context names for one server are one cluster).
 */
export function apiServerKey(server: string): string {
  try {
    const u = new URL(server.trim());
    return `${u.protocol}//${u.host}${u.pathname.replace(/\/+$/, "")}`;
  } catch {
    // Never print what may be credentials in an unreadable URL.
    return server.trim().replace(/^[^/]*\/\/[^/@]*@/, "").replace(/\/+$/, "").toLowerCase();
  }
}

/**
 * A problem for each cluster whose API server and Flux namespace an earlier cluster already
 * has. Every cluster of the manifest counts, also those not selected for this run; a cluster
 * whose kubeconfig cannot be read is left out (it is reported when it is selected).
 */
export function sharedInstallationProblems(manifest: Manifest): ConfigProblem[] {
  const seen = new Map<string, { cluster: string; server: string }>();
  const problems: ConfigProblem[] = [];
  for (const c of manifest.clusters) {
    let server: string;
    try {
      server = resolveKubeServer(c.kube);
    } catch {
      continue;
    }
    const key = `${apiServerKey(server)}#${c.flux.namespace}`;
    const first = seen.get(key);
    if (!first) {
      seen.set(key, { cluster: c.name, server });
      continue;
    }
    problems.push({
      location: manifest.locate?.(c.name, "kube.context"),
      file: manifest.file,
      cluster: c.name,
      field: "kube.context",
      message:
        `reaches the same Kubernetes API server (${
          apiServerKey(server)
        }) and Flux namespace ${c.flux.namespace} as cluster "${first.cluster}": both would be one ` +
        "Flux installation, whose Kustomization syncs only one path; give each cluster its own " +
        "cluster (kube.context), or its own flux.namespace",
    });
  }
  return problems;
}
