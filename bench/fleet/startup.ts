/**
 * Start-up: from spawn to the first request of a no-op plan (stamped by the servers on arrival),
 * next to Deno's own start (an empty script), fluxfleet's module graph alone (`--version`) and the
 * floor client's first request; then what each npm package of the static module graph costs to
 * import, and a CPU profile of the start cut at the first request (bench/startup_profile.ts).
 */
import { childEnv, cli, cliDirect, planArgs } from "./cli.ts";
import { log } from "./log.ts";
import { loadAverage, type MeasuredRun, type ProcResult, requireOk, run } from "./proc.ts";
import { median, msSpread, type Spread, spread } from "./stats.ts";
import { type Fleet, ROOT, type World } from "./world.ts";

export interface ImportCost {
  specifier: string;
  /** Imported alone in a fresh process. */
  ms: Spread;
  rssKb: number;
  /** What leaving it out of all the static npm imports saves (median time, RSS). */
  marginalMs: number;
  marginalRssKb: number;
}

/** One tree's start-up rounds. */
export interface TreeStartup {
  /** spawn → exit of `fluxfleet --version`: the static module graph loaded and evaluated. */
  version: Spread;
  /** Peak RSS of `fluxfleet --version` (under /usr/bin/time): the module graph's memory. */
  versionRss: Spread;
  /** CPU time (user + system) of `fluxfleet --version`, ms. */
  versionCpuMs: Spread;
  /** spawn → first request of `fluxfleet plan` (the target). */
  firstRequest: Spread;
  /** CPU time (user + system) of the whole no-op plan, ms: start-up's share shows in the pairs. */
  planCpuMs: Spread;
}

/** The same rounds of another tree (--compare), each round's two runs back to back. */
export interface CompareStartup extends TreeStartup {
  root: string;
  flags: string[];
  /** Per round: this tree's figure minus the compared tree's (negative: this tree is faster). */
  pairedFirstRequestMs: number[];
  pairedPlanCpuMs: number[];
  pairedVersionMs: number[];
}

export interface StartupFigures {
  clusters: number;
  /** spawn → exit of `deno run` of an empty script. */
  emptyDeno: Spread;
  /** spawn → exit of `fluxfleet --version`: the static module graph loaded and evaluated. */
  version: Spread;
  /** Peak RSS of `fluxfleet --version` (under /usr/bin/time): the module graph's memory. */
  versionRss: Spread;
  versionCpuMs: Spread;
  /** spawn → first request of `fluxfleet plan` (the target). */
  firstRequest: Spread;
  planCpuMs: Spread;
  compare?: CompareStartup;
  /** spawn → first request of the floor client (bench/floor_client.ts) on the same fleet. */
  floorFirstRequest?: Spread;
  loads: number[];
  /** npm packages main.ts loads before it runs (static imports), each alone in a fresh process. */
  imports: ImportCost[];
  emptyImportRssKb: number;
  /** All static npm imports in one process. */
  allImports?: { ms: Spread; rssKb: number };
  /** The manifest's validator compiled ahead of time (lib/config/schema_validate.ts) imported. */
  validatorImport?: { ms: number; rssKb: number };
  profile?: {
    file: string;
    firstFetchMs: number;
    summary: string;
    /** Deno.memoryUsage() at the first fetch, and after a full GC right then (bytes). */
    memory?: Deno.MemoryUsage;
    memoryAfterGc?: Deno.MemoryUsage;
  };
}

function firstRequestMs(world: World, f: Fleet, gitBefore: number, r: ProcResult): number {
  const stamps = [
    ...world.git.requests.slice(gitBefore),
    ...f.members.flatMap((i) => world.sandboxes[i].requests),
  ].map((rec) => world.at(rec, r.spawnedAt));
  return Math.min(...stamps);
}

/**
 * Packages only some runs need, which one lazy import would leave out together: SSH (keys, ssh://
 * remotes) and the live progress display (a terminal without --quiet).
 */
const LAZY_GROUPS = [["ssh2", "sshpk"], ["log-update", "cli-truncate"]];

interface GraphModule {
  specifier: string;
  dependencies?: {
    specifier: string;
    code?: { specifier: string };
    isDynamic?: boolean;
  }[];
}

/** Bare npm specifiers (as the code writes them) main.ts reaches through static imports only. */
export async function staticNpmImports(): Promise<string[]> {
  const r = await run(Deno.execPath(), ["info", "--json", `${ROOT}main.ts`], {
    cwd: ROOT,
    timeoutMs: 60_000,
  });
  requireOk(r, "deno info");
  const graph: { roots: string[]; modules: GraphModule[] } = JSON.parse(r.stdout);
  const byId = new Map(graph.modules.map((m) => [m.specifier, m]));
  const seen = new Set<string>();
  const npm = new Set<string>();
  const stack = [...graph.roots];
  while (stack.length > 0) {
    const id = stack.pop()!;
    if (seen.has(id)) continue;
    seen.add(id);
    for (const d of byId.get(id)?.dependencies ?? []) {
      if (!d.code || d.isDynamic) continue;
      if (d.code.specifier.startsWith("npm:")) npm.add(d.specifier);
      else if (d.code.specifier.startsWith("file:")) stack.push(d.code.specifier);
    }
  }
  return [...npm].sort();
}

interface Cost {
  ms: number;
  rssKb: number;
}

async function importCost(specifiers: string[]): Promise<Cost> {
  const r = await run(
    Deno.execPath(),
    ["run", "-A", `${ROOT}bench/import_cost.ts`, ...specifiers],
    {
      cwd: ROOT,
      timeoutMs: 60_000,
    },
  );
  requireOk(r, `import of ${specifiers.join(" ") || "nothing"}`);
  return JSON.parse(r.stdout);
}

/** Median time and RSS of `runs` fresh-process imports of `specifiers`. */
async function medianCost(specifiers: string[], runs: number): Promise<Cost & { spread: Spread }> {
  const samples: Cost[] = [];
  for (let k = 0; k < runs; k++) samples.push(await importCost(specifiers));
  const ms = spread(samples.map((s) => s.ms));
  return { ms: ms.median, rssKb: median(samples.map((s) => s.rssKb)), spread: ms };
}

interface TreeSamples {
  versionMs: number[];
  versionRssKb: number[];
  versionCpuMs: number[];
  firstMs: number[];
  planCpuMs: number[];
}

function newSamples(): TreeSamples {
  return { versionMs: [], versionRssKb: [], versionCpuMs: [], firstMs: [], planCpuMs: [] };
}

function cpuMs(r: MeasuredRun): number {
  return ((r.userS ?? NaN) + (r.sysS ?? NaN)) * 1000;
}

function treeFigures(s: TreeSamples): TreeStartup {
  return {
    version: spread(s.versionMs),
    versionRss: spread(s.versionRssKb),
    versionCpuMs: spread(s.versionCpuMs),
    firstRequest: spread(s.firstMs),
    planCpuMs: spread(s.planCpuMs),
  };
}

/**
 * One round of one tree: `--version` spawned directly (time) and under /usr/bin/time (RSS, CPU);
 * the no-op plan spawned directly (spawn → first request, as every earlier session measured it)
 * and again under /usr/bin/time for its CPU time.
 */
async function measureTree(
  world: World,
  f: Fleet,
  concurrency: number,
  tree: { root?: string; flags?: string[] },
  out: TreeSamples,
): Promise<void> {
  const v = await cliDirect(world.env, ["--version"], tree);
  requireOk(v, "fluxfleet --version");
  out.versionMs.push(v.ms);
  const vr = await cli(world.env, ["--version"], tree);
  requireOk(vr, "fluxfleet --version");
  out.versionRssKb.push(vr.maxRssKb ?? NaN);
  out.versionCpuMs.push(cpuMs(vr));
  world.resetRequests(f);
  const before = world.git.requests.length;
  const p = await cliDirect(world.env, planArgs(f, concurrency), tree);
  requireOk(p, `no-op plan of ${f.label}`);
  out.firstMs.push(firstRequestMs(world, f, before, p));
  const pc = await cli(world.env, planArgs(f, concurrency), tree);
  requireOk(pc, `no-op plan of ${f.label}`);
  out.planCpuMs.push(cpuMs(pc));
}

export async function startup(
  world: World,
  f: Fleet,
  opts: {
    runs: number;
    importRuns: number;
    concurrency: number;
    floorFile?: string;
    profileDir?: string;
    /** Another fluxfleet tree measured in the same rounds (--compare), with its deno flags. */
    compareRoot?: string;
    compareFlags?: string[];
  },
): Promise<StartupFigures> {
  const empty = `${world.env.work}/empty.ts`;
  await Deno.writeTextFile(empty, "");
  const emptyMs: number[] = [];
  const floorMs: number[] = [];
  const loads: number[] = [];
  const own: TreeSamples = newSamples();
  const other: TreeSamples = newSamples();
  const compared = opts.compareRoot
    ? { root: opts.compareRoot, flags: opts.compareFlags ?? [] }
    : undefined;
  await world.gitQuiet();
  for (let k = 0; k < opts.runs; k++) {
    loads.push(await loadAverage());
    const e = await run(Deno.execPath(), ["run", "-A", empty], { cwd: ROOT, timeoutMs: 60_000 });
    requireOk(e, "empty deno script");
    emptyMs.push(e.ms);
    // The two trees take turns going first: neither always finds the caches warmer.
    const order: [TreeSamples, { root?: string; flags?: string[] }][] = [[own, {}]];
    if (compared) order.splice(k % 2, 0, [other, compared]);
    for (const [samples, tree] of order) {
      await measureTree(world, f, opts.concurrency, tree, samples);
    }
    if (opts.floorFile) {
      world.resetRequests(f);
      const before = world.git.requests.length;
      const fl = await run(
        Deno.execPath(),
        ["run", "-A", `${ROOT}bench/floor_client.ts`, opts.floorFile, "overlap"],
        { cwd: ROOT, timeoutMs: 10 * 60_000 },
      );
      requireOk(fl, "floor");
      floorMs.push(firstRequestMs(world, f, before, fl));
    }
    const last = (x: number[]) => x[x.length - 1].toFixed(0);
    log(
      `  start-up run ${k + 1}/${opts.runs} (load ${loads[k]}): empty deno ${
        emptyMs[k].toFixed(0)
      } ms, --version ${last(own.versionMs)} ms, plan's first request ${
        last(own.firstMs)
      } ms (plan CPU ${last(own.planCpuMs)} ms)${
        compared
          ? `; compared tree: --version ${last(other.versionMs)} ms, first request ${
            last(other.firstMs)
          } ms (plan CPU ${last(other.planCpuMs)} ms)`
          : ""
      }${opts.floorFile ? `, floor's first request ${last(floorMs)} ms` : ""}`,
    );
  }

  const imports: ImportCost[] = [];
  let emptyImportRssKb = 0;
  let allImports: StartupFigures["allImports"];
  let validatorImport: StartupFigures["validatorImport"];
  if (opts.importRuns > 0) {
    const specs = await staticNpmImports();
    log(`  static npm imports of main.ts: ${specs.join(", ")}`);
    emptyImportRssKb = (await medianCost([], opts.importRuns)).rssKb;
    const all = await medianCost(specs, opts.importRuns);
    allImports = { ms: all.spread, rssKb: all.rssKb };
    log(`  import of all of them: ${msSpread(all.spread)}`);
    // Each package, and the groups a lazy import would leave out together.
    const groups = [
      ...specs.map((x) => [x]),
      ...LAZY_GROUPS.map((g) => g.filter((x) => specs.includes(x))).filter((g) => g.length > 1),
    ];
    for (const group of groups) {
      const alone = await medianCost(group, opts.importRuns);
      const without = await medianCost(specs.filter((x) => !group.includes(x)), opts.importRuns);
      imports.push({
        specifier: group.join(" + "),
        ms: alone.spread,
        rssKb: alone.rssKb,
        marginalMs: all.ms - without.ms,
        marginalRssKb: all.rssKb - without.rssKb,
      });
      log(
        `  import ${group.join(" + ")}: alone ${msSpread(alone.spread)}; leaving it out saves ${
          (all.ms - without.ms).toFixed(0)
        } ms`,
      );
    }
    imports.sort((a, b) => b.marginalMs - a.marginalMs);
    const validator = await medianCost(["./lib/config/schema_validate.ts"], opts.importRuns);
    validatorImport = { ms: validator.ms, rssKb: validator.rssKb - emptyImportRssKb };
  }

  const out: StartupFigures = {
    clusters: f.members.length,
    emptyDeno: spread(emptyMs),
    ...treeFigures(own),
    ...(compared
      ? {
        compare: {
          ...compared,
          ...treeFigures(other),
          pairedFirstRequestMs: own.firstMs.map((x, k) => x - other.firstMs[k]),
          pairedPlanCpuMs: own.planCpuMs.map((x, k) => x - other.planCpuMs[k]),
          pairedVersionMs: own.versionMs.map((x, k) => x - other.versionMs[k]),
        },
      }
      : {}),
    ...(floorMs.length > 0 ? { floorFirstRequest: spread(floorMs) } : {}),
    loads,
    imports,
    emptyImportRssKb,
    allImports,
    validatorImport,
  };
  {
    // Always: it is one run, and the summary names what start-up spends its time on.
    const file = `${opts.profileDir ?? world.env.work}/startup-${f.label}.cpuprofile`;
    const r = await run(
      Deno.execPath(),
      [
        "run",
        "-A",
        "--v8-flags=--expose-gc",
        `${ROOT}bench/startup_profile.ts`,
        file,
        ...planArgs(f, opts.concurrency),
      ],
      { env: childEnv(world.env), cwd: ROOT, timeoutMs: 10 * 60_000 },
    );
    requireOk(r, "start-up profile");
    const line = r.stderr.split("\n").find((l) => l.startsWith('{"firstFetchMs"'));
    const seen = line ? JSON.parse(line) : {};
    out.profile = {
      file,
      firstFetchMs: seen.firstFetchMs ?? NaN,
      summary: await Deno.readTextFile(`${file}.txt`),
      memory: seen.memory,
      memoryAfterGc: seen.memoryAfterGc,
    };
    log(
      `  start-up CPU profile (to the first fetch, ${
        out.profile.firstFetchMs.toFixed(0)
      } ms) → ${file}`,
    );
  }
  return out;
}
