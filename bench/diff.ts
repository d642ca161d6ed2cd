/**
 * Time and peak RSS of the plan's unified diff (lib/plan/diff.ts) on large files: each case of
 * tests/helpers/diff_probe.ts run `--runs` times, each run in a fresh process, then the median
 * and the range (min–max) printed. Informs, never fails.
 *
 *   deno run -A bench/diff.ts [--runs 5] [--lines 12000]
 */
import { parseArgs } from "node:util";
import type { DiffProbeCase, DiffProbeResult } from "../tests/helpers/diff_probe.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const { values } = parseArgs({
  args: Deno.args,
  options: { runs: { type: "string", default: "5" }, lines: { type: "string", default: "12000" } },
});
const runs = Number(values.runs);
const lines = Number(values.lines);
if (!(Number.isInteger(runs) && runs > 0 && Number.isInteger(lines) && lines > 0)) {
  throw new Error("--runs and --lines take positive integers");
}

async function probe(kind: DiffProbeCase): Promise<DiffProbeResult> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}tests/helpers/diff_probe.ts`, kind, String(lines)],
    cwd: ROOT,
    stdin: "null",
  }).output();
  const dec = new TextDecoder();
  if (out.code !== 0) throw new Error(`diff probe ${kind} failed: ${dec.decode(out.stderr)}`);
  return JSON.parse(dec.decode(out.stdout));
}

function stats(values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return `${median} (${sorted[0]}–${sorted[sorted.length - 1]})`;
}

console.log(`unified diff of ${lines}-line files, ${runs} runs each: median (min–max)`);
for (const kind of ["ends", "every-10th", "every-line"] as const) {
  const results: DiffProbeResult[] = [];
  for (let i = 0; i < runs; i++) results.push(await probe(kind));
  console.log(
    `${kind.padEnd(10)}  time ms ${stats(results.map((r) => r.ms)).padEnd(20)}  ` +
      `peak RSS MiB ${stats(results.map((r) => r.peakRssMiB))}`,
  );
}
