/** fluxfleet's real CLI as a measured child process (`deno run -A main.ts …`). */
import { measuredDeno, type MeasuredRun, type ProcResult, run } from "./proc.ts";
import { type Env, type Fleet, ROOT } from "./world.ts";

const TIMEOUT_MS = 30 * 60_000;

/** The commit cache of every fluxfleet run of the bench (lib/git/commit_cache.ts). */
export function commitCache(env: Env): string {
  return `${env.work}/commit-cache`;
}

export function childEnv(env: Env): Record<string, string> {
  // The commit cache (lib/git/commit_cache.ts) and the build cache (lib/manifests/build_cache.ts)
  // in the bench's work directory, removed with it.
  return {
    GIT_PASSWORD: env.token,
    NO_COLOR: "1",
    TMPDIR: `${env.work}/tmp`,
    FLUXFLEET_COMMIT_CACHE: commitCache(env),
    FLUXFLEET_BUILD_CACHE: `${env.work}/build-cache`,
  };
}

/**
 * fluxfleet under /usr/bin/time -v; with `profileOut`, in-process under V8's CPU (or `heap`)
 * profiler through bench/profile.ts instead.
 */
export function cli(
  env: Env,
  args: string[],
  opts: {
    profileOut?: string;
    heap?: boolean;
    traceRss?: boolean;
    /** Another fluxfleet tree to run (its main.ts), e.g. an export with a change to compare. */
    root?: string;
    /** More `deno run` flags for this run. */
    flags?: string[];
  } = {},
): Promise<MeasuredRun> {
  const root = opts.root ?? ROOT;
  const entry = opts.profileOut
    ? [`${ROOT}bench/profile.ts`, ...(opts.heap ? ["--heap"] : []), opts.profileOut]
    : [`${root}main.ts`];
  return measuredDeno(["run", "-A", ...env.denoFlags, ...(opts.flags ?? []), ...entry, ...args], {
    env: childEnv(env),
    scratch: env.work,
    cwd: root,
    timeoutMs: TIMEOUT_MS,
    traceRss: opts.traceRss,
  });
}

/**
 * fluxfleet spawned directly (no /usr/bin/time in between), for start-up timings: the spawn
 * stamp is as close to the process's start as the bench can take it.
 */
export function cliDirect(
  env: Env,
  args: string[],
  opts: { root?: string; flags?: string[] } = {},
): Promise<ProcResult> {
  const root = opts.root ?? ROOT;
  return run(
    Deno.execPath(),
    ["run", "-A", ...env.denoFlags, ...(opts.flags ?? []), `${root}main.ts`, ...args],
    { env: childEnv(env), cwd: root, timeoutMs: TIMEOUT_MS },
  );
}

/** The arguments of a no-op plan: exit 0 under --detailed-exitcode proves nothing would change. */
export function planArgs(f: Fleet, concurrency: number): string[] {
  return [
    "plan",
    "--quiet",
    "--detailed-exitcode",
    "--concurrency",
    String(concurrency),
    f.manifest,
  ];
}

export function applyArgs(f: Fleet, concurrency: number): string[] {
  return ["apply", "--auto-approve", "--quiet", "--concurrency", String(concurrency), f.manifest];
}
