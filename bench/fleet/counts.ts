/**
 * What a run sent, read from the servers' request logs: git requests per repository, API
 * requests per cluster, and when each phase ran (from the arrival stamps of `World`).
 */
import type { GitRequestRecord } from "../../sandbox/git/http_server.ts";
import type { ProcResult } from "./proc.ts";
import { median, type Spread, spread } from "./stats.ts";
import { type Fleet, repoName, type World } from "./world.ts";

export interface RepoCounts {
  infoRefs: number;
  infoRefs401: number;
  uploadPackPosts: number;
  receivePackPosts: number;
}

export function repoOfPath(path: string): string | undefined {
  return /^\/(.+?)\.git\//.exec(path)?.[1];
}

export function gitCounts(records: GitRequestRecord[]): Map<string, RepoCounts> {
  const out = new Map<string, RepoCounts>();
  for (const r of records) {
    const repo = repoOfPath(r.path);
    if (!repo) continue;
    const c = out.get(repo) ??
      { infoRefs: 0, infoRefs401: 0, uploadPackPosts: 0, receivePackPosts: 0 };
    out.set(repo, c);
    const isInfoRefs = r.path.endsWith("/info/refs");
    if (isInfoRefs && r.service === "git-upload-pack") {
      if (r.status === 401) c.infoRefs401++;
      else c.infoRefs++;
    } else if (r.method === "POST" && r.service === "git-upload-pack") c.uploadPackPosts++;
    else if (r.method === "POST" && r.service === "git-receive-pack") c.receivePackPosts++;
  }
  return out;
}

/** Requests of one no-op plan. */
export interface PlanCounts {
  /** Git requests per repository (mean over the fleet's repositories). */
  perRepo: { infoRefs: number; infoRefs401: number; uploadPackPosts: number };
  fetchesPerRepoMax: number;
  reposTouched: number;
  apiPerCluster: Spread;
  apiMutating: number;
  /** The first cluster's requests, e.g. "GET /api/v1/namespaces/flux-system/secrets/… → 200". */
  apiSample: string[];
}

export function planCounts(world: World, f: Fleet, gitRecords: GitRequestRecord[]): PlanCounts {
  const counts = gitCounts(gitRecords);
  const repos = [...new Set(f.members.map(f.repoOf))].map(repoName);
  const sum = { infoRefs: 0, infoRefs401: 0, uploadPackPosts: 0 };
  let fetchesPerRepoMax = 0;
  for (const repo of repos) {
    const c = counts.get(repo);
    sum.infoRefs += c?.infoRefs ?? 0;
    sum.infoRefs401 += c?.infoRefs401 ?? 0;
    sum.uploadPackPosts += c?.uploadPackPosts ?? 0;
    fetchesPerRepoMax = Math.max(fetchesPerRepoMax, c?.infoRefs ?? 0, c?.uploadPackPosts ?? 0);
  }
  const sandboxes = f.members.map((i) => world.sandboxes[i]);
  return {
    perRepo: {
      infoRefs: sum.infoRefs / repos.length,
      infoRefs401: sum.infoRefs401 / repos.length,
      uploadPackPosts: sum.uploadPackPosts / repos.length,
    },
    fetchesPerRepoMax,
    reposTouched: repos.filter((r) => counts.has(r)).length,
    apiPerCluster: spread(sandboxes.map((s) => s.requests.length)),
    apiMutating: sandboxes.reduce((n, s) => n + s.mutatingRequests().length, 0),
    apiSample: sandboxes[0].requests.map((r) =>
      `${r.method} ${r.path}${r.query ? `?${r.query}` : ""} → ${r.status}`
    ),
  };
}

/**
 * Phases of a no-op plan in seconds from spawn: start-up (to the first request), git
 * observation (first to last git request: the last pack is still read and unpacked after it),
 * cluster observation (first to last API request),
 * then the planning of the last clusters (last request → first output byte) and printing and
 * exit (first output byte → exit). Requests are stamped when they arrive at the servers.
 */
export interface PlanTimeline {
  firstRequest: number;
  gitFirst: number;
  gitLast: number;
  apiFirst: number;
  apiLast: number;
  /** First byte of the plan's text on stdout (NaN: none). */
  output: number;
  exit: number;
  /** VmRSS (MiB) sampled at those moments, and the highest sample with its time (s). */
  rss?: { firstRequest: number; gitLast: number; apiLast: number; peak: number; peakAt: number };
}

/** The last sample at or before `t` seconds, in MiB. */
function rssAt(trace: [number, number][], t: number): number {
  let kb = NaN;
  for (const [ms, v] of trace) {
    if (ms / 1000 > t) break;
    kb = v;
  }
  return kb / 1024;
}

export function planTimeline(
  world: World,
  f: Fleet,
  gitRecords: GitRequestRecord[],
  r: ProcResult & { rssTrace?: [number, number][] },
): PlanTimeline {
  const at = (rec: object) => world.at(rec, r.spawnedAt) / 1000;
  const apiTimes = f.members.flatMap((i) => world.sandboxes[i].requests.map(at));
  const gitTimes = gitRecords.map(at);
  const gitFirst = Math.min(...gitTimes);
  const apiFirst = Math.min(...apiTimes);
  const t: PlanTimeline = {
    firstRequest: Math.min(gitFirst, apiFirst),
    gitFirst,
    gitLast: Math.max(...gitTimes),
    apiFirst,
    apiLast: Math.max(...apiTimes),
    output: (r.firstStdoutMs ?? NaN) / 1000,
    exit: r.ms / 1000,
  };
  const trace = r.rssTrace;
  if (trace && trace.length > 0) {
    const peak = trace.reduce((a, b) => (b[1] > a[1] ? b : a));
    t.rss = {
      firstRequest: rssAt(trace, t.firstRequest),
      gitLast: rssAt(trace, t.gitLast),
      apiLast: rssAt(trace, t.apiLast),
      peak: peak[1] / 1024,
      peakAt: peak[0] / 1000,
    };
  }
  return t;
}

export function describePlanTimeline(t: PlanTimeline): string {
  const f = (x: number) => x.toFixed(2);
  const rss = t.rss
    ? `; VmRSS ${t.rss.firstRequest.toFixed(0)} MiB at the first request, ${
      t.rss.gitLast.toFixed(0)
    } at the last git request, ${t.rss.apiLast.toFixed(0)} at the last API request, highest ${
      t.rss.peak.toFixed(0)
    } at ${f(t.rss.peakAt)} s`
    : "";
  return `start-up ${f(0)}–${f(t.firstRequest)} s; git requests ${f(t.gitFirst)}–${
    f(t.gitLast)
  } s; cluster requests ${f(t.apiFirst)}–${f(t.apiLast)} s; planning of the last clusters ${
    f(Math.max(t.gitLast, t.apiLast))
  }–${f(t.output)} s; printing and exit ${f(t.output)}–${f(t.exit)} s${rss}`;
}

/** What a first apply sent, per cluster (median) and per repository: where its time goes. */
export interface ApplyCounts {
  apiPerCluster: number;
  writesPerCluster: number;
  /** GETs of the GitRepository + Kustomization: 2 observations, then health polls. */
  healthPollsPerCluster: number;
  /** GETs of CRDs: the "Established" wait between the two install stages. */
  crdPollsPerCluster: number;
  gitRequestsPerRepo: number;
  pushesPerRepo: number;
}

export function applyCounts(world: World, f: Fleet, gitRecords: GitRequestRecord[]): ApplyCounts {
  const per = (pred: (r: { method: string; path: string }) => boolean) =>
    median(f.members.map((i) => world.sandboxes[i].requests.filter(pred).length));
  const repos = new Set(f.members.map(f.repoOf)).size;
  const counts = [...gitCounts(gitRecords).values()];
  return {
    apiPerCluster: per(() => true),
    writesPerCluster: per((r) => r.method !== "GET"),
    healthPollsPerCluster: per((r) =>
      r.method === "GET" && /\/(gitrepositories|kustomizations)\/flux-system$/.test(r.path)
    ),
    crdPollsPerCluster: per((r) =>
      r.method === "GET" && /customresourcedefinitions\//.test(r.path)
    ),
    gitRequestsPerRepo: gitRecords.length / repos,
    pushesPerRepo: counts.reduce((n, c) => n + c.receivePackPosts, 0) / repos,
  };
}

/** Where a first apply's wall time goes, in seconds (from the CLI's spawn where absolute). */
export interface ApplyTimeline {
  /** First git request, and the median push (one commit per repository). */
  gitFirst: number;
  gitPush: number;
  /** The earliest cluster write: planning (observe everything) and pushing are done by then. */
  applyStart: number;
  /** Per cluster, median: first write → last write (namespace, components, secret, sync). */
  writes: number;
  /** Per cluster, median: last write → last request (the health wait). */
  health: number;
  /** The slowest cluster's last request. */
  lastDone: number;
}

export function applyTimeline(
  world: World,
  f: Fleet,
  gitRecords: GitRequestRecord[],
  since: number,
): ApplyTimeline {
  const t = (r: object) => world.at(r, since) / 1000;
  const pushes = gitRecords.filter((r) => r.method === "POST" && r.service === "git-receive-pack");
  const writes = f.members.map((i) =>
    world.sandboxes[i].requests.filter((r) => r.method !== "GET")
  );
  const all = f.members.map((i) => world.sandboxes[i].requests);
  const ok = (xs: number[]) => xs.filter((x) => Number.isFinite(x));
  return {
    gitFirst: gitRecords.length > 0 ? t(gitRecords[0]) : NaN,
    gitPush: pushes.length > 0 ? median(pushes.map(t)) : NaN,
    applyStart: Math.min(...ok(writes.map((w) => (w.length > 0 ? t(w[0]) : NaN)))),
    writes: median(ok(writes.map((w) => (w.length > 0 ? t(w.at(-1)!) - t(w[0]) : NaN)))),
    health: median(
      ok(writes.map((w, k) => (w.length > 0 ? t(all[k].at(-1)!) - t(w.at(-1)!) : NaN))),
    ),
    lastDone: Math.max(...ok(all.map((rs) => (rs.length > 0 ? t(rs.at(-1)!) : NaN)))),
  };
}

export function describeApplyTimeline(t: ApplyTimeline): string {
  const f = (x: number) => `${x.toFixed(2)} s`;
  return `timeline: first git request at ${f(t.gitFirst)}, push at ${f(t.gitPush)}, first ` +
    `cluster write at ${f(t.applyStart)}; per cluster (median) writes take ${f(t.writes)} and ` +
    `the health wait ${f(t.health)}; last cluster healthy at ${f(t.lastDone)}`;
}

export function describeApplyCounts(c: ApplyCounts): string {
  return `per cluster (median): ${c.apiPerCluster} API requests, ${c.writesPerCluster} writes, ` +
    `${c.healthPollsPerCluster} GitRepository/Kustomization GETs (2 while planning, the ` +
    `rest the health wait), ${c.crdPollsPerCluster} CRD GETs ` +
    `(Established wait); per repository: ${c.gitRequestsPerRepo.toFixed(1)} git ` +
    `requests (fluxfleet and the Flux stand-in's ls-remote), ${
      c.pushesPerRepo.toFixed(1)
    } push(es)`;
}
