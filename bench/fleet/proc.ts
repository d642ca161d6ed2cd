/**
 * Child processes of the bench: run to completion with a time limit, killed (by pid, with their
 * children) on timeout or Ctrl-C; optionally under `/usr/bin/time -v` for peak RSS and CPU time.
 */

const TIME_BIN = "/usr/bin/time";

/** Aborted on Ctrl-C: children are killed, then the finally blocks close everything. */
export const stop = new AbortController();

/** SIGTERM to a process and its descendants (`/usr/bin/time` does not pass SIGTERM on). */
function killTree(pid: number, depth = 0): void {
  if (depth > 4) return; // our trees are time → deno; never walk further than that
  let kids: number[] = [];
  try {
    kids = Deno.readTextFileSync(`/proc/${pid}/task/${pid}/children`).trim().split(/\s+/)
      .filter((s) => s !== "").map(Number);
  } catch {
    // The process is already gone, or the kernel lacks CONFIG_PROC_CHILDREN.
  }
  for (const k of kids) killTree(k, depth + 1);
  try {
    Deno.kill(pid, "SIGTERM");
  } catch {
    // Already exited.
  }
}

export interface ProcResult {
  code: number;
  /** From just before spawn to exit. */
  ms: number;
  /** From just before spawn to the first byte on stdout (undefined: it wrote nothing). */
  firstStdoutMs?: number;
  /** performance.now() just before spawn: request stamps are compared with it. */
  spawnedAt: number;
  stdout: string;
  stderr: string;
}

async function readAll(
  stream: ReadableStream<Uint8Array>,
  onFirst?: () => void,
): Promise<string> {
  const dec = new TextDecoder();
  let text = "";
  for await (const chunk of stream) {
    if (text === "" && chunk.length > 0) onFirst?.();
    text += dec.decode(chunk, { stream: true });
  }
  return text + dec.decode();
}

/** Runs a child to completion with a time limit; the child is killed on timeout or Ctrl-C. */
export async function run(
  cmd: string,
  args: string[],
  opts: {
    env?: Record<string, string>;
    cwd?: string;
    timeoutMs: number;
    onPid?(pid: number): void;
  },
): Promise<ProcResult> {
  const started = performance.now();
  const child = new Deno.Command(cmd, {
    args,
    env: opts.env,
    cwd: opts.cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  opts.onPid?.(child.pid);
  const kill = () => killTree(child.pid);
  const timer = setTimeout(kill, opts.timeoutMs);
  stop.signal.addEventListener("abort", kill);
  let firstStdoutMs: number | undefined;
  try {
    const [status, stdout, stderr] = await Promise.all([
      child.status,
      readAll(child.stdout, () => firstStdoutMs = performance.now() - started),
      readAll(child.stderr),
    ]);
    return {
      code: status.code,
      ms: performance.now() - started,
      firstStdoutMs,
      spawnedAt: started,
      stdout,
      stderr,
    };
  } finally {
    clearTimeout(timer);
    stop.signal.removeEventListener("abort", kill);
  }
}

/** The 1-minute load average (other sessions on a shared machine show up here). */
export async function loadAverage(): Promise<number> {
  const text = await Deno.readTextFile("/proc/loadavg").catch(() => "");
  return Number(text.split(" ")[0] || NaN);
}

export interface MeasuredRun extends ProcResult {
  /** Peak resident set size of the measured process (ru_maxrss), in KiB. */
  maxRssKb?: number;
  userS?: number;
  sysS?: number;
  /** With `traceRss`: [ms since spawn, VmRSS KiB] of the deno process, every ~20 ms. */
  rssTrace?: [number, number][];
}

/** A field of /proc/<pid>/status in KiB (VmRSS, VmHWM); undefined once the process is gone. */
function statusKb(pid: number, name: string): number | undefined {
  try {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(
      Deno.readTextFileSync(`/proc/${pid}/status`),
    );
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** The pid of `pid`'s only child (deno under /usr/bin/time), once it has one. */
function childPid(pid: number): number | undefined {
  try {
    const kids = Deno.readTextFileSync(`/proc/${pid}/task/${pid}/children`).trim().split(/\s+/);
    return kids[0] ? Number(kids[0]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Samples VmRSS of the deno process every 20 ms: `wrapped` when `pid` is /usr/bin/time, whose
 * child it is. Returns a stop function giving the samples ([performance.now(), KiB]).
 */
function traceRss(pid: number, wrapped: boolean): () => [number, number][] {
  const samples: [number, number][] = [];
  let target = wrapped ? undefined : pid;
  const timer = setInterval(() => {
    target ??= childPid(pid);
    const kb = target === undefined ? undefined : statusKb(target, "VmRSS");
    if (kb !== undefined) samples.push([performance.now(), kb]);
  }, 20);
  return () => {
    clearInterval(timer);
    return samples;
  };
}

let useTimeBin: boolean | undefined;

/** Whether GNU time is there and reports ru_maxrss (`-v`). */
export async function timeBinWorks(): Promise<boolean> {
  if (useTimeBin !== undefined) return useTimeBin;
  try {
    const r = await run(TIME_BIN, ["-v", "true"], { timeoutMs: 10_000 });
    useTimeBin = r.code === 0 && /Maximum resident set size/.test(r.stderr);
  } catch {
    useTimeBin = false;
  }
  return useTimeBin;
}

export async function rssSource(): Promise<string> {
  return (await timeBinWorks())
    ? "peak RSS from /usr/bin/time -v (ru_maxrss of the deno process)"
    : "peak RSS from /proc/<pid>/status VmHWM polled every 20 ms (/usr/bin/time unavailable)";
}

function field(text: string, label: string): number | undefined {
  const line = text.split("\n").find((l) => l.trim().startsWith(label));
  const v = line ? Number(line.split(":").pop()!.trim()) : NaN;
  return Number.isFinite(v) ? v : undefined;
}

/**
 * `deno <args>` with its peak RSS and CPU time: under `/usr/bin/time -v` when it works (the
 * report goes to a file in `scratch`), else with VmHWM polled every 20 ms.
 */
export async function measuredDeno(
  args: string[],
  opts: {
    env: Record<string, string>;
    scratch: string;
    cwd?: string;
    timeoutMs: number;
    traceRss?: boolean;
  },
): Promise<MeasuredRun> {
  if (await timeBinWorks()) {
    const report = `${opts.scratch}/time-${crypto.randomUUID()}.txt`;
    let stopTrace: (() => [number, number][]) | undefined;
    const r = await run(TIME_BIN, ["-v", "-o", report, Deno.execPath(), ...args], {
      ...opts,
      onPid: (pid) => {
        if (opts.traceRss) stopTrace = traceRss(pid, true);
      },
    });
    const rssTrace = stopTrace?.().map(([t, kb]): [number, number] => [t - r.spawnedAt, kb]);
    const text = await Deno.readTextFile(report).catch(() => "");
    await Deno.remove(report).catch(() => {});
    return {
      ...r,
      ...(rssTrace ? { rssTrace } : {}),
      maxRssKb: field(text, "Maximum resident set size (kbytes)"),
      userS: field(text, "User time (seconds)"),
      sysS: field(text, "System time (seconds)"),
    };
  }
  // No GNU time: a high-water mark, so only growth in the last 20 ms can be missed.
  let peak = 0;
  let timer: ReturnType<typeof setInterval> | undefined;
  try {
    const r = await run(Deno.execPath(), args, {
      ...opts,
      onPid: (pid) => {
        timer = setInterval(() => {
          peak = Math.max(peak, statusKb(pid, "VmHWM") ?? 0);
        }, 20);
      },
    });
    return { ...r, maxRssKb: peak || undefined };
  } finally {
    clearInterval(timer);
  }
}

export function requireOk(r: ProcResult, what: string, codes = [0]): void {
  if (!codes.includes(r.code)) {
    const tail = (r.stdout + r.stderr).split("\n").slice(-30).join("\n");
    throw new Error(`${what} exited ${r.code}:\n${tail}`);
  }
}

/** First line a tool prints, e.g. its version. */
export async function firstLine(cmd: string, args: string[]): Promise<string> {
  try {
    const r = await run(cmd, args, { timeoutMs: 20_000 });
    return (r.stdout || r.stderr).split("\n")[0].trim();
  } catch {
    return "unavailable";
  }
}
