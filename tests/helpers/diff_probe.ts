/**
 * Runs `unifiedDiff` once on a large generated file and prints, as one JSON line, how long it
 * took, the process's peak RSS (VmHWM, Linux) and the diff's size. Run in a child process by
 * tests/report_test.ts (memory bound) and bench/diff.ts (timings):
 *
 *   deno run -A tests/helpers/diff_probe.ts <ends|every-10th|every-line> [lines]
 *
 * - ends: the first and the last line changed (the 12,000-line case);
 * - every-10th: one line in ten changed (an upgrade touching many objects);
 * - every-line: every line changed, the worst case of a Myers diff.
 */
import { unifiedDiff } from "../../lib/plan/diff.ts";

export type DiffProbeCase = "ends" | "every-10th" | "every-line";

export interface DiffProbeResult {
  case: DiffProbeCase;
  lines: number;
  ms: number;
  peakRssMiB: number;
  diffBytes: number;
}

/** The texts of a case: `lines` YAML-like lines, and the same with the case's edits. */
export function probeTexts(kind: DiffProbeCase, lines: number): [string, string] {
  const before = Array.from(
    { length: lines },
    (_, i) => `    app.kubernetes.io/line-${i}: value-${i % 97}-${"x".repeat(24)}`,
  );
  const after = before.map((l, i) => {
    if (kind === "ends") return i === 0 || i === lines - 1 ? `${l}-changed` : l;
    if (kind === "every-10th") return i % 10 === 0 ? `${l}-changed` : l;
    return `${l}-changed`;
  });
  return [before.join("\n") + "\n", after.join("\n") + "\n"];
}

function peakRssMiB(): number {
  const m = /^VmHWM:\s+(\d+) kB$/m.exec(Deno.readTextFileSync("/proc/self/status"));
  if (!m) throw new Error("no VmHWM in /proc/self/status");
  return Number(m[1]) / 1024;
}

if (import.meta.main) {
  const kind = Deno.args[0] as DiffProbeCase;
  if (!["ends", "every-10th", "every-line"].includes(kind)) {
    throw new Error(`unknown case ${JSON.stringify(kind)}: ends, every-10th or every-line`);
  }
  const lines = Number(Deno.args[1] ?? 12_000);
  const [before, after] = probeTexts(kind, lines);
  const t0 = performance.now();
  const diff = unifiedDiff("clusters/dev/flux-system/gotk-components.yaml", before, after);
  const ms = performance.now() - t0;
  const result: DiffProbeResult = {
    case: kind,
    lines,
    ms: Math.round(ms),
    peakRssMiB: Math.round(peakRssMiB()),
    diffBytes: diff.length,
  };
  console.log(JSON.stringify(result));
}
