/**
 * Where fluxfleet's start-up goes: runs the CLI in this process under V8's sampling CPU profiler
 * (node:inspector) and stops the profiler at the CLI's first `fetch` (its first request to a git
 * server or a cluster), so the profile holds module loading, argument parsing, the manifest and
 * schema, the kubeconfig and the planning set-up — nothing after.
 *
 *   deno run -A bench/startup_profile.ts OUT <fluxfleet args…>
 *
 * Writes OUT (a .cpuprofile) and OUT.txt (bench/cpuprofile.ts's summary), and prints one JSON
 * line to stderr: {"firstFetchMs": …, "memory": …} — the time from the profiler's start, and
 * Deno.memoryUsage() at that moment; run with `--v8-flags=--expose-gc` and `memoryAfterGc` says
 * what of the heap is still live after a full GC there. The CLI then runs on to its normal end.
 */
import { Session } from "node:inspector";
import { type CpuProfile, formatSummary, summarize } from "./cpuprofile.ts";

const [out, ...cliArgs] = Deno.args;
if (!out || cliArgs.length === 0) {
  console.error("usage: deno run -A bench/startup_profile.ts OUT <fluxfleet args…>");
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

await post("Profiler.enable");
// 100 µs: start-up is a few hundred ms.
await post("Profiler.setSamplingInterval", { interval: 100 });
await post("Profiler.start");
const started = performance.now();

let written: Promise<void> | undefined;
const realFetch = globalThis.fetch;
globalThis.fetch = (...args: Parameters<typeof fetch>) => {
  written ??= (async () => {
    const firstFetchMs = performance.now() - started;
    const memory = Deno.memoryUsage();
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    const memoryAfterGc = gc ? Deno.memoryUsage() : undefined;
    const { profile } = await post<{ profile: CpuProfile }>("Profiler.stop");
    await Deno.writeTextFile(out, JSON.stringify(profile));
    await Deno.writeTextFile(`${out}.txt`, formatSummary(summarize(profile, 25)) + "\n");
    console.error(JSON.stringify({ firstFetchMs, memory, memoryAfterGc }));
  })();
  return realFetch(...args);
};

// main.ts parses Deno.args; it must see only the CLI's own arguments.
Object.defineProperty(Deno, "args", { value: cliArgs, configurable: true });
try {
  // A computed specifier: `deno check bench/` stays independent of the CLI's own type check.
  const entry = new URL("../main.ts", import.meta.url).href;
  await import(entry);
} finally {
  await written;
  session.disconnect();
}
