/**
 * `deno task install [--root DIR] [--deno PATH]`: puts a `fluxfleet` command in DIR/bin. Without
 * `--root`, run through npx (`npx -y deno@2.9.6 task install`, the README's command), DIR is npm's
 * global prefix — where `npm install -g` puts commands, so on the PATH of anyone who has npm;
 * otherwise ~/.local. The command is a small shell wrapper that `exec`s Deno directly on this
 * checkout's main.ts, so fluxfleet is the process the shell runs: Ctrl-C and other signals reach
 * it, and nothing (npx, a shell) is left in between to die first and orphan it.
 *
 * Not `deno install -g`: its wrapper runs `deno` from the PATH, which someone running Deno through
 * `npx deno` does not have; this one names the Deno binary that ran the task (`--deno` to pick
 * another) and this checkout's deno.json (the import map and node_modules live there).
 */
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { VERSION } from "../version.ts";

/** The checkout's root: this file is lib/cli/install.ts. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/** A POSIX shell single-quoted word. */
function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/** The wrapper's text. */
export function wrapperScript(denoPath: string, repoRoot: string): string {
  return [
    "#!/bin/sh",
    `# fluxfleet ${VERSION}, written by \`deno task install\` from ${repoRoot}.`,
    "# Runs Deno directly (exec: no npx or shell in between), so signals reach fluxfleet.",
    "# Run the task again after moving the checkout or removing that Deno.",
    `deno=${shellQuote(denoPath)}`,
    `[ -x "$deno" ] || { printf '%s\\n' ${
      shellQuote(
        `fluxfleet: ${denoPath} is gone (npm's cache cleared?): ` +
          `run \`npx -y deno@2.9.6 task install\` in ${repoRoot} again`,
      )
    } >&2; exit 127; }`,
    `exec "$deno" run -A --config ${shellQuote(join(repoRoot, "deno.json"))} ${
      shellQuote(join(repoRoot, "main.ts"))
    } "$@"`,
    "",
  ].join("\n");
}

export interface InstallOptions {
  /** The wrapper goes to `${root}/bin/fluxfleet`. */
  root: string;
  denoPath: string;
  repoRoot: string;
}

/** Writes the wrapper (mode 0755, replaced atomically); returns its path. */
export async function installWrapper(opts: InstallOptions): Promise<string> {
  const bin = join(opts.root, "bin");
  await Deno.mkdir(bin, { recursive: true });
  const target = join(bin, "fluxfleet");
  const temp = `${target}.${crypto.randomUUID()}.tmp`;
  try {
    await Deno.writeTextFile(temp, wrapperScript(opts.denoPath, opts.repoRoot), { mode: 0o755 });
    await Deno.chmod(temp, 0o755);
    await Deno.rename(temp, target);
  } finally {
    await Deno.remove(temp).catch(() => {});
  }
  return target;
}

function usage(): never {
  console.error("usage: deno task install [--root DIR] [--deno PATH]");
  Deno.exit(2);
}

/**
 * Parses `--root DIR`, `--deno PATH` (also `--root=DIR`). The default root: npm's global prefix
 * when run through npm (npx sets npm_config_global_prefix), else `home`/.local.
 */
export function parseInstallArgs(
  args: string[],
  home: string | undefined,
  npmGlobalPrefix?: string,
): InstallOptions {
  let root = npmGlobalPrefix || (home ? join(home, ".local") : undefined);
  let denoPath = Deno.execPath();
  for (let i = 0; i < args.length; i++) {
    const [flag, inline] = args[i].split(/=(.*)/s, 2);
    const value = inline ?? args[++i];
    if (value === undefined || (flag !== "--root" && flag !== "--deno")) usage();
    if (flag === "--root") root = resolve(value);
    else denoPath = resolve(value);
  }
  if (!root) throw new Error("HOME is not set: pass --root DIR");
  return { root, denoPath, repoRoot: REPO_ROOT };
}

if (import.meta.main) {
  const opts = parseInstallArgs(
    Deno.args,
    Deno.env.get("HOME"),
    Deno.env.get("npm_config_global_prefix"),
  );
  let target: string;
  try {
    target = await installWrapper(opts);
  } catch (e) {
    if (!(e instanceof Deno.errors.PermissionDenied)) throw e;
    console.error(
      `cannot write ${join(opts.root, "bin", "fluxfleet")}: permission denied; ` +
        "pass --root DIR for a directory of yours (e.g. --root ~/.local, then add ~/.local/bin to PATH)",
    );
    Deno.exit(1);
  }
  // Checks the command works (and fetches the npm dependencies once).
  const out = await new Deno.Command(target, { args: ["--version"], stdin: "null" }).output();
  const said = new TextDecoder().decode(out.stdout).trim();
  if (!out.success) {
    console.error(`installed ${target}, but \`fluxfleet --version\` failed:`);
    console.error(new TextDecoder().decode(out.stderr));
    Deno.exit(1);
  }
  console.log(`installed ${target} (${said}, Deno ${opts.denoPath})`);
  const onPath = (Deno.env.get("PATH") ?? "").split(":").includes(dirname(target));
  if (!onPath) console.log(`${dirname(target)} is not on your PATH: add it to run \`fluxfleet\``);
}
