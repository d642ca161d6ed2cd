/**
 * The CLI process's life: signals, output that may vanish, and temporary files removed on every
 * exit path.
 *
 * - Every temporary file of the run (clones, kustomize builds, system git's key dir, the temp
 *   files of git and kubectl) lives under one run directory: TMPDIR is pointed at it for this
 *   process and its children. It is removed synchronously on every way out: the normal end,
 *   `exit()`, an uncaught error; one left by a run killed with SIGKILL is removed by the next run.
 * - SIGINT (Ctrl-C), SIGTERM and SIGHUP: the first stops new work (`signal` aborts; steps in
 *   flight finish and are reported), a second one quits at once. The exit code is 128 + the
 *   signal's number (130 for Ctrl-C).
 * - Writes never throw. `apply … | tail` hit by Ctrl-C loses tail first: a write to a closed pipe
 *   fails (Deno ignores SIGPIPE, so it is an EPIPE error, not a signal). Output to a closed stdout
 *   is dropped and counts as an interruption (exit code 141, as a shell reports SIGPIPE), since
 *   nobody reads the report any more; a closed stderr only drops progress lines.
 */

import { tmpdir } from "node:os";
import { makeOwnedDirSync, sweepStaleOwnedDirs } from "../util/owned_dirs.ts";

const SIGNAL_CODES = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 } as const;
type HandledSignal = keyof typeof SIGNAL_CODES;
/** 128 + SIGPIPE (13): what a shell reports for a writer whose reader went away. */
export const BROKEN_PIPE_CODE = 141;

export interface Lifecycle {
  /** Aborted by the first signal, or when stdout is closed: start no new work. */
  readonly signal: AbortSignal;
  /** The exit code the interruption asks for (130 after Ctrl-C); undefined when not interrupted. */
  interruptedCode(): number | undefined;
  /** Writes to stdout / stderr; never throws (see above). */
  out(text: string): void;
  err(text: string): void;
  /** Writes to stderr through `drawFilter` (the live display, whose own escapes must stay). */
  draw(text: string): void;
  /** Removes the run's temporary files, then exits. */
  exit(code: number): never;
}

export interface LifecycleOptions {
  /** Applied to everything written (secret redaction). */
  filter?: (text: string) => string;
  /** Applied to what `draw` writes instead of `filter`. */
  drawFilter?: (text: string) => string;
  /** Stream to write to (tests); default the process's stdout and stderr. */
  stdout?: { writeSync(p: Uint8Array): number };
  stderr?: { writeSync(p: Uint8Array): number };
  /** Install the signal listeners (default true). */
  signals?: boolean;
}

const encoder = new TextEncoder();

/** A writer that drops everything once a write failed; `onClosed` is told once. */
export function safeWriter(
  stream: { writeSync(p: Uint8Array): number },
  onClosed: () => void,
): (text: string) => void {
  let closed = false;
  return (text) => {
    if (closed) return;
    let bytes = encoder.encode(text);
    try {
      // writeSync may write less than asked (a full pipe): write the rest.
      while (bytes.length > 0) bytes = bytes.subarray(stream.writeSync(bytes));
    } catch {
      closed = true;
      onClosed();
    }
  };
}

/**
 * The run directories' name prefix, "fluxfleet run" (lib/util/owned_dirs.ts: the owner follows
 * it): short, since system git's agent socket path inside it is bounded.
 */
export const RUN_DIR_PREFIX = "ffrun-";

/**
 * Creates the run directory and points TMPDIR at it; returns a synchronous remover. The directory
 * is named after this process: the run directories of runs killed with SIGKILL (whose exit paths
 * never ran) are removed first, with what still runs for them (an ssh-agent, git).
 */
function runTempDir(): () => void {
  const root = tmpdir();
  sweepStaleOwnedDirs(root, RUN_DIR_PREFIX);
  const dir = makeOwnedDirSync(root, RUN_DIR_PREFIX);
  Deno.env.set("TMPDIR", dir);
  let removed = false;
  return () => {
    if (removed) return;
    removed = true;
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch { /* already gone */ }
  };
}

export function startLifecycle(opts: LifecycleOptions = {}): Lifecycle {
  const filter = opts.filter ?? ((t: string) => t);
  const interrupt = new AbortController();
  /** Set by the first signal; a broken pipe alone is not a first Ctrl-C. */
  let signalCode: number | undefined;
  let pipeClosed = false;
  const removeTemp = runTempDir();
  // Other modules clean up on "unload" too (system git wipes its key first): Deno fires it only
  // at a natural end, so exit() and fatal errors fire it themselves.
  let unloaded = false;
  const unload = () => {
    if (unloaded) return;
    unloaded = true;
    globalThis.dispatchEvent(new Event("unload"));
  };
  globalThis.addEventListener("unload", () => {
    unloaded = true;
    removeTemp();
  });
  globalThis.addEventListener("error", unload);
  globalThis.addEventListener("unhandledrejection", unload);

  const errRaw = safeWriter(opts.stderr ?? Deno.stderr, () => {});
  const err = (text: string) => errRaw(filter(text));
  const drawFilter = opts.drawFilter ?? filter;
  const draw = (text: string) => errRaw(drawFilter(text));
  const outRaw = safeWriter(opts.stdout ?? Deno.stdout, () => {
    pipeClosed = true;
    if (interrupt.signal.aborted) return;
    err("output closed (broken pipe): finishing the steps in flight\n");
    interrupt.abort();
  });

  const exit = (exitCode: number): never => {
    unload();
    removeTemp();
    Deno.exit(exitCode);
  };

  if (opts.signals !== false) {
    for (const name of Object.keys(SIGNAL_CODES) as HandledSignal[]) {
      Deno.addSignalListener(name, () => {
        if (signalCode !== undefined) {
          err(`${name === "SIGINT" ? "interrupted" : name} again: quitting now\n`);
          exit(signalCode);
        }
        signalCode = SIGNAL_CODES[name];
        err(
          `${
            name === "SIGINT" ? "interrupted" : `${name} received`
          }: finishing the steps in flight (Ctrl-C again to quit now)\n`,
        );
        interrupt.abort();
      });
    }
  }

  return {
    signal: interrupt.signal,
    interruptedCode: () => signalCode ?? (pipeClosed ? BROKEN_PIPE_CODE : undefined),
    out: (text) => outRaw(filter(text)),
    err,
    draw,
    exit,
  };
}
