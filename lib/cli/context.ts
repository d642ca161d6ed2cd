/**
 * What every command shares: the process's life (lib/cli/lifecycle.ts), output that is safe for
 * terminals and logs, the live progress display, and a run over the selected clusters.
 *
 * Everything fluxfleet prints goes through `print`/`printErr`: control characters and escape
 * sequences (what a server may have slipped into a message or a repository file) are removed,
 * then secrets are redacted. The live progress display alone writes escapes of its own (cursor
 * moves, colour): it strips what it is given itself and writes through `draw`, which only redacts.
 */
import { loadManifest } from "../config/load.ts";
import { processSecretSource } from "../config/secrets.ts";
import type { Manifest } from "../config/types.ts";
import { type FleetRun, planFleet } from "../apply/fleet.ts";
import { createProgress, loadLiveDisplay, type Progress } from "../report/progress.ts";
import { setDebugSink } from "../util/debug.ts";
import { DEFAULT_RETRY } from "../util/retry.ts";
import { redact, safeText } from "../util/redact.ts";
import { type Lifecycle, startLifecycle } from "./lifecycle.ts";
import { selectClusters } from "./select.ts";
import type { CommonOptions } from "./options.ts";
import { clustersOfShard, describeShard, resolveShard, type ShardInfo } from "./shard.ts";

export interface Cli {
  life: Lifecycle;
  print(text: string): void;
  printErr(text: string): void;
  /** The live display of the current stage, once a run started. */
  progress?: Progress;
  /**
   * Loads the manifest, selects clusters (and this run's shard of them), observes and plans them
   * (the progress shows it). `planOnly`: nothing is carried out from this run
   * (RunOptions.planOnly).
   */
  startRun(
    file: string,
    opts: CommonOptions,
    run?: { planOnly?: boolean },
  ): Promise<{ manifest: Manifest; run: FleetRun; shard?: ShardInfo }>;
  /** Interrupted (Ctrl-C, SIGTERM, SIGHUP, stdout closed): the exit code it asks for. */
  exitIfInterrupted(): void;
}

function terminalSize(): { columns: number; rows: number } {
  try {
    return Deno.consoleSize();
  } catch {
    return { columns: 80, rows: 24 };
  }
}

export function startCli(): Cli {
  const life = startLifecycle({ filter: safeText, drawFilter: redact });
  const cli: Cli = {
    life,
    print: life.out,
    printErr: life.err,
    exitIfInterrupted() {
      const code = life.interruptedCode();
      if (code !== undefined) Deno.exitCode = code;
    },
    async startRun(file, opts, how = {}) {
      if (opts.debug) setDebugSink(life.err);
      const manifest = await loadManifest(file);
      const selected = selectClusters(manifest, opts.cluster, opts.selector);
      const wanted = resolveShard(opts, (name) => Deno.env.get(name));
      const shard = wanted && { ...wanted, selected: selected.length };
      const clusters = wanted ? clustersOfShard(selected, wanted) : selected;
      const quiet = opts.quiet === true || opts.output !== "text";
      if (shard && !quiet) cli.printErr(`${describeShard(shard, clusters.length)}\n`);
      const shown = await startProgress(cli, quiet);
      const run = await planFleet(manifest, clusters, {
        // Errors found before any contact are printed alone, without a progress stage before them.
        onChecked: () => shown.stage("planning", clusters.map((c) => c.name)),
        concurrency: opts.concurrency,
        secrets: processSecretSource(),
        onEvent: shown.event,
        onQueued: shown.queued,
        onEnd: shown.end,
        timeoutMs: opts.timeout,
        clusterTimeoutMs: opts.clusterTimeout,
        signal: life.signal,
        failFast: opts.failFast,
        force: opts.force,
        rotate: opts.rotate,
        retry: { ...DEFAULT_RETRY, attempts: opts.retries },
        limits: opts.limit,
        planOnly: how.planOnly,
      });
      cli.progress?.done();
      if (life.signal.aborted) {
        await run.close();
        life.exit(life.interruptedCode() ?? 130);
      }
      return { manifest, run, ...(shard ? { shard } : {}) };
    },
  };
  return cli;
}

async function startProgress(cli: Cli, quiet: boolean): Promise<Progress> {
  const tty = Deno.stderr.isTerminal();
  if (tty && !quiet) await loadLiveDisplay();
  const progress = createProgress({
    quiet,
    tty,
    color: !Deno.env.get("NO_COLOR"),
    write: cli.life.draw,
    size: terminalSize,
  });
  cli.progress = progress;
  // A resized terminal gets a frame of its new size at once.
  if (tty && !quiet) Deno.addSignalListener("SIGWINCH", () => cli.progress?.redraw());
  return progress;
}
