/** The system transport's operations: checkout, remote head, commit and push, with the git binary. */
import { DEFAULT_RETRY, type RetryPolicy, withRetry } from "../../../util/retry.ts";
import { assertPlainFiles, writeChanges } from "../../checkout.ts";
import {
  type Author,
  type FileChange,
  GitError,
  type PushResult,
  type RepoCheckout,
} from "../../types.ts";
import { type Session, type SystemSshAccess, withSession } from "./session.ts";
import { classify, git, isMissingBranch, isNonFastForward, mustGit, netGit, runOf } from "./run.ts";

/**
 * Brings `branch` of the remote into `dir` (shallow, single branch, no tags). Works for an empty
 * repository (no branch at all) and for a branch that does not exist yet: it then starts from the
 * remote's default branch. One SSH connection when the branch exists, two otherwise.
 */
export function systemCheckoutRepo(
  access: SystemSshAccess,
  branch: string,
  dir: string,
  retry: RetryPolicy = DEFAULT_RETRY,
): Promise<RepoCheckout> {
  return withSession(access, "fetch", (s) =>
    withRetry(retry, classify, async (attempt) => {
      if (attempt > 1) await Deno.remove(dir, { recursive: true }).catch(() => {});
      return await checkoutOnce(s, access, branch, dir);
    }, { what: "git fetch" }));
}

const CLONE = ["clone", "--quiet", "--depth=1", "--single-branch", "--no-tags"];

async function checkoutOnce(
  s: Session,
  access: SystemSshAccess,
  branch: string,
  dir: string,
): Promise<RepoCheckout> {
  try {
    await netGit(s, [...CLONE, `--branch=${branch}`, "--", access.url, dir]);
    const head = (await mustGit(s, ["rev-parse", "HEAD"], dir)).trim();
    return { dir, url: access.url, branch, branchExists: true, head };
  } catch (e) {
    if (!isMissingBranch(e)) throw e;
  }
  // No such branch: clone what the remote's HEAD points at (nothing, for an empty repository or a
  // HEAD naming no branch) and start ours there.
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  await netGit(s, [...CLONE, "--", access.url, dir]);
  const hasHead =
    (await git(s, ["rev-parse", "--verify", "--quiet", "HEAD"], { cwd: dir })).code ===
      0;
  if (!hasHead) {
    await mustGit(s, ["symbolic-ref", "HEAD", `refs/heads/${branch}`], dir);
    // The branch starts without history; say so when the repository is not empty.
    const heads = await netGit(s, ["ls-remote", "--heads", "--", access.url], dir);
    const startsFrom = heads.stdout.trim() === "" ? {} : { startsFrom: null };
    return { dir, url: access.url, branch, branchExists: false, head: null, ...startsFrom };
  }
  // git names the branch it checked out (for a detached HEAD, one at the same commit), if any.
  const named = await git(s, ["symbolic-ref", "--quiet", "--short", "HEAD"], { cwd: dir });
  await mustGit(s, ["checkout", "--quiet", "-b", branch], dir);
  const head = (await mustGit(s, ["rev-parse", "HEAD"], dir)).trim();
  const startsFrom = named.code === 0
    ? named.stdout.trim()
    : `the remote's detached HEAD (${head.slice(0, 7)})`;
  return { dir, url: access.url, branch, branchExists: false, head, startsFrom };
}

/** The remote's head of `branch` (`git ls-remote`), null when the branch does not exist. */
export function systemRemoteHead(access: SystemSshAccess, branch: string): Promise<string | null> {
  return withSession(access, "ls-remote", async (s) => {
    const r = await netGit(s, ["ls-remote", "--heads", "--", access.url, `refs/heads/${branch}`]);
    const line = r.stdout.split("\n").find((l) => l.endsWith(`\trefs/heads/${branch}`));
    return line ? line.split("\t")[0] : null;
  });
}

/** The changes written in the work tree, staged at once. */
async function stageChanges(s: Session, dir: string, changes: FileChange[]): Promise<string[]> {
  const changed = (await writeChanges(dir, changes)).map((c) => c.path);
  // -A stages deletions too; -f: no ignore rule may drop a file we were asked to write.
  if (changed.length > 0) await mustGit(s, ["add", "-A", "-f", "--", ...changed], dir);
  return changed;
}

/**
 * Writes the changes, commits them if anything differs, and pushes. A non-fast-forward rejection
 * (someone pushed meanwhile) fetches the new head, re-applies the changes on it and pushes again.
 */
export function systemCommitAndPush(
  co: RepoCheckout,
  access: SystemSshAccess,
  changes: FileChange[],
  message: string,
  author: Author,
  maxAttempts = 3,
  retry: RetryPolicy = DEFAULT_RETRY,
): Promise<PushResult> {
  return withSession(access, "push", async (s) => {
    const dir = co.dir;
    const identity = ["-c", `user.name=${author.name}`, "-c", `user.email=${author.email}`];
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      const changed = await stageChanges(s, dir, changes);
      if (changed.length === 0) return { head: co.head, pushed: false, attempts: attempt };
      const staged = await git(s, ["diff", "--cached", "--quiet"], { cwd: dir });
      if (staged.code === 0) return { head: co.head, pushed: false, attempts: attempt };
      await mustGit(
        s,
        [...identity, "commit", "--quiet", "--cleanup=whitespace", "-m", message],
        dir,
      );
      const sha = (await mustGit(s, ["rev-parse", "HEAD"], dir)).trim();
      try {
        // A transient failure may hide a push that landed: re-pushing the same commit is a no-op.
        await withRetry(retry, classify, () =>
          netGit(
            s,
            ["push", "--quiet", "--porcelain", "--", access.url, `HEAD:refs/heads/${co.branch}`],
            dir,
          ), { what: "git push" });
        co.head = sha;
        co.branchExists = true;
        return { head: sha, pushed: true, attempts: attempt };
      } catch (e) {
        if (!isNonFastForward(e) || attempt === maxAttempts) throw e;
        await resetToRemote(s, co, access);
        await assertPlainFiles(co, changes.map((c) => c.path));
      }
    }
    throw new Error("unreachable");
  });
}

/** After a rejected push: take the remote head as the new base, dropping our local commit. */
async function resetToRemote(s: Session, co: RepoCheckout, access: SystemSshAccess): Promise<void> {
  const dir = co.dir;
  s.ctx.op = "fetch";
  try {
    await netGit(
      s,
      ["fetch", "--quiet", "--depth=1", "--no-tags", "--", access.url, `refs/heads/${co.branch}`],
      dir,
    );
  } catch (e) {
    const run = runOf(e);
    if (run && /couldn't find remote ref/i.test(run.stderr)) {
      throw new GitError(`branch ${co.branch} vanished from ${access.url} during push`, false);
    }
    throw e;
  } finally {
    s.ctx.op = "push";
  }
  const oid = (await mustGit(s, ["rev-parse", "FETCH_HEAD"], dir)).trim();
  await mustGit(s, ["reset", "--quiet", "--hard", oid], dir);
  co.head = oid;
  co.branchExists = true;
}
