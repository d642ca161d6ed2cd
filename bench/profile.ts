/**
 * Runs the fluxfleet CLI in this process under V8's profilers (node:inspector) and writes what
 * they saw (open a `.cpuprofile` / `.heapprofile` in Chrome DevTools; bench/cpuprofile.ts
 * summarizes both into OUT.txt):
 *
 *   deno run -A bench/profile.ts [--heap] OUT <fluxfleet args…>
 *
 * Default: the sampling CPU profiler → OUT (a .cpuprofile). --heap: the sampling heap profiler,
 * polled every 250 ms and at the end; the poll with the most live memory is kept as OUT (a
 * .heapprofile), with Deno.memoryUsage() at that moment and the highest RSS seen.
 *
 * main.ts sets Deno.exitCode and returns on every normal path, so the profile is complete; the
 * error paths that call Deno.exit() end the process without one.
 */
import { Session } from "node:inspector";
import {
  type CpuProfile,
  formatHeapSummary,
  formatSummary,
  type HeapProfile,
  summarize,
  summarizeHeap,
} from "./cpuprofile.ts";

const argv = [...Deno.args];
const heap = argv[0] === "--heap";
if (heap) argv.shift();
const [out, ...cliArgs] = argv;
if (!out || cliArgs.length === 0) {
  console.error("usage: deno run -A bench/profile.ts [--heap] OUT <fluxfleet args…>");
  Deno.exit(2);
}

const session = new Session();
session.connect();

function post<T>(method: string, params: Record<string, unknown> = {}): Promise<T> {
  return new Promise((resolve, reject) => {
    session.post(method, params, (err: Error | null, result?: unknown) => {
      if (err) reject(err);
      // The inspector protocol types its results per method; callers name the shape they need.
      else resolve(result as T);
    });
  });
}

function liveBytes(h: HeapProfile): number {
  let total = 0;
  const stack = [h.head];
  // Bounded: each node of the (finite) tree is pushed once.
  while (stack.length > 0) {
    const n = stack.pop()!;
    total += n.selfSize;
    stack.push(...n.children);
  }
  return total;
}

const MiB = 1048576;
let peak: { profile: HeapProfile; bytes: number; atMs: number; mem: Deno.MemoryUsage } | undefined;
let maxRss = 0;
let polling: Promise<void> | undefined;
const started = performance.now();

async function pollHeap(): Promise<void> {
  const mem = Deno.memoryUsage();
  maxRss = Math.max(maxRss, mem.rss);
  const { profile } = await post<{ profile: HeapProfile }>("HeapProfiler.getSamplingProfile");
  const bytes = liveBytes(profile);
  if (!peak || bytes > peak.bytes) {
    peak = { profile, bytes, atMs: performance.now() - started, mem };
  }
}

let timer: ReturnType<typeof setInterval> | undefined;
if (heap) {
  await post("HeapProfiler.enable");
  // 32 KiB between samples: a few thousand samples for a few hundred MiB.
  await post("HeapProfiler.startSampling", { samplingInterval: 32768 });
  timer = setInterval(() => {
    polling ??= pollHeap().finally(() => polling = undefined);
  }, 250);
} else {
  await post("Profiler.enable");
  // 200 µs: fine enough for a run of a few seconds, small enough a profile to summarize.
  await post("Profiler.setSamplingInterval", { interval: 200 });
  await post("Profiler.start");
}
// main.ts parses Deno.args; it must see only the CLI's own arguments.
Object.defineProperty(Deno, "args", { value: cliArgs, configurable: true });
try {
  // A computed specifier: `deno check bench/` stays independent of the CLI's own type check.
  const entry = new URL("../main.ts", import.meta.url).href;
  await import(entry);
} finally {
  if (heap) {
    clearInterval(timer);
    await polling;
    // One last look: a run shorter than the poll period still gets a profile.
    await pollHeap();
    await post("HeapProfiler.stopSampling");
    if (peak) {
      await Deno.writeTextFile(out, JSON.stringify(peak.profile));
      const m = peak.mem;
      const when = `at ${(peak.atMs / 1000).toFixed(1)} s (rss ${(m.rss / MiB).toFixed(0)} MiB, ` +
        `heapTotal ${(m.heapTotal / MiB).toFixed(0)} MiB, ` +
        `heapUsed ${(m.heapUsed / MiB).toFixed(0)} MiB, external ${
          (m.external / MiB).toFixed(0)
        } MiB; highest rss seen ${(maxRss / MiB).toFixed(0)} MiB)`;
      await Deno.writeTextFile(
        `${out}.txt`,
        formatHeapSummary(summarizeHeap(peak.profile), when) + "\n",
      );
    }
  } else {
    const { profile } = await post<{ profile: CpuProfile }>("Profiler.stop");
    await Deno.writeTextFile(out, JSON.stringify(profile));
    await Deno.writeTextFile(`${out}.txt`, formatSummary(summarize(profile)) + "\n");
  }
  session.disconnect();
}
