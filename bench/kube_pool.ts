/**
 * What the idle TLS connections of a fleet plan cost: N Kubernetes API sandboxes (one port each,
 * as in bench/fleet.ts), and a child process that sends each of them the three GETs of a no-op
 * plan, `--concurrency` clusters at a time, over Deno's fetch with different connection-pool
 * set-ups. Prints the child's wall time and peak RSS per set-up (median and range of --runs):
 *
 *   - shared, idle N ms: one Deno.HttpClient for every cluster (lib/kube/client.ts shares one
 *     per CA), idle connections closed after N ms (fluxfleet: 2000);
 *   - per cluster, closed: one Deno.HttpClient per cluster, closed after its three GETs.
 *
 *   deno run -A bench/kube_pool.ts [--clusters 500] [--runs 3] [--concurrency 8]
 */
import { parseArgs } from "node:util";
import { type KubeSandbox, startKubeSandbox } from "../sandbox/kube/server.ts";
import { median } from "./fleet/stats.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    clusters: { type: "string", default: "500" },
    runs: { type: "string", default: "3" },
    concurrency: { type: "string", default: "8" },
  },
});
const clusters = Number(values.clusters);
const runs = Number(values.runs);
const concurrency = Number(values.concurrency);
if (![clusters, runs, concurrency].every((n) => Number.isInteger(n) && n > 0)) {
  throw new Error("--clusters, --runs and --concurrency take positive integers");
}

/** The child: reads the plan, sends the GETs, exits. Written to a temp file and run by deno. */
const CHILD = `
const plan = JSON.parse(await Deno.readTextFile(Deno.args[0]));
const [mode, idle] = [Deno.args[1], Number(Deno.args[2])];
const make = () => Deno.createHttpClient({ caCerts: [plan.ca], poolIdleTimeout: idle });
const shared = mode === "shared" ? make() : undefined;
let next = 0;
await Promise.all(Array.from({ length: plan.concurrency }, async () => {
  while (next < plan.clusters.length) {
    const c = plan.clusters[next++];
    const client = shared ?? make();
    await Promise.all(plan.paths.map(async (p) => {
      const res = await fetch(c.url + p, { headers: { Authorization: "Bearer " + c.token }, client });
      await res.arrayBuffer();
    }));
    if (!shared) client.close();
  }
}));
shared?.close();
`;

const sandboxes: KubeSandbox[] = [];
const dir = await Deno.makeTempDir({ prefix: "fluxfleet-kube-pool-" });
try {
  while (sandboxes.length < clusters) {
    const k = Math.min(25, clusters - sandboxes.length);
    sandboxes.push(
      ...await Promise.all(Array.from({ length: k }, () => startKubeSandbox({ sourcePollMs: 0 }))),
    );
  }
  await Deno.writeTextFile(`${dir}/child.ts`, CHILD);
  // Three GETs that answer 200 on a fresh sandbox, like the no-op plan's three.
  const paths = ["default", "kube-system", "kube-public"].map((n) => `/api/v1/namespaces/${n}`);
  await Deno.writeTextFile(
    `${dir}/plan.json`,
    JSON.stringify({
      ca: sandboxes[0].caPem,
      concurrency,
      paths,
      clusters: sandboxes.map((s) => ({ url: s.url, token: s.token })),
    }),
    { mode: 0o600 },
  );
  const setups: [string, string, number][] = [
    ["shared, idle 2000 ms", "shared", 2000],
    ["shared, idle 100 ms", "shared", 100],
    ["per cluster, closed", "per-cluster", 2000],
  ];
  const samples = new Map(setups.map(([label]) => [label, [] as { ms: number; kb: number }[]]));
  // Interleaved, so that the machine's load drifts over every set-up alike.
  for (let k = 0; k < runs; k++) {
    for (const [label, mode, idle] of setups) {
      const started = performance.now();
      const out = await new Deno.Command("/usr/bin/time", {
        args: [
          "-f",
          "%M",
          Deno.execPath(),
          "run",
          "-A",
          `${dir}/child.ts`,
          `${dir}/plan.json`,
          mode,
          String(idle),
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const ms = performance.now() - started;
      const err = new TextDecoder().decode(out.stderr).trim();
      if (!out.success) throw new Error(`child (${label}) failed: ${err}`);
      samples.get(label)!.push({ ms, kb: Number(err.split("\n").at(-1)) });
    }
  }
  console.log(`${clusters} clusters × ${paths.length} GETs, ${concurrency} clusters at a time:`);
  for (const [label] of setups) {
    const s = samples.get(label)!;
    const ms = s.map((x) => x.ms);
    const mib = s.map((x) => x.kb / 1024);
    console.log(
      `  ${label.padEnd(22)} wall ${median(ms).toFixed(0)} ms (${Math.min(...ms).toFixed(0)}–${
        Math.max(...ms).toFixed(0)
      }), peak RSS ${median(mib).toFixed(0)} MiB (${Math.min(...mib).toFixed(0)}–${
        Math.max(...mib).toFixed(0)
      })`,
    );
  }
} finally {
  for (const s of sandboxes) await s.close();
  await Deno.remove(dir, { recursive: true });
}
