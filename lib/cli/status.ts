/**
 * `fluxfleet status FILE`: the fleet at a glance, read-only (GETs; one list call per cluster, of
 * the Flux namespace's Deployments). Failing clusters first; `--watch` redraws it on a terminal.
 */
import { type Command, InvalidArgumentError } from "commander";
import { loadManifest } from "../config/load.ts";
import type { ClusterConfig } from "../config/types.ts";
import { createKubeClient } from "../kube/client.ts";
import { type ClusterStatus, readClusterStatus } from "../kube/status.ts";
import { clusterTargets } from "../plan/desired.ts";
import { jsonText } from "../report/json.ts";
import { renderStatusTable, statusDocument, statusRows } from "../report/status.ts";
import { mapLimit } from "../util/pool.ts";
import { errorMessage } from "../util/redact.ts";
import { DEFAULT_RETRY } from "../util/retry.ts";
import type { Cli } from "./context.ts";
import { collect, positiveInt, withShardOptions } from "./options.ts";
import { clustersOfShard, describeShard, resolveShard, type Shard } from "./shard.ts";
import { subcommand } from "./program.ts";
import { rolloutWaves } from "./rollout.ts";
import { selectClusters } from "./select.ts";

interface StatusOptions {
  output: "text" | "json";
  cluster: string[];
  selector: string[];
  concurrency: number;
  watch?: boolean;
  interval: number;
  shard?: Shard;
  shardCount?: number;
}

async function readStatus(c: ClusterConfig, timeoutMs: number): Promise<ClusterStatus> {
  let client;
  try {
    client = await createKubeClient(c.kube, {
      timeoutMs,
      retry: { ...DEFAULT_RETRY, attempts: 2 },
    });
    const t = clusterTargets(c);
    return await readClusterStatus(c.name, client, {
      namespace: t.namespace,
      secret: t.secret.name,
      gitRepository: t.gitRepository.metadata.name,
      kustomization: t.kustomization.metadata.name,
    });
  } catch (e) {
    return { cluster: c.name, error: errorMessage(e), installed: false, controllers: [] };
  } finally {
    client?.close();
  }
}

export function statusCommand(program: Command, cli: Cli): void {
  withShardOptions(subcommand(program, "status"))
    .description(
      "show every cluster's Flux: versions, sync revision, readiness, credentials (reads only)",
    )
    .argument("<file>", "flux-bootstrap.yaml")
    .option("-o, --output <format>", "text or json", (v: string) => {
      if (v !== "text" && v !== "json") throw new InvalidArgumentError("must be text or json");
      return v;
    }, "text")
    .option("-c, --cluster <name>", "only this cluster (repeatable)", collect, [])
    .option(
      "-l, --selector <selector>",
      "only clusters whose labels match (kubectl's syntax; repeatable)",
      collect,
      [],
    )
    .option("--concurrency <n>", "clusters read at once", positiveInt, 16)
    .option("-w, --watch", "redraw the table in place on a terminal until Ctrl-C")
    .option("--interval <seconds>", "seconds between redraws with --watch", positiveInt, 5)
    .action(async (file: string, opts: StatusOptions) => {
      const manifest = await loadManifest(file);
      const selected = selectClusters(manifest, opts.cluster, opts.selector);
      // The same shards as plan and apply: a shard's job reports the clusters it rolls out.
      const shard = resolveShard(opts, (name) => Deno.env.get(name));
      const clusters = shard ? clustersOfShard(selected, shard) : selected;
      if (shard && opts.output === "text") {
        cli.printErr(
          `${describeShard({ ...shard, selected: selected.length }, clusters.length)}\n`,
        );
      }
      const waves = new Map<string, string>();
      for (const w of rolloutWaves(manifest, { wave: [] }) ?? []) {
        for (const c of w.clusters) waves.set(c, `${w.index} (${w.label})`);
      }
      if (opts.watch && (opts.output === "json" || !Deno.stdout.isTerminal())) {
        throw new Error(
          "--watch redraws a table on a terminal; without one (or with -o json) run status without --watch",
        );
      }
      const snapshot = async () =>
        statusRows(await mapLimit(clusters, opts.concurrency, (c) => readStatus(c, 20_000)), waves);
      if (!opts.watch) {
        const rows = await snapshot();
        cli.print(
          opts.output === "json"
            ? jsonText(statusDocument(manifest.file, rows))
            : renderStatusTable(rows, Date.now()),
        );
        if (rows.some((r) => r.health !== "ready")) Deno.exitCode = 1;
        return;
      }
      const clear = new TextEncoder().encode("\x1b[H\x1b[2J");
      while (!cli.life.signal.aborted) {
        const rows = await snapshot();
        Deno.stdout.writeSync(clear);
        cli.print(
          `${new Date().toISOString()}  (every ${opts.interval}s; Ctrl-C to stop)\n\n${
            renderStatusTable(rows, Date.now())
          }`,
        );
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, opts.interval * 1000);
          cli.life.signal.addEventListener("abort", () => {
            clearTimeout(t);
            resolve();
          }, { once: true });
        });
      }
      Deno.exitCode = 0;
    });
}
