/**
 * The real bare repositories behind a forge sandbox, made and inspected with the system git (the
 * user's and system's config ignored). They are shared (0666 files, 0777 directories): the API
 * creates them as the test process while pushes arrive as the sshd sandbox's users and, over
 * HTTPS, through git http-backend.
 */
import { chmod, mkdir } from "node:fs/promises";
import { dirname } from "node:path";
import { openUp } from "../ssh/repos.ts";
import {
  branchHead,
  type GitResult,
  type GitRunOptions,
  initBareRepository,
  mustGit as mustRunGit,
  runGit,
  SAFE_DIRECTORY_ENV,
} from "../git/system_git.ts";

/** git on repositories other users own (pushes arrive as the sshd sandbox's users). */
function git(args: string[], opts: GitRunOptions = {}): Promise<GitResult> {
  return runGit(args, { ...opts, env: { ...SAFE_DIRECTORY_ENV, ...opts.env } });
}

function mustGit(args: string[], opts: GitRunOptions = {}): Promise<string> {
  return mustRunGit(args, { ...opts, env: { ...SAFE_DIRECTORY_ENV, ...opts.env } });
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
  await initBareRepository(gitDir, branch, {
    shared: true,
    receivePack: true,
    files,
    git: { env: SAFE_DIRECTORY_ENV },
  });
  await openUp(gitDir);
}

export async function branchExists(gitDir: string, branch: string): Promise<boolean> {
  return await branchHead(gitDir, branch, { env: SAFE_DIRECTORY_ENV }) !== null;
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
