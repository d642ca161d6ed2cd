/**
 * Start-up: from spawn to the first request of a no-op plan (stamped by the servers on arrival),
 * next to Deno's own start (an empty script), fluxfleet's module graph alone (`--version`) and the
 * floor client's first request; then what each npm package of the static module graph costs to
 * import, and a CPU profile of the start cut at the first request (bench/startup_profile.ts).
 */
import { childEnv, cliDirect, planArgs } from "./cli.ts";
import { log } from "./log.ts";
import { loadAverage, type ProcResult, requireOk, run } from "./proc.ts";
import { msSpread, type Spread, spread } from "./stats.ts";
import { type Fleet, ROOT, type World } from "./world.ts";

export interface ImportCost {
  specifier: string;
  ms: Spread;
  rssKb: number;
}

export interface StartupFigures {
  clusters: number;
  /** spawn → exit of `deno run` of an empty script. */
  emptyDeno: Spread;
  /** spawn → exit of `fluxfleet --version`: the static module graph loaded and evaluated. */
  version: Spread;
  /** spawn → first request of `fluxfleet plan` (the target). */
  firstRequest: Spread;
  /** spawn → first request of the floor client (bench/floor_client.ts) on the same fleet. */
  floorFirstRequest?: Spread;
  loads: number[];
  /** npm packages main.ts loads before it runs (static imports), each alone in a fresh process. */
  imports: ImportCost[];
  emptyImportRssKb: number;
  profile?: { file: string; firstFetchMs: number; summary: string };
}

function firstRequestMs(world: World, f: Fleet, gitBefore: number, r: ProcResult): number {
  const stamps = [
    ...world.git.requests.slice(gitBefore),
    ...f.members.flatMap((i) => world.sandboxes[i].requests),
  ].map((rec) => world.at(rec, r.spawnedAt));
  return Math.min(...stamps);
}

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

async function importCost(specifier: string | undefined): Promise<{ ms: number; rssKb: number }> {
  const r = await run(
    Deno.execPath(),
    ["run", "-A", `${ROOT}bench/import_cost.ts`, ...(specifier ? [specifier] : [])],
    { cwd: ROOT, timeoutMs: 60_000 },
  );
  requireOk(r, `import of ${specifier ?? "nothing"}`);
  return JSON.parse(r.stdout);
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
  },
): Promise<StartupFigures> {
  const empty = `${world.env.work}/empty.ts`;
  await Deno.writeTextFile(empty, "");
  const emptyMs: number[] = [];
  const versionMs: number[] = [];
  const firstMs: number[] = [];
  const floorMs: number[] = [];
  const loads: number[] = [];
  await world.gitQuiet();
  for (let k = 0; k < opts.runs; k++) {
    loads.push(await loadAverage());
    const e = await run(Deno.execPath(), ["run", "-A", empty], { cwd: ROOT, timeoutMs: 60_000 });
    requireOk(e, "empty deno script");
    emptyMs.push(e.ms);
    const v = await cliDirect(world.env, ["--version"]);
    requireOk(v, "fluxfleet --version");
    versionMs.push(v.ms);
    world.resetRequests(f);
    let before = world.git.requests.length;
    const p = await cliDirect(world.env, planArgs(f, opts.concurrency));
    requireOk(p, `no-op plan of ${f.label}`);
    firstMs.push(firstRequestMs(world, f, before, p));
    if (opts.floorFile) {
      world.resetRequests(f);
      before = world.git.requests.length;
      const fl = await run(
        Deno.execPath(),
        ["run", "-A", `${ROOT}bench/floor_client.ts`, opts.floorFile, "overlap"],
        { cwd: ROOT, timeoutMs: 10 * 60_000 },
      );
      requireOk(fl, "floor");
      floorMs.push(firstRequestMs(world, f, before, fl));
    }
    log(
      `  start-up run ${k + 1}/${opts.runs} (load ${loads[k]}): empty deno ${
        emptyMs[k].toFixed(0)
      } ms, --version ${versionMs[k].toFixed(0)} ms, plan's first request ${
        firstMs[k].toFixed(0)
      } ms${opts.floorFile ? `, floor's first request ${floorMs[k].toFixed(0)} ms` : ""}`,
    );
  }

  const imports: ImportCost[] = [];
  let emptyImportRssKb = 0;
  if (opts.importRuns > 0) {
    const specs = await staticNpmImports();
    log(`  static npm imports of main.ts: ${specs.join(", ")}`);
    emptyImportRssKb = (await importCost(undefined)).rssKb;
    for (const specifier of specs) {
      const samples: { ms: number; rssKb: number }[] = [];
      for (let k = 0; k < opts.importRuns; k++) samples.push(await importCost(specifier));
      imports.push({
        specifier,
        ms: spread(samples.map((s) => s.ms)),
        rssKb: Math.max(...samples.map((s) => s.rssKb)),
      });
      log(`  import ${specifier}: ${msSpread(imports.at(-1)!.ms)}`);
    }
    imports.sort((a, b) => b.ms.median - a.ms.median);
  }

  const out: StartupFigures = {
    clusters: f.members.length,
    emptyDeno: spread(emptyMs),
    version: spread(versionMs),
    firstRequest: spread(firstMs),
    ...(floorMs.length > 0 ? { floorFirstRequest: spread(floorMs) } : {}),
    loads,
    imports,
    emptyImportRssKb,
  };
  {
    // Always: it is one run, and the summary names what start-up spends its time on.
    const file = `${opts.profileDir ?? world.env.work}/startup-${f.label}.cpuprofile`;
    const r = await run(
      Deno.execPath(),
      ["run", "-A", `${ROOT}bench/startup_profile.ts`, file, ...planArgs(f, opts.concurrency)],
      { env: childEnv(world.env), cwd: ROOT, timeoutMs: 10 * 60_000 },
    );
    requireOk(r, "start-up profile");
    const line = r.stderr.split("\n").find((l) => l.startsWith('{"firstFetchMs"'));
    out.profile = {
      file,
      firstFetchMs: line ? JSON.parse(line).firstFetchMs : NaN,
      summary: await Deno.readTextFile(`${file}.txt`),
    };
    log(
      `  start-up CPU profile (to the first fetch, ${
        out.profile.firstFetchMs.toFixed(0)
      } ms) → ${file}`,
    );
  }
  return out;
}
