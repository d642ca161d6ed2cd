/**
 * Progress while planning and applying.
 *
 * On a terminal: a live block that always fits the screen — one summary line with the counts
 * (queued / running / done / failed) and the running clusters, at most as many as the terminal
 * has rows; when a cluster ends (apply, destroy) it leaves one permanent line above the block,
 * ✓ or ✗ with its duration. Lines are cut to the terminal's width (a wrapped line would break
 * the redraw), and the size is read again for every frame (resizes). Elsewhere (CI, pipes):
 * the same events as plain timestamped lines. `--quiet` prints nothing; NO_COLOR turns the
 * colours off.
 *
 * The redraw is log-update (sindresorhus, maintained; checked under Deno 2.9.6: it only needs a
 * stream with write/columns/rows, and with showCursor it never hooks process signals) and
 * cli-truncate (same author) cuts lines by display width, wide characters and colours included.
 */
import type { createLogUpdate } from "log-update";
import type cliTruncate from "cli-truncate";
import { stripControls } from "../util/strip_controls.ts";

let live: { createLogUpdate: typeof createLogUpdate; cliTruncate: typeof cliTruncate } | undefined;

/**
 * Imports the live display's libraries: only a terminal without --quiet draws it, so other runs
 * (CI, pipes, --quiet, JSON) never load them at start-up. Call before `createProgress` with tty.
 */
export async function loadLiveDisplay(): Promise<void> {
  if (live) return;
  const [logUpdate, truncate] = await Promise.all([import("log-update"), import("cli-truncate")]);
  live = { createLogUpdate: logUpdate.createLogUpdate, cliTruncate: truncate.default };
}

/** How a cluster ended a stage (the same shape as lib/apply/options.ts ClusterEnd). */
export interface ProgressEnd {
  status: "done" | "failed" | "skipped";
  summary: string;
}

export interface Progress {
  /** A new stage ("planning", "applying"…): every cluster is queued. */
  stage(title: string, clusters: string[], opts?: { persist?: boolean }): void;
  /** The cluster is running: what it does now (a phase, or a retry). */
  event(cluster: string, message: string): void;
  /** The cluster waits for its turn again. */
  queued(cluster: string): void;
  /** The cluster is finished in this stage. */
  end(cluster: string, end: ProgressEnd): void;
  /** Clears the live block (the final report follows). */
  done(): void;
  /** Draws again now (the terminal was resized). */
  redraw(): void;
}

export interface TerminalSize {
  columns: number;
  rows: number;
}

export interface ProgressOptions {
  quiet: boolean;
  tty: boolean;
  color: boolean;
  write(text: string): void;
  now?: () => Date;
  /** The terminal's size, read for every frame; default 80×24. */
  size?: () => TerminalSize;
}

const FRAMES = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
const REFRESH_MS = 100;

type State = "queued" | "running" | "done" | "failed" | "skipped";

interface ClusterLine {
  state: State;
  message: string;
  /** When it started running in this stage (ms since the epoch). */
  startedAt?: number;
}

/**
 * Text from servers and errors goes on one line and may not steer the terminal: line breaks and
 * tabs become spaces, escape sequences and other control characters are removed (stripControls).
 */
export function oneLine(text: string): string {
  return stripControls(text.replace(/[\n\t]+/g, " ")).trim();
}

/** 0.4s, 12.3s, 2m05s */
export function formatElapsed(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.floor(ms / 1000);
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
}

export function createProgress(opts: ProgressOptions): Progress {
  const now = opts.now ?? (() => new Date());
  const clock = () => now().getTime();
  const clusters = new Map<string, ClusterLine>();
  let title = "";
  let persist = false;
  let stageStart = clock();

  const noop: Progress = {
    stage() {},
    event() {},
    queued() {},
    end() {},
    done() {},
    redraw() {},
  };
  if (opts.quiet) return noop;

  const begin = (t: string, names: string[], o: { persist?: boolean } = {}) => {
    title = t;
    persist = o.persist ?? false;
    stageStart = clock();
    clusters.clear();
    for (const name of names) clusters.set(name, { state: "queued", message: "" });
  };
  /** The cluster's line, or undefined once it ended in this stage (late events are dropped). */
  const open = (name: string): ClusterLine | undefined => {
    let c = clusters.get(name);
    if (!c) clusters.set(name, c = { state: "queued", message: "" });
    return c.state === "done" || c.state === "failed" || c.state === "skipped" ? undefined : c;
  };
  const finish = (name: string, end: ProgressEnd): { c: ClusterLine; ms: number } | undefined => {
    const c = open(name);
    if (!c) return undefined;
    const ms = c.startedAt === undefined ? 0 : clock() - c.startedAt;
    c.state = end.status;
    c.message = oneLine(end.summary);
    return { c, ms };
  };

  if (!opts.tty) {
    const line = (text: string) =>
      opts.write(`${now().toISOString().slice(11, 19)} ${oneLine(text)}\n`);
    return {
      stage(t, names, o) {
        begin(t, names, o);
        line(`${t} ${names.length} cluster${names.length === 1 ? "" : "s"}`);
      },
      event(name, message) {
        const c = open(name);
        if (!c) return;
        if (c.state !== "running") c.startedAt = clock();
        c.state = "running";
        line(`${name}: ${message}`);
      },
      queued(name) {
        const c = open(name);
        if (c) c.state = "queued";
      },
      end(name, end) {
        const r = finish(name, end);
        if (!r) return;
        const how = end.status === "done"
          ? `done in ${formatElapsed(r.ms)}`
          : end.status === "failed"
          ? `failed after ${formatElapsed(r.ms)}`
          : "skipped";
        line(`${name}: ${how}: ${end.summary.replace(/^(failed|skipped): /, "")}`);
      },
      done() {},
      redraw() {},
    };
  }

  const paint = (code: string, s: string) => (opts.color ? `\x1b[${code}m${s}\x1b[0m` : s);
  const size = () => opts.size?.() ?? { columns: 80, rows: 24 };
  const stream = {
    isTTY: true,
    get columns() {
      return size().columns;
    },
    get rows() {
      return size().rows;
    },
    write(text: string) {
      opts.write(text);
      return true;
    },
  };
  if (!live) throw new Error("the live display is not loaded: await loadLiveDisplay() first");
  const { createLogUpdate, cliTruncate } = live;
  // showCursor: log-update would otherwise hide it and hook process signals to show it again.
  const screen = createLogUpdate(stream as unknown as NodeJS.WriteStream, { showCursor: true });
  let frame = 0;
  let timer: ReturnType<typeof setInterval> | undefined;
  let shown = false;

  const nameWidth = () => Math.max(0, ...[...clusters.keys()].map((k) => k.length));
  /** One line, cut to the terminal's width (never wrapped: the redraw counts lines). */
  const fit = (text: string) =>
    cliTruncate(text, Math.max(1, size().columns - 1), { position: "end" });

  const render = (): string => {
    const { rows } = size();
    const counts = { queued: 0, running: 0, done: 0, failed: 0, skipped: 0 };
    for (const c of clusters.values()) counts[c.state]++;
    const t = clock();
    const parts = [`${counts.queued} queued`, `${counts.running} running`, `${counts.done} done`];
    parts.push(`${counts.failed} failed`);
    if (counts.skipped > 0) parts.push(`${counts.skipped} skipped`);
    const lines = [
      fit(
        `${title} ${clusters.size} cluster${clusters.size === 1 ? "" : "s"}: ${parts.join(", ")}  ${
          formatElapsed(t - stageStart)
        }`,
      ),
    ];
    // The block keeps one row free for the cursor: it never scrolls the screen.
    const room = Math.max(0, rows - 2);
    const running = [...clusters.entries()].filter(([, c]) => c.state === "running")
      .sort((a, b) => a[1].startedAt! - b[1].startedAt!);
    const shownRunning = running.length > room ? Math.max(0, room - 1) : running.length;
    const width = nameWidth();
    for (const [name, c] of running.slice(0, shownRunning)) {
      const spinner = paint("36", FRAMES[frame]);
      const elapsed = paint("2", formatElapsed(t - c.startedAt!).padStart(6));
      lines.push(fit(`${spinner} ${name.padEnd(width)} ${elapsed}  ${c.message}`));
    }
    if (running.length > shownRunning && room > 0) {
      lines.push(fit(paint("2", `  … ${running.length - shownRunning} more running`)));
    }
    return lines.slice(0, Math.max(1, rows - 1)).join("\n");
  };

  const draw = () => {
    frame = (frame + 1) % FRAMES.length;
    screen(render());
    shown = true;
  };
  const schedule = () => {
    if (timer !== undefined) return;
    const id = setInterval(draw, REFRESH_MS);
    // The refresh never keeps the process alive on its own.
    Deno.unrefTimer(id);
    timer = id;
  };
  const stop = () => {
    if (timer !== undefined) clearInterval(timer);
    timer = undefined;
  };

  return {
    stage(t, names, o) {
      begin(t, names, o);
      schedule();
    },
    event(name, message) {
      const c = open(name);
      if (!c) return;
      if (c.state !== "running") c.startedAt = clock();
      c.state = "running";
      c.message = oneLine(message);
      schedule();
    },
    queued(name) {
      const c = open(name);
      if (c) c.state = "queued";
    },
    end(name, end) {
      const r = finish(name, end);
      if (!r || !persist) return;
      const mark = end.status === "done"
        ? paint("32", "✓")
        : end.status === "failed"
        ? paint("31", "✗")
        : paint("33", "-");
      const elapsed = paint("2", formatElapsed(r.ms).padStart(6));
      screen.persist(fit(`${mark} ${name.padEnd(nameWidth())} ${elapsed}  ${r.c.message}`));
      if (timer !== undefined) draw();
    },
    done() {
      stop();
      if (shown) screen.clear();
      screen.done();
      shown = false;
    },
    redraw() {
      if (timer !== undefined) draw();
    },
  };
}
