/** The first `apply --auto-approve` of fresh clusters: its time, requests and timeline. */
import { applyArgs, cli } from "./cli.ts";
import {
  type ApplyCounts,
  applyCounts,
  type ApplyTimeline,
  applyTimeline,
  describeApplyCounts,
  describeApplyTimeline,
} from "./counts.ts";
import { log } from "./log.ts";
import { loadAverage, requireOk } from "./proc.ts";
import { secs } from "./stats.ts";
import type { Fleet, World } from "./world.ts";

export type FirstApply = {
  clusters: number;
  repos: number;
  ms: number;
  maxRssKb?: number;
  cpuS?: number;
  load: number;
  timeline: ApplyTimeline;
} & ApplyCounts;

export async function firstApply(world: World, f: Fleet, concurrency: number): Promise<FirstApply> {
  const repos = new Set(f.members.map(f.repoOf)).size;
  log(`first apply --auto-approve of ${f.members.length} fresh clusters (${repos} repos)`);
  const load = await loadAverage();
  world.resetRequests(f);
  const gitBefore = world.git.requests.length;
  const a = await cli(world.env, applyArgs(f, concurrency));
  requireOk(a, "first apply");
  const gitRecords = world.git.requests.slice(gitBefore);
  const out: FirstApply = {
    clusters: f.members.length,
    repos,
    ms: a.ms,
    maxRssKb: a.maxRssKb,
    cpuS: (a.userS ?? 0) + (a.sysS ?? 0),
    load,
    ...applyCounts(world, f, gitRecords),
    timeline: applyTimeline(world, f, gitRecords, a.spawnedAt),
  };
  log(`  first apply: ${secs(a.ms)} (${a.stdout.split("\n").find((l) => l.startsWith("Apply:"))})`);
  log(`  ${describeApplyCounts(out)}`);
  log(`  ${describeApplyTimeline(out.timeline)}`);
  return out;
}

/** Orders clusters by (slot in repository, repository): the first k cover as many repos as can be. */
export function spreadOver(n: number, perRepo: number, k: number): number[] {
  const all = Array.from({ length: n }, (_, i) => i);
  all.sort((a, b) =>
    (a % perRepo) - (b % perRepo) || Math.floor(a / perRepo) - Math.floor(b / perRepo)
  );
  return all.slice(0, k).sort((a, b) => a - b);
}
