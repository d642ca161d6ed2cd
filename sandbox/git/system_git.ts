/**
 * The system git as every sandbox and test helper runs it: the user's and system's config ignored
 * (a developer's ~/.gitconfig — hooks, signing, url rewrites — cannot change what a sandbox does),
 * never prompting, messages in English. Shared by the git HTTP server, the sshd sandbox's
 * repositories, the forge sandboxes' bare repositories and tests/helpers/forge_git.ts.
 */
import { tmpdir } from "node:os";
import { seedCommit } from "./seed.ts";

export interface GitResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface GitRunOptions {
  cwd?: string;
  /** Added to (and overriding) the isolated environment: HOME, author, GIT_SSH_COMMAND… */
  env?: Record<string, string>;
  /** GIT_CONFIG_GLOBAL: a config file of the sandbox's own; default none (/dev/null). */
  globalConfig?: string;
}

/** safe.directory=* as the environment gives it (git ≥ 2.31): repositories other users own. */
export const SAFE_DIRECTORY_ENV: Record<string, string> = {
  GIT_CONFIG_COUNT: "1",
  GIT_CONFIG_KEY_0: "safe.directory",
  GIT_CONFIG_VALUE_0: "*",
};

/** The environment of every git a sandbox spawns (with `clearEnv`). */
export function isolatedGitEnv(
  opts: Pick<GitRunOptions, "env" | "globalConfig"> = {},
): Record<string, string> {
  return {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    HOME: tmpdir(),
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_CONFIG_GLOBAL: opts.globalConfig ?? "/dev/null",
    GIT_TERMINAL_PROMPT: "0",
    LANG: "C",
    ...opts.env,
  };
}

/** git with `args`; the exit code is the caller's to judge. */
export async function runGit(args: string[], opts: GitRunOptions = {}): Promise<GitResult> {
  const out = await new Deno.Command("git", {
    args,
    cwd: opts.cwd,
    env: isolatedGitEnv(opts),
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** git with `args`, its stdout; a failure throws with git's own words. */
export async function mustGit(args: string[], opts: GitRunOptions = {}): Promise<string> {
  const res = await runGit(args, opts);
  if (res.code !== 0) {
    throw new Error(`git ${args.join(" ")} failed (${res.code}): ${res.stderr.trim()}`);
  }
  return res.stdout;
}

/** The commit `branch` points at in the bare repository `gitDir`; null when it has none. */
export async function branchHead(
  gitDir: string,
  branch: string,
  opts: GitRunOptions = {},
): Promise<string | null> {
  const res = await runGit(
    ["--git-dir", gitDir, "rev-parse", "--verify", "--quiet", `refs/heads/${branch}^{commit}`],
    opts,
  );
  return res.code === 0 ? res.stdout.trim() : null;
}

/** The text of `path` on `branch` of the bare repository `gitDir`; null when it is not there. */
export async function readBlob(
  gitDir: string,
  branch: string,
  path: string,
  opts: GitRunOptions = {},
): Promise<string | null> {
  const res = await runGit(
    ["--git-dir", gitDir, "cat-file", "blob", `refs/heads/${branch}:${path}`],
    opts,
  );
  return res.code === 0 ? res.stdout : null;
}

/**
 * A bare repository at `dir` whose HEAD names `branch` (--initial-branch: even while it is unborn),
 * with a first commit of `files` when given. `shared`: files 0666 (pushes arrive as other users);
 * `receivePack`: git http-backend takes pushes. The parent directory must exist.
 */
export async function initBareRepository(
  dir: string,
  branch: string,
  opts: {
    shared?: boolean;
    receivePack?: boolean;
    files?: Record<string, string>;
    message?: string;
    git?: GitRunOptions;
  } = {},
): Promise<void> {
  const git = (args: string[], o: GitRunOptions = {}) =>
    mustGit(args, { ...opts.git, ...o, env: { ...opts.git?.env, ...o.env } });
  await git([
    "init",
    "--bare",
    "--quiet",
    ...(opts.shared ? ["--shared=0666"] : []),
    `--initial-branch=${branch}`,
    dir,
  ]);
  if (opts.receivePack) await git(["--git-dir", dir, "config", "http.receivepack", "true"]);
  if (opts.files) await seedCommit(git, dir, branch, opts.files, opts.message);
}
