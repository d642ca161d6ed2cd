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
 *
 * Start-up: the task also bundles the checkout's own modules into one file (`deno bundle`, npm
 * packages left to the import map) in DIR/lib/fluxfleet; loading ~180 modules one by one was
 * most of the time before fluxfleet's first request. The wrapper runs the bundle only while no
 * file of the checkout is newer than it (after a `git pull` it runs main.ts, as before, until the
 * task is run again), and main.ts whenever the bundle is missing or could not be made.
 *
 * The bundle runs with `--node-modules-dir=manual` (BUNDLE_FLAGS): the task has run `deno install`
 * in the checkout, so node_modules holds every npm package of deno.json, and the run does not have
 * Deno check it again.
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

/**
 * V8's young generation capped at 2 MiB semi-spaces: a no-op plan of 500 clusters peaks 14 MiB
 * lower (206 → 192 MiB), one of 100 clusters 16 MiB, for at most ~2% more CPU (bench/README.md,
 * session 4).
 */
export const V8_FLAGS = "--v8-flags=--max-semi-space-size=2";

/**
 * The bundle's run only: its npm packages are read from the checkout's node_modules as they are.
 * In Deno's "auto" mode (deno.json's, kept for main.ts and the tasks) every start checks
 * node_modules against the lockfile and takes its file lock once per npm package the modules may
 * import, before running anything: ~20 ms of every start (`--version` 108 → 90 ms, a plan's first
 * request 25 ms sooner; bench/README.md, session 7). `deno install` (run by the task) has put
 * every package there; the wrapper runs the bundle only while node_modules/.deno exists.
 */
export const BUNDLE_FLAGS = "--node-modules-dir=manual";

/**
 * npm packages bundled too (issue 19), pure JavaScript, so that their CommonJS files are not each
 * found, read and wrapped by Deno's npm loader when they load: those every run loads before its
 * first request, and isomorphic-git, which a plan loads for any repository not in the commit cache
 * (its own chunk, still loaded on first use; a plan of 100 clusters whose 10 repositories are all
 * fetched: −20 to −50 ms of wall by the medians of three sets of paired rounds, less than their
 * spread; bench/README.md session 9). Bundling the ajv runtime and @jest/diff-sequences as well
 * made `--version` 12 ms slower (paired), so they stay external.
 * Packages with native parts (ssh2, cpu-features) and the rest stay external (deno.json's map).
 */
export const BUNDLED_PACKAGES = ["yaml", "js-yaml", "commander", "isomorphic-git"];

/** What of the checkout, when newer than the bundle, means the bundle is out of date. */
const SOURCES = ["main.ts", "lib", "schemas", "deno.json", "deno.lock"];

/** The wrapper's text; with `bundle`, it runs that while no source is newer (else main.ts). */
export function wrapperScript(denoPath: string, repoRoot: string, bundle?: string): string {
  /** `entry` is shell text (quoted or a variable). */
  const run = (entry: string, flags: string) =>
    `exec "$deno" run -A ${flags} --config ${
      shellQuote(join(repoRoot, "deno.json"))
    } ${entry} "$@"`;
  const sources = SOURCES.map((s) => shellQuote(join(repoRoot, s))).join(" ");
  const installed = shellQuote(join(repoRoot, "node_modules", ".deno"));
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
    ...(bundle
      ? [
        "# The checkout's modules in one file, while nothing in the checkout is newer than it;",
        "# its npm packages as `deno install` left them in the checkout's node_modules.",
        `bundle=${shellQuote(bundle)}`,
        `if [ -f "$bundle" ] && [ -d ${installed} ] && [ -z "$(find ${sources} -newer "$bundle" -print 2>/dev/null | head -n 1)" ]; then`,
        `  ${run('"$bundle"', `${V8_FLAGS} ${BUNDLE_FLAGS}`)}`,
        "fi",
      ]
      : []),
    run(shellQuote(join(repoRoot, "main.ts")), V8_FLAGS),
    "",
  ].join("\n");
}

/**
 * Bundles the checkout's modules (main.ts and everything it imports from the checkout) into
 * `dir`/main.js, minified, npm packages left to deno.json's import map; a dynamic import stays one
 * (its own file). Replaces what `dir` held. Returns the bundle, or undefined with why it failed.
 */
export async function bundleCheckout(
  denoPath: string,
  repoRoot: string,
  dir: string,
): Promise<{ file?: string; error?: string }> {
  const config = JSON.parse(await Deno.readTextFile(join(repoRoot, "deno.json")));
  const externals = Object.keys(config.imports ?? {})
    .filter((k) => !BUNDLED_PACKAGES.includes(k))
    .flatMap((k) => ["--external", k]);
  const temp = `${dir}.${crypto.randomUUID()}.tmp`;
  const error = await runDeno(denoPath, repoRoot, [
    "bundle",
    "--quiet",
    "--platform",
    "deno",
    "--code-splitting",
    // Half the bytes for V8 to read and check against its code cache at every start (~20 ms of
    // `fluxfleet --version`). Nothing here reads function or class names; a stack trace of the
    // installed command names minified functions (run main.ts to debug).
    "--minify",
    "--config",
    join(repoRoot, "deno.json"),
    ...externals,
    "--outdir",
    temp,
    join(repoRoot, "main.ts"),
  ]);
  if (error !== undefined) {
    await Deno.remove(temp, { recursive: true }).catch(() => {});
    return { error };
  }
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  await Deno.rename(temp, dir);
  return { file: join(dir, "main.js") };
}

/**
 * `deno install` in the checkout: every npm package of deno.json into its node_modules, where the
 * bundle's runs (BUNDLE_FLAGS) read them without checking. Returns why it failed, if it did.
 */
export function installPackages(denoPath: string, repoRoot: string): Promise<string | undefined> {
  return runDeno(denoPath, repoRoot, [
    "install",
    "--quiet",
    "--config",
    join(repoRoot, "deno.json"),
  ]);
}

/** Runs `deno args…` in the checkout; undefined when it succeeded, else the end of what it said. */
async function runDeno(
  denoPath: string,
  repoRoot: string,
  args: string[],
): Promise<string | undefined> {
  const out = await new Deno.Command(denoPath, {
    args,
    cwd: repoRoot,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (out.success) return undefined;
  return new TextDecoder().decode(out.stderr).trim().split("\n").slice(-3).join(" ") ||
    `deno ${args[0]} exited with ${out.code}`;
}

export interface InstallOptions {
  /** The wrapper goes to `${root}/bin/fluxfleet`. */
  root: string;
  denoPath: string;
  repoRoot: string;
}

/**
 * Writes the wrapper (mode 0755, replaced atomically); returns its path. With `bundle`
 * (bundleCheckout's), the wrapper runs it while it is up to date.
 */
export async function installWrapper(opts: InstallOptions & { bundle?: string }): Promise<string> {
  const bin = join(opts.root, "bin");
  await Deno.mkdir(bin, { recursive: true });
  const target = join(bin, "fluxfleet");
  const temp = `${target}.${crypto.randomUUID()}.tmp`;
  try {
    await Deno.writeTextFile(temp, wrapperScript(opts.denoPath, opts.repoRoot, opts.bundle), {
      mode: 0o755,
    });
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
    const packages = await installPackages(opts.denoPath, opts.repoRoot);
    const bundled = packages === undefined
      ? await bundleCheckout(opts.denoPath, opts.repoRoot, join(opts.root, "lib", "fluxfleet"))
      : { error: `deno install failed: ${packages}` };
    if (bundled.error) {
      console.error(
        `note: fluxfleet's modules could not be bundled (${bundled.error}); ` +
          "the command runs main.ts (it starts slower)",
      );
    }
    target = await installWrapper({ ...opts, bundle: bundled.file });
  } catch (e) {
    if (!(e instanceof Deno.errors.PermissionDenied)) throw e;
    console.error(
      `cannot write in ${opts.root} (bin/fluxfleet, lib/fluxfleet): permission denied; ` +
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
