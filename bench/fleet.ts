/**
 * Fleet benchmark: builds a fleet on 127.0.0.1 — Kubernetes API sandboxes (all in this process,
 * one port each) and repositories on the real local git server — and measures fluxfleet through
 * its real CLI, run as a child process:
 *
 *   - no-op plans of each --sizes fleet (100/10, 500/50, 1000/100): wall time, peak RSS, CPU,
 *     requests, a timeline per run, and the same requests replayed by a minimal script (the
 *     floor, bench/floor_client.ts) for fluxfleet's time as a ratio of it;
 *   - start-up: spawn → first request, what the static npm imports cost, a CPU profile of it;
 *   - the first `apply --auto-approve` of fresh clusters, and the git clone + kubectl baseline;
 *   - with --provider github,gitea,gitlab: the smallest fleet on each hosted provider's API
 *     sandbox, the API requests of its no-op plans and of a second apply, without and with teams.
 *
 *   deno run -A bench/fleet.ts [--sizes 100/10,500/50,1000/100 --runs 5,3,3] [--provider all]
 *
 * The parts live in bench/fleet/: world.ts (the fleet), cli.ts (fluxfleet runs), noop.ts (the
 * no-op plans), floor.ts + floor_plan.ts (the floor), startup.ts, apply.ts, baseline.ts,
 * counts.ts (request logs), report.ts. Targets are reported as MET / NOT MET; the exit code is 0
 * whatever the figures. It is non-zero only when the bench itself could not run.
 * See bench/README.md for what each figure means.
 */
import { startGitServer } from "../sandbox/git/http_server.ts";
import { firstApply, spreadOver } from "./fleet/apply.ts";
import { baseline } from "./fleet/baseline.ts";
import { applyArgs, cli } from "./fleet/cli.ts";
import { captureFetch } from "./fleet/floor.ts";
import { log } from "./fleet/log.ts";
import { noopPlans } from "./fleet/noop.ts";
import { type Options, parseOptions } from "./fleet/options.ts";
import { providerFleets } from "./fleet/provider_fleet.ts";
import { firstLine, requireOk, rssSource, run, stop } from "./fleet/proc.ts";
import { report } from "./fleet/report.ts";
import type { Results } from "./fleet/results.ts";
import { startup } from "./fleet/startup.ts";
import { secs } from "./fleet/stats.ts";
import { ROOT, World } from "./fleet/world.ts";

/** Read-only git queries: which commit is measured, and is the work tree clean? */
async function treeVersion(): Promise<string> {
  const head = await run("git", ["-C", ROOT, "rev-parse", "--short", "HEAD"], { timeoutMs: 20_000 })
    .catch(() => undefined);
  if (!head || head.code !== 0) return "not a git checkout";
  const status = await run("git", ["-C", ROOT, "status", "--porcelain", "--", "lib", "main.ts"], {
    timeoutMs: 20_000,
  });
  const dirty = status.stdout.trim() !== "";
  return `${head.stdout.trim()}${dirty ? " + uncommitted changes in lib/ or main.ts" : ""}`;
}

async function machine(): Promise<Results["machine"]> {
  const meminfo = await Deno.readTextFile("/proc/meminfo").catch(() => "");
  const kb = Number(/^MemTotal:\s+(\d+)/m.exec(meminfo)?.[1] ?? 0);
  return {
    cpus: navigator.hardwareConcurrency,
    memGiB: Math.round(kb / 1024 / 1024),
    deno: Deno.version.deno,
    git: await firstLine("git", ["--version"]),
    kubectl: await firstLine("kubectl", ["version", "--client"]),
  };
}

async function main(opts: Options): Promise<Results> {
  const results: Results = {
    machine: await machine(),
    tree: await treeVersion(),
    rssSource: await rssSource(),
    options: opts,
    setup: [],
    sizes: [],
  };
  const m = results.machine;
  log(`machine: ${m.cpus} CPUs, ${m.memGiB} GiB; deno ${m.deno}; ${m.git}; kubectl ${m.kubectl}`);
  log(`fluxfleet measured: ${ROOT} (${results.tree}); ${results.rssSource}`);
  if (opts.compare) {
    log(`compared with the fluxfleet tree in ${opts.compare} ${opts.compareFlags.join(" ")}`);
  }
  if (opts.fluxfleetFlags.length > 0) log(`fluxfleet runs with ${opts.fluxfleetFlags.join(" ")}`);
  log(
    `sizes ${opts.sizes.map((s) => `${s.clusters}/${s.repos}×${s.rounds}`).join(", ")}; ` +
      `--concurrency ${opts.concurrency} (setup ${opts.setupConcurrency}); Flux stand-in poll ${
        opts.sourcePollMs === 0 ? "off" : `${opts.sourcePollMs} ms`
      }; flux.manifests ${opts.manifests}`,
  );

  const token = `bench-${crypto.randomUUID()}`;
  const work = await Deno.makeTempDir({ prefix: "fluxfleet-bench-" });
  await Deno.mkdir(`${work}/tmp`);
  if (opts.profile) await Deno.mkdir(opts.profile, { recursive: true });
  const git = await startGitServer({ users: { git: token } });
  const env = { token, work, denoFlags: opts.fluxfleetFlags };
  const world = new World(git, env, opts.perRepo, opts.sourcePollMs, opts.manifests);
  try {
    const largest = opts.sizes.at(-1)!;
    const smallest = opts.sizes[0];
    log(`starting ${largest.clusters} Kubernetes API sandboxes and ${largest.repos} repositories`);
    await world.ensureSandboxes(largest.clusters);
    log(`sandboxes up; git server ${git.url}`);

    if (opts.applyClusters > 0) {
      const members = spreadOver(smallest.clusters, opts.perRepo, opts.applyClusters);
      const fresh = await world.fleet("first", members);
      results.firstApply = await firstApply(world, fresh, opts.concurrency);
    }

    // Bootstrap the largest fleet once: the smaller ones are its first clusters.
    const all = await world.fleet("all", Array.from({ length: largest.clusters }, (_, i) => i));
    const setupProfile = opts.profile ? `${opts.profile}/apply-all.cpuprofile` : undefined;
    log(`setup: apply --auto-approve of all ${largest.clusters} clusters (untimed)`);
    const s = await cli(world.env, applyArgs(all, opts.setupConcurrency), {
      profileOut: setupProfile,
    });
    requireOk(s, "setup apply");
    results.setup.push({ label: `apply ${largest.clusters}`, ms: s.ms });
    log(`  setup apply: ${secs(s.ms)}`);
    if (setupProfile) {
      results.applyProfile = {
        file: setupProfile,
        summary: await Deno.readTextFile(`${setupProfile}.txt`),
      };
    }

    const fleets = [];
    for (const size of opts.sizes) {
      const members = Array.from({ length: size.clusters }, (_, i) => i);
      fleets.push(await world.fleet(`n${size.clusters}`, members));
    }
    const capture = opts.floor ? await captureFetch(world, fleets[0], opts.concurrency) : undefined;
    if (capture) {
      log(
        `captured isomorphic-git's depth-1 fetch: ${capture.uploadPackBody.length} byte body, ` +
          `headers ${capture.postHeaders.map(([k]) => k).join(", ")}: ${
            JSON.stringify(new TextDecoder().decode(capture.uploadPackBody))
          }`,
      );
    }
    for (const [k, size] of opts.sizes.entries()) {
      log(`no-op plan of ${size.clusters} clusters over ${size.repos} repositories`);
      results.sizes.push(
        await noopPlans(world, fleets[k], {
          rounds: size.rounds,
          concurrency: opts.concurrency,
          capture,
          profileDir: opts.profile,
          compareRoot: opts.compare,
          compareFlags: opts.compareFlags,
        }),
      );
    }

    if (opts.providers.length > 0) {
      results.providers = await providerFleets(world, fleets[0], {
        kinds: opts.providers,
        offset: largest.clusters,
        rounds: smallest.rounds,
        concurrency: opts.concurrency,
        setupConcurrency: opts.setupConcurrency,
      });
    }

    if (opts.startupRuns > 0) {
      log(`start-up: ${opts.startupRuns} rounds on the ${smallest.clusters}-cluster fleet`);
      results.startup = await startup(world, fleets[0], {
        runs: opts.startupRuns,
        importRuns: opts.importRuns,
        concurrency: opts.concurrency,
        floorFile: results.sizes[0].floorFile,
        profileDir: opts.profile,
        compareRoot: opts.compare,
        compareFlags: opts.compareFlags,
      });
    }

    if (opts.baselineRuns > 0) {
      log(`baseline: sequential git clone + 3× kubectl get per cluster, ${smallest.clusters}`);
      results.baseline = [];
      for (let k = 0; k < opts.baselineRuns; k++) {
        const b = await baseline(world, fleets[0], `${work}/kubectl-cache`);
        results.baseline.push(b);
        log(`  baseline run ${k + 1}: ${secs(b.ms)}; failures ${b.failures}`);
        if (b.failures > 0) throw new Error(`baseline had ${b.failures} failures`);
      }
      const best = Math.min(...results.baseline.map((b) => b.ms));
      results.baselineRatio = best / results.sizes[0].wall.median;
    }
    results.benchRssMiB = Deno.memoryUsage().rss / 1048576;
  } finally {
    await world.close();
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
  return results;
}

if (import.meta.main) {
  const opts = parseOptions(Deno.args);
  const onSigint = () => {
    console.error("interrupted: stopping children and closing the fleet");
    stop.abort();
  };
  Deno.addSignalListener("SIGINT", onSigint);
  let code = 0;
  try {
    const results = await main(opts);
    console.log(report(results));
    if (opts.json) {
      // The floor file path points into the removed work directory: not a figure.
      const figures = { ...results, sizes: results.sizes.map(({ floorFile: _, ...s }) => s) };
      await Deno.writeTextFile(opts.json, JSON.stringify(figures, null, 2) + "\n");
    }
  } catch (e) {
    console.error(`bench failed: ${e instanceof Error ? e.message : String(e)}`);
    code = 1;
  } finally {
    Deno.removeSignalListener("SIGINT", onSigint);
  }
  Deno.exit(code);
}
