/**
 * The real bare repositories behind GitLab sandbox projects, at <gitRoot>/<full path>.git, where
 * the git HTTP sandbox (sandbox/git/http_server.ts) and the sshd sandbox (sandbox/ssh/sshd.ts)
 * serve them when started on the same root. Created shared (0666 files, 0777 dirs): pushes come
 * over HTTP as root and over sshd as its login user.
 */
import { mkdir } from "node:fs/promises";
import { dirname } from "node:path";
import { seedCommit } from "../git/seed.ts";
import { openUp, runGit } from "../ssh/repos.ts";

/** Neither the user's nor the system's git config shapes sandbox repositories. */
const NO_GLOBAL_CONFIG = "/dev/null";

async function git(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}) {
  const res = await runGit(NO_GLOBAL_CONFIG, args, opts);
  if (res.code !== 0) throw new Error(`git ${args[0]} failed: ${res.stderr.trim()}`);
  return res.stdout;
}

/** Whether `git check-ref-format` accepts refs/heads/<name> (GitLab refuses what git refuses). */
export async function validBranchName(name: string): Promise<boolean> {
  if (name === "" || name.length > 255 || name.startsWith("-")) return false;
  const res = await runGit(NO_GLOBAL_CONFIG, ["check-ref-format", `refs/heads/${name}`]);
  return res.code === 0;
}

/**
 * A new bare repository, HEAD on `branch` (unborn until the first push); with `readme`, a first
 * commit holding README.md on that branch, as `initialize_with_readme` makes.
 */
export async function createProjectRepo(
  gitDir: string,
  branch: string,
  readme: string | null,
): Promise<void> {
  await mkdir(dirname(gitDir), { recursive: true });
  await git(["init", "--bare", "--quiet", "--shared=0666", `--initial-branch=${branch}`, gitDir]);
  await git(["--git-dir", gitDir, "config", "http.receivepack", "true"]);
  if (readme !== null) {
    await seedCommit(
      (args, o) => git(args, o),
      gitDir,
      branch,
      { "README.md": readme },
      "Initial commit",
    );
  }
  await openUp(gitDir);
}

/** No branch yet (GitLab's `empty_repo`). */
export async function isEmptyRepo(gitDir: string): Promise<boolean> {
  const out = await git(["--git-dir", gitDir, "for-each-ref", "--count=1", "refs/heads/"]);
  return out.trim() === "";
}

export async function branchExists(gitDir: string, branch: string): Promise<boolean> {
  const res = await runGit(NO_GLOBAL_CONFIG, [
    "--git-dir",
    gitDir,
    "rev-parse",
    "--verify",
    "--quiet",
    `refs/heads/${branch}^{commit}`,
  ]);
  return res.code === 0;
}

/** Points HEAD at another branch (GitLab's change_head when default_branch changes). */
export async function setHead(gitDir: string, branch: string): Promise<void> {
  await git(["--git-dir", gitDir, "symbolic-ref", "HEAD", `refs/heads/${branch}`]);
}
