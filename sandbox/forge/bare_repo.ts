/**
 * The real bare repositories behind a forge sandbox, made and inspected with the system git (the
 * user's and system's config ignored). They are shared (0666 files, 0777 directories): the API
 * creates them as the test process while pushes arrive as the sshd sandbox's users and, over
 * HTTPS, through git http-backend.
 */
import { chmod, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname } from "node:path";
import { seedCommit } from "../git/seed.ts";
import { openUp } from "../ssh/repos.ts";

async function git(
  args: string[],
  opts: { cwd?: string; env?: Record<string, string> } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command("git", {
    args: ["-c", "safe.directory=*", ...args],
    cwd: opts.cwd,
    clearEnv: true,
    env: {
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      HOME: tmpdir(),
      GIT_CONFIG_NOSYSTEM: "1",
      GIT_CONFIG_GLOBAL: "/dev/null",
      GIT_TERMINAL_PROMPT: "0",
      LANG: "C",
      ...opts.env,
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

async function mustGit(
  args: string[],
  opts: { cwd?: string; env?: Record<string, string> } = {},
): Promise<string> {
  const res = await git(args, opts);
  if (res.code !== 0) throw new Error(`git ${args[0]} failed: ${res.stderr.trim()}`);
  return res.stdout;
}

/**
 * A bare repository at `gitDir` with HEAD on `branch` (unborn until something is pushed), or with
 * a first commit of `files` on it (the sites' auto_init).
 */
export async function initBareRepo(
  gitDir: string,
  branch: string,
  files?: Record<string, string>,
): Promise<void> {
  await mkdir(dirname(gitDir), { recursive: true, mode: 0o777 });
  await chmod(dirname(gitDir), 0o777);
  await mustGit([
    "init",
    "--bare",
    "--quiet",
    "--shared=0666",
    `--initial-branch=${branch}`,
    gitDir,
  ]);
  await mustGit(["--git-dir", gitDir, "config", "http.receivepack", "true"]);
  if (files) await seedCommit(mustGit, gitDir, branch, files, "Initial commit");
  await openUp(gitDir);
}

export async function branchExists(gitDir: string, branch: string): Promise<boolean> {
  const res = await git([
    "--git-dir",
    gitDir,
    "rev-parse",
    "--verify",
    "--quiet",
    `refs/heads/${branch}^{commit}`,
  ]);
  return res.code === 0;
}

/** No branch at all yet (Gitea reports such a repository as "empty"). */
export async function isEmptyRepo(gitDir: string): Promise<boolean> {
  const out = await mustGit(["--git-dir", gitDir, "for-each-ref", "--count=1", "refs/heads/"]);
  return out.trim() === "";
}

/** Points HEAD (what a clone checks out) at `branch`. */
export async function setHead(gitDir: string, branch: string): Promise<void> {
  await mustGit(["--git-dir", gitDir, "symbolic-ref", "HEAD", `refs/heads/${branch}`]);
}

/** A name git accepts for a branch (check-ref-format), for default-branch changes. */
export async function validBranchName(branch: string): Promise<boolean> {
  if (branch === "" || branch.length > 255) return false;
  return (await git(["check-ref-format", "--branch", branch])).code === 0;
}
