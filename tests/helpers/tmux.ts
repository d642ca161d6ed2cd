/**
 * A real terminal for end-to-end tests of what a person sees: a private tmux server (its own
 * socket in a temp dir) running one shell command in a pane of a given size. The screen and the
 * whole scrollback are read with capture-pane; keys are typed with send-keys.
 */

export interface Terminal {
  /** The visible screen, one string per row. */
  screen(): Promise<string[]>;
  /** Everything the pane showed: scrollback and screen, wrapped lines joined (-J). */
  history(): Promise<string[]>;
  /** Types text followed by Enter. */
  type(text: string): Promise<void>;
  /** Types text as it is, control characters included (Tab, Ctrl-U), without Enter. */
  keys(text: string): Promise<void>;
  /** The command's exit code once it ended (polls; undefined if it did not end in time). */
  exitCode(timeoutMs: number): Promise<number | undefined>;
}

const dec = new TextDecoder();

/** Quotes a word for sh. */
export function shellQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/**
 * Runs `command` (sh syntax) in a `columns`×`rows` tmux pane with environment `env`, calls `fn`,
 * then always stops the tmux server and removes its temp dir.
 */
export async function withTerminal(
  size: { columns: number; rows: number },
  command: string,
  env: Record<string, string>,
  fn: (t: Terminal) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "fluxfleet-tmux-" });
  const socket = `${dir}/socket`;
  const codeFile = `${dir}/code`;
  // Set before the pane exists: a history limit applies to panes created after it.
  const config = `${dir}/tmux.conf`;
  await Deno.writeTextFile(config, "set -g history-limit 100000\nset -g status off\n");
  const tmux = async (...args: string[]) => {
    const out = await new Deno.Command("tmux", {
      args: ["-S", socket, "-f", config, ...args],
      stdin: "null",
      env,
    }).output();
    if (!out.success) throw new Error(`tmux ${args[0]}: ${dec.decode(out.stderr)}`);
    return dec.decode(out.stdout);
  };
  const exports = Object.entries(env).map(([k, v]) => `${k}=${shellQuote(v)}`).join(" ");
  // The pane outlives the command (sleep), so the screen can still be read after it ended.
  const script = `export ${exports}; ${command}; echo $? > ${shellQuote(codeFile)}; sleep 600`;
  try {
    await tmux(
      "new-session",
      "-d",
      "-x",
      String(size.columns),
      "-y",
      String(size.rows),
      "-s",
      "t",
      `sh -c ${shellQuote(script)}`,
    );
    const lines = (s: string) => s.replace(/\n$/, "").split("\n");
    await fn({
      screen: async () => lines(await tmux("capture-pane", "-p", "-t", "t")),
      history: async () => lines(await tmux("capture-pane", "-p", "-J", "-S", "-", "-t", "t")),
      type: async (text) => {
        await tmux("send-keys", "-t", "t", "-l", text);
        await tmux("send-keys", "-t", "t", "Enter");
      },
      keys: async (text) => {
        await tmux("send-keys", "-t", "t", "-l", text);
      },
      exitCode: async (timeoutMs) => {
        const end = Date.now() + timeoutMs;
        while (Date.now() < end) {
          const text = await Deno.readTextFile(codeFile).catch(() => "");
          if (text.trim() !== "") return Number(text.trim());
          await new Promise((r) => setTimeout(r, 100));
        }
        return undefined;
      },
    });
  } finally {
    await tmux("kill-server").catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
}
