/**
 * Counting a provider's API requests from the sandbox's own records (server side): in total, by
 * method, per repository (the requests whose path names it) and per cluster.
 */
import type { ApiCall, ProviderSite } from "./provider_sites.ts";
import { type Spread, spread } from "./stats.ts";

export interface CallCounts {
  total: number;
  /** e.g. { GET: 20 }. */
  byMethod: Record<string, number>;
  /** Anything but GET, HEAD and OPTIONS. */
  mutating: number;
  /** Requests naming each repository of the fleet, over its repositories. */
  perRepo: Spread;
  /** Requests naming no repository (e.g. GitLab's one token check of a run). */
  runLevel: number;
  /** total ÷ clusters. */
  perCluster: number;
  /** The first repository's requests, e.g. "GET /repos/acme/fleet-00/keys → 200". */
  sample: string[];
}

export function isMutating(method: string): boolean {
  return !["GET", "HEAD", "OPTIONS"].includes(method.toUpperCase());
}

export function callCounts(
  site: ProviderSite,
  calls: readonly ApiCall[],
  repos: string[],
  clusters: number,
): CallCounts {
  const byMethod: Record<string, number> = {};
  const byRepo = new Map<string, number>();
  let runLevel = 0;
  for (const c of calls) {
    byMethod[c.method] = (byMethod[c.method] ?? 0) + 1;
    const repo = site.repoOfPath(c.path);
    if (repo !== undefined && repos.includes(repo)) byRepo.set(repo, (byRepo.get(repo) ?? 0) + 1);
    else runLevel++;
  }
  return {
    total: calls.length,
    byMethod,
    mutating: calls.filter((c) => isMutating(c.method)).length,
    perRepo: spread(repos.map((r) => byRepo.get(r) ?? 0)),
    runLevel,
    perCluster: calls.length / clusters,
    sample: calls.filter((c) => site.repoOfPath(c.path) === repos[0]).map((c) =>
      `${c.method} ${c.path} → ${c.status}`
    ),
  };
}

/** "20 (GET 20; 2 a repository (2–2), 0 naming none; 0.20 a cluster; 0 mutating)" */
export function describeCalls(c: CallCounts): string {
  const methods = Object.entries(c.byMethod).map(([m, n]) => `${m} ${n}`).join(", ") || "none";
  return `${c.total} (${methods}); ${c.perRepo.median} a repository (${c.perRepo.min}–${c.perRepo.max})` +
    `, ${c.runLevel} naming no repository; ${
      c.perCluster.toFixed(2)
    } a cluster; ${c.mutating} mutating`;
}

/** Whether two runs asked the same: the same counts by method and per repository. */
export function callsKey(c: CallCounts): string {
  return JSON.stringify([c.total, c.byMethod, c.perRepo, c.runLevel]);
}
