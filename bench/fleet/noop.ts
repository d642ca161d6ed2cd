/**
 * No-op plans of one fleet size: untimed warm-up runs whose request logs define the floors, then
 * rounds of (fluxfleet, floor overlapped, floor in phases, fluxfleet with an empty commit cache,
 * its floor), interleaved so that the machine's load drifts over all of them alike. Counts and a
 * timeline for every fluxfleet run.
 *
 * The commit cache (lib/git/commit_cache.ts): a plan whose repositories are at the commits the
 * last plan read asks each for its ref advertisement only. The main figure is that plan (every
 * run after the first), its floor the requests it makes; the cold figure is the first plan after
 * every repository moved (the cache emptied before the run: each repository fetched), its floor
 * the issue's own (one ref advertisement + one fetch per repository, the API GETs).
 */
import { cli, commitCache, planArgs } from "./cli.ts";
import {
  describePlanTimeline,
  type PlanCounts,
  planCounts,
  type PlanTimeline,
  planTimeline,
} from "./counts.ts";
import { type FloorMode, floorRequestCount, runFloor, writeFloorPlan } from "./floor.ts";
import type { CapturedFetch } from "./floor_plan.ts";
import { log } from "./log.ts";
import { loadAverage, type MeasuredRun, requireOk } from "./proc.ts";
import { median, secs, type Spread, spread } from "./stats.ts";
import type { Fleet, World } from "./world.ts";

export interface RunFigures {
  ms: number;
  maxRssKb: number;
  cpuS: number;
  /** 1-minute load average just before the run. */
  load: number;
}

export interface FloorFigures {
  runs: RunFigures[];
  wall: Spread;
  rss: Spread;
  /** fluxfleet's median wall time ÷ this floor's median. */
  ratio: number;
}

/** No-op plans of another fluxfleet tree (--compare), run in the same rounds. */
export interface CompareFigures {
  root: string;
  flags: string[];
  runs: RunFigures[];
  wall: Spread;
  rss: Spread;
  cpu: Spread;
  timelines: PlanTimeline[];
  /** Its median wall time ÷ the measured tree's. */
  wallRatio: number;
  sameCountsEveryRun: boolean;
}

export interface SizeFigures {
  clusters: number;
  repos: number;
  runs: RunFigures[];
  wall: Spread;
  rss: Spread;
  cpu: Spread;
  compare?: CompareFigures;
  /** Requests of the last timed run, and whether every timed run sent the same numbers. */
  counts: PlanCounts;
  sameCountsEveryRun: boolean;
  timelines: PlanTimeline[];
  floor?: Record<FloorMode, FloorFigures>;
  /** Plans with the commit cache emptied before each (every repository fetched), and their floor. */
  cold?: {
    runs: RunFigures[];
    wall: Spread;
    cpu: Spread;
    rss: Spread;
    counts: PlanCounts;
    floor: FloorFigures;
    floorRequests: { git: number; api: number };
  };
  floorRequests?: { git: number; api: number };
  /** The floor client's request list for this fleet (in the bench's work directory). */
  floorFile?: string;
  profile?: { ms: number; file: string; summary: string };
  heapProfile?: { file: string; summary: string };
}

function figures(r: MeasuredRun, load: number): RunFigures {
  return { ms: r.ms, maxRssKb: r.maxRssKb ?? NaN, cpuS: (r.userS ?? 0) + (r.sysS ?? 0), load };
}

function countsKey(c: PlanCounts): string {
  return JSON.stringify([c.perRepo, c.apiPerCluster, c.apiMutating]);
}

export async function noopPlans(
  world: World,
  f: Fleet,
  opts: {
    rounds: number;
    concurrency: number;
    /** undefined: no floor runs. */
    capture?: CapturedFetch;
    profileDir?: string;
    /** Another fluxfleet tree, run in each round right after this one. */
    compareRoot?: string;
    compareFlags?: string[];
  },
): Promise<SizeFigures> {
  const args = planArgs(f, opts.concurrency);
  const repos = new Set(f.members.map(f.repoOf)).size;
  await world.gitQuiet();

  // Cold warm-up (an empty commit cache: every repository fetched): its logs define the floor
  // of a plan that fetches. Then the warm-up of the timed runs: page cache, Deno's code cache,
  // the commit cache; its logs define the floor's requests.
  const emptyCache = () => Deno.remove(commitCache(world.env), { recursive: true }).catch(() => {});
  await emptyCache();
  world.resetRequests(f);
  let before = world.git.requests.length;
  const coldWarm = await cli(world.env, args);
  requireOk(coldWarm, `no-op plan of ${f.label} (empty commit cache)`);
  const coldCounts = planCounts(world, f, world.git.requests.slice(before));
  const coldFloor = opts.capture
    ? await writeFloorPlan(
      world,
      f,
      opts.capture,
      world.git.requests.slice(before),
      opts.concurrency,
      "fetch",
    )
    : undefined;
  world.resetRequests(f);
  before = world.git.requests.length;
  const warm = await cli(world.env, args);
  // Exit 0 under --detailed-exitcode: nothing would change, the plan really is a no-op.
  requireOk(warm, `no-op plan of ${f.label}`);
  const warmCounts = planCounts(world, f, world.git.requests.slice(before));
  let floorFile: string | undefined;
  let floorRequests: SizeFigures["floorRequests"];
  if (opts.capture) {
    const fp = await writeFloorPlan(
      world,
      f,
      opts.capture,
      world.git.requests.slice(before),
      opts.concurrency,
    );
    floorFile = fp.file;
    floorRequests = floorRequestCount(fp.plan);
  }
  log(`  warm-up plan: ${secs(warm.ms)}; floor: ${JSON.stringify(floorRequests ?? "none")}`);
  log(
    `  warm-up plan, empty commit cache: ${secs(coldWarm.ms)}; its floor: ${
      JSON.stringify(coldFloor ? floorRequestCount(coldFloor.plan) : "none")
    }`,
  );
  const coldRuns: RunFigures[] = [];
  const coldFloorRuns: RunFigures[] = [];

  const runs: RunFigures[] = [];
  const timelines: PlanTimeline[] = [];
  const floorRuns: Record<FloorMode, RunFigures[]> = { overlap: [], phases: [] };
  const compareRuns: RunFigures[] = [];
  const compareTimelines: PlanTimeline[] = [];
  let compareSame = true;
  let counts = warmCounts;
  let sameCountsEveryRun = true;
  if (opts.compareRoot) {
    // Its own warm-up: Deno's code cache for that tree.
    const compared = { root: opts.compareRoot, flags: opts.compareFlags };
    requireOk(await cli(world.env, args, compared), "compared tree's plan");
  }
  for (let k = 0; k < opts.rounds; k++) {
    const load = await loadAverage();
    world.resetRequests(f);
    before = world.git.requests.length;
    const r = await cli(world.env, args, { traceRss: true });
    requireOk(r, `no-op plan of ${f.label}`);
    const gitRecords = world.git.requests.slice(before);
    counts = planCounts(world, f, gitRecords);
    if (countsKey(counts) !== countsKey(warmCounts)) sameCountsEveryRun = false;
    const t = planTimeline(world, f, gitRecords, r);
    timelines.push(t);
    runs.push(figures(r, load));
    let line = `  round ${k + 1}/${opts.rounds} (load ${load}): fluxfleet ${secs(r.ms)}, ${
      ((r.maxRssKb ?? 0) / 1024).toFixed(0)
    } MiB`;
    if (opts.compareRoot) {
      const cl = await loadAverage();
      world.resetRequests(f);
      const cb = world.git.requests.length;
      const c = await cli(world.env, args, {
        traceRss: true,
        root: opts.compareRoot,
        flags: opts.compareFlags,
      });
      requireOk(c, `no-op plan of ${f.label} by ${opts.compareRoot}`);
      const cg = world.git.requests.slice(cb);
      if (countsKey(planCounts(world, f, cg)) !== countsKey(warmCounts)) compareSame = false;
      compareTimelines.push(planTimeline(world, f, cg, c));
      compareRuns.push(figures(c, cl));
      line += `; compared tree ${secs(c.ms)}, ${((c.maxRssKb ?? 0) / 1024).toFixed(0)} MiB`;
    }
    if (floorFile) {
      for (const mode of ["overlap", "phases"] as const) {
        const fl = await loadAverage();
        const fr = await runFloor(world.env, floorFile, mode);
        floorRuns[mode].push(figures(fr, fl));
        line += `; floor ${mode} ${secs(fr.ms)}`;
      }
    }
    {
      await emptyCache();
      const cl = await loadAverage();
      world.resetRequests(f);
      const cb = world.git.requests.length;
      const c = await cli(world.env, args);
      requireOk(c, `no-op plan of ${f.label} (empty commit cache)`);
      if (countsKey(planCounts(world, f, world.git.requests.slice(cb))) !== countsKey(coldCounts)) {
        sameCountsEveryRun = false;
      }
      coldRuns.push(figures(c, cl));
      line += `; empty cache ${secs(c.ms)}`;
      if (coldFloor) {
        const fl = await loadAverage();
        const fr = await runFloor(world.env, coldFloor.file, "overlap");
        coldFloorRuns.push(figures(fr, fl));
        line += `, its floor ${secs(fr.ms)}`;
      }
    }
    log(line);
    log(`    ${describePlanTimeline(t)}`);
  }

  const wall = spread(runs.map((r) => r.ms));
  const out: SizeFigures = {
    clusters: f.members.length,
    repos,
    runs,
    wall,
    rss: spread(runs.map((r) => r.maxRssKb)),
    cpu: spread(runs.map((r) => r.cpuS)),
    counts,
    sameCountsEveryRun,
    timelines,
    floorRequests,
    floorFile,
  };
  if (opts.compareRoot) {
    const cw = spread(compareRuns.map((r) => r.ms));
    out.compare = {
      root: opts.compareRoot,
      flags: opts.compareFlags ?? [],
      runs: compareRuns,
      wall: cw,
      rss: spread(compareRuns.map((r) => r.maxRssKb)),
      cpu: spread(compareRuns.map((r) => r.cpuS)),
      timelines: compareTimelines,
      wallRatio: cw.median / wall.median,
      sameCountsEveryRun: compareSame,
    };
  }
  if (floorFile) {
    const floor = (mode: FloorMode): FloorFigures => {
      const fw = spread(floorRuns[mode].map((r) => r.ms));
      return {
        runs: floorRuns[mode],
        wall: fw,
        rss: spread(floorRuns[mode].map((r) => r.maxRssKb)),
        ratio: wall.median / fw.median,
      };
    };
    out.floor = { overlap: floor("overlap"), phases: floor("phases") };
  }
  if (coldFloor) {
    const cw = spread(coldRuns.map((r) => r.ms));
    const fw = spread(coldFloorRuns.map((r) => r.ms));
    out.cold = {
      runs: coldRuns,
      wall: cw,
      cpu: spread(coldRuns.map((r) => r.cpuS)),
      rss: spread(coldRuns.map((r) => r.maxRssKb)),
      counts: coldCounts,
      floor: {
        runs: coldFloorRuns,
        wall: fw,
        rss: spread(coldFloorRuns.map((r) => r.maxRssKb)),
        ratio: cw.median / fw.median,
      },
      floorRequests: floorRequestCount(coldFloor.plan),
    };
  }

  if (opts.profileDir) {
    const base = `${opts.profileDir}/plan-${f.label}`;
    const file = `${base}.cpuprofile`;
    const p = await cli(world.env, args, { profileOut: file });
    requireOk(p, `profiled plan of ${f.label}`);
    out.profile = { ms: p.ms, file, summary: await Deno.readTextFile(`${file}.txt`) };
    log(`  CPU-profiled plan run: ${secs(p.ms)} (profiler overhead included) → ${file}`);
    const heapFile = `${base}.heapprofile`;
    const h = await cli(world.env, args, { profileOut: heapFile, heap: true });
    requireOk(h, `heap-profiled plan of ${f.label}`);
    out.heapProfile = { file: heapFile, summary: await Deno.readTextFile(`${heapFile}.txt`) };
    log(`  heap-profiled plan run: ${secs(h.ms)} → ${heapFile}`);
  }
  return out;
}

/** The timeline of the run with the median wall time. */
export function medianTimeline(s: SizeFigures): PlanTimeline {
  const m = median(s.runs.map((r) => r.ms));
  let best = 0;
  for (let i = 1; i < s.runs.length; i++) {
    if (Math.abs(s.runs[i].ms - m) < Math.abs(s.runs[best].ms - m)) best = i;
  }
  return s.timelines[best];
}
