/**
 * Commit and push over isomorphic-git: the changed files are written (each path checked with
 * lstat first), committed (signed when a signer is given) and pushed; a non-fast-forward rejection
 * fetches the new head, re-applies the changes on it and pushes again.
 */
import * as fs from "node:fs";
import { isoGit } from "../../iso.ts";
import type { HttpClient } from "isomorphic-git";
import { DEFAULT_RETRY, type RetryPolicy, withRetry } from "../../../util/retry.ts";
import type { CommitSigner } from "../../sign.ts";
import { assertPlainFiles, ensureWorktree, writeChanges } from "../../checkout.ts";
import {
  type Author,
  classifyGitError as classify,
  type FileChange,
  GitError,
  type PushResult,
  type RepoCheckout,
} from "../../types.ts";
import { fetchingBranch } from "./advertised_head.ts";
import type { GitRemote } from "./fetch.ts";
import { describeGitError, redactUrl } from "./errors.ts";

/**
 * A rejected push: found locally (PushRejectedError: the advertised head is not an ancestor), or
 * by the server (GitPushError: someone pushed between our ref advertisement and our push).
 */
function isPushRejected(e: unknown): boolean {
  const code = (e as { code?: string })?.code;
  return code === "PushRejectedError" || code === "GitPushError";
}

/** The changes written in the work tree, staged one by one. */
async function stageChanges(dir: string, changes: FileChange[]): Promise<string[]> {
  const git = await isoGit();
  const changed = await writeChanges(dir, changes);
  for (const c of changed) {
    if (c.content === null) await git.remove({ fs, dir, filepath: c.path });
    else await git.add({ fs, dir, filepath: c.path });
  }
  return changed.map((c) => c.path);
}

/**
 * Writes the changes, commits them if anything differs, and pushes. A non-fast-forward rejection
 * (someone pushed meanwhile) fetches the new head, re-applies the changes on it and pushes again.
 */
export async function commitAndPush(
  co: RepoCheckout,
  remote: GitRemote,
  changes: FileChange[],
  message: string,
  author: Author,
  maxAttempts = 3,
  retry: RetryPolicy = DEFAULT_RETRY,
  signer?: CommitSigner,
): Promise<PushResult> {
  const { headers, http } = remote;
  const dir = co.dir;
  const git = await isoGit();
  await ensureWorktree(co);
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    const changed = await stageChanges(dir, changes);
    if (changed.length === 0) return { head: co.head, pushed: false, attempts: attempt };
    const sign = signer ? { onSign: signer.onSign, signingKey: signer.signingKey } : {};
    const sha = await git.commit({ fs, dir, message, author, ...sign });
    try {
      // A transient failure may hide a push that landed: re-pushing the same commit is then a no-op.
      // Failures are put in words inside the retry (a rejection stays raw: it is handled below),
      // so the final error keeps the number of attempts.
      const described = (e: unknown) =>
        e instanceof GitError ? e : describeGitError(e, remote.displayUrl, remote.timeoutMs);
      await withRetry(
        retry,
        (e) => classify(described(e)),
        () =>
          git.push({
            fs,
            http,
            dir,
            remote: "origin",
            ref: co.branch,
            remoteRef: `refs/heads/${co.branch}`,
            headers,
          }).catch((e) => {
            throw isPushRejected(e) ? e : described(e);
          }),
        { what: "git push" },
      );
      co.head = sha;
      co.branchExists = true;
      return { head: sha, pushed: true, attempts: attempt };
    } catch (e) {
      if (!isPushRejected(e) || attempt === maxAttempts) {
        throw e instanceof GitError ? e : describeGitError(e, remote.displayUrl, remote.timeoutMs);
      }
      await resetToRemote(co, headers, http);
      await assertPlainFiles(co, changes.map((c) => c.path));
    }
  }
  throw new Error("unreachable");
}

/** After a rejected push: take the remote head as the new base, dropping our local commit. */
async function resetToRemote(
  co: RepoCheckout,
  headers: Record<string, string>,
  http: HttpClient,
) {
  const dir = co.dir;
  const git = await isoGit();
  const res = await git.fetch({
    fs,
    http: fetchingBranch(http, `refs/heads/${co.branch}`),
    dir,
    remote: "origin",
    ref: co.branch,
    singleBranch: true,
    depth: 1,
    tags: false,
    headers,
  });
  const oid = res.fetchHead;
  if (!oid) throw new Error(`branch ${co.branch} vanished from ${redactUrl(co.url)} during push`);
  await git.writeRef({ fs, dir, ref: `refs/heads/${co.branch}`, value: oid, force: true });
  await git.checkout({ fs, dir, ref: co.branch, force: true });
  co.head = oid;
  co.branchExists = true;
}
