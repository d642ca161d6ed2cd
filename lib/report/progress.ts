/**
 * Progress while planning and applying. On a terminal: one live line per cluster, redrawn in
 * place (at most ten times a second). Elsewhere (CI, pipes): plain timestamped lines. `--quiet`
 * prints nothing; NO_COLOR turns the colours off. The progress display is the one writer that
 * emits escape sequences of its own, so it strips the messages it is given (they can quote a
 * server) and its writer does not.
 */
import { stripControls } from "../util/strip_controls.ts";

export interface Progress {
  event(cluster: string, message: string): void;
  /** Clears the live block (the final report follows). */
  done(): void;
}

export interface ProgressOptions {
  quiet: boolean;
  tty: boolean;
  color: boolean;
  write(text: string): void;
  now?: () => Date;
}

const FRAMES = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

export function createProgress(opts: ProgressOptions): Progress {
  const now = opts.now ?? (() => new Date());
  if (opts.quiet) return { event() {}, done() {} };
  if (!opts.tty) {
    return {
      event: (cluster, message) =>
        opts.write(
          `${now().toISOString().slice(11, 19)} ${stripControls(cluster)}: ${
            stripControls(message)
          }\n`,
        ),
      done() {},
    };
  }
  const lines = new Map<string, string>();
  let drawn = 0;
  let frame = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const dim = (s: string) => (opts.color ? `\x1b[2m${s}\x1b[22m` : s);
  const draw = () => {
    timer = undefined;
    frame = (frame + 1) % FRAMES.length;
    const width = Math.max(...[...lines.keys()].map((k) => k.length));
    let out = drawn > 0 ? `\x1b[${drawn}A` : "";
    for (const [cluster, message] of lines) {
      out += `\r\x1b[2K${FRAMES[frame]} ${cluster.padEnd(width)}  ${dim(message)}\n`;
    }
    drawn = lines.size;
    opts.write(out);
  };
  return {
    event(cluster, message) {
      lines.set(stripControls(cluster), stripControls(message));
      timer ??= setTimeout(draw, 100);
    },
    done() {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      if (drawn > 0) opts.write(`\x1b[${drawn}A\x1b[0J`);
      drawn = 0;
    },
  };
}
