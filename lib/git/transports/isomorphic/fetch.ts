/**
 * The isomorphic-git transport (no git binary needed): where it talks to (HTTPS with a Basic auth
 * header, or SSH through the ssh2 plugin), and the shallow fetch of one branch.
 * Credentials travel only in an Authorization header: never in the URL, never in .git/config.
 */
import * as nodeFs from "node:fs";
import { isoGit } from "../../iso.ts";
import type { HttpClient, PromiseFsClient } from "isomorphic-git";
import { DEFAULT_RETRY, type RetryPolicy, withRetry } from "../../../util/retry.ts";
import { classifyGitError as classify, type RepoCheckout } from "../../types.ts";
import { fetchingBranch } from "./advertised_head.ts";
import { describeGitError } from "./errors.ts";
import { memoryFs } from "../../memory_fs.ts";
import { cachedCheckoutOnce } from "./cached_checkout.ts";

export interface GitAccess {
  url: string;
  username: string;
  password: string;
}

/**
 * Where isomorphic-git talks to: over HTTPS with Basic auth headers, or over SSH through the
 * ssh2 transport (then `url` is its placeholder and `displayUrl` the real ssh:// URL).
 */
export interface GitRemote {
  displayUrl: string;
  url: string;
  headers: Record<string, string>;
  http: HttpClient;
  /** The per-request timeout of `http`, named when a request runs out of it. */
  timeoutMs?: number;
}

/** HTTPS remote: the token travels in an Authorization header, never in the URL or .git/config. */
export function httpsRemote(access: GitAccess, http: HttpClient, timeoutMs?: number): GitRemote {
  return { displayUrl: access.url, url: access.url, headers: authHeaders(access), http, timeoutMs };
}

function authHeaders(access: GitAccess): Record<string, string> {
  return { Authorization: `Basic ${btoa(`${access.username}:${access.password}`)}` };
}

/**
 * Brings `branch` of the remote into `dir` (shallow). Works for an empty repository (no branch at
 * all) and for a branch that does not exist yet: it then starts from the remote's default branch.
 * `inMemory`: `dir` is a name in a file system of its own in memory (RepoCheckout.fs), nothing is
 * written to disk; for a run that only reads the commit.
 */
export function checkoutRepo(
  remote: GitRemote,
  branch: string,
  dir: string,
  retry: RetryPolicy = DEFAULT_RETRY,
  inMemory = false,
  cacheDir?: string,
): Promise<RepoCheckout> {
  return withRetry(retry, classify, async (attempt) => {
    if (attempt > 1 && !inMemory) await Deno.remove(dir, { recursive: true }).catch(() => {});
    if (inMemory && cacheDir) {
      // Only read: the commit cache first (lib/git/commit_cache.ts).
      return await cachedCheckoutOnce(
        remote,
        branch,
        dir,
        cacheDir,
        (advertisement) => checkoutOnce(remote, branch, dir, true, advertisement),
      );
    }
    return await checkoutOnce(remote, branch, dir, inMemory);
  }, { what: "git fetch" });
}

/** `advertisement`: the client for the first way's requests (one answering a held advertisement). */
async function checkoutOnce(
  remote: GitRemote,
  branch: string,
  dir: string,
  inMemory: boolean,
  advertisement?: HttpClient,
): Promise<RepoCheckout> {
  // A new file system for each attempt (and for the second way below): nothing of a failed one.
  const newFs = (): PromiseFsClient | typeof nodeFs => inMemory ? memoryFs() : nodeFs;
  const where = (fs: PromiseFsClient | typeof nodeFs) => (inMemory ? { fs } : {});
  let fs = newFs();
  const git = await isoGit();
  const { headers, url } = remote;
  const branchRef = `refs/heads/${branch}`;
  // The usual case first: the branch exists, one ref advertisement and one fetch.
  try {
    await git.clone({
      fs,
      http: fetchingBranch(advertisement ?? remote.http, branchRef),
      dir,
      url,
      ref: branch,
      singleBranch: true,
      depth: 1,
      noTags: true,
      noCheckout: true,
      headers,
    });
    const head = await git.resolveRef({ fs, dir, ref: "HEAD" });
    return {
      dir,
      url: remote.displayUrl,
      branch,
      branchExists: true,
      head,
      worktree: false,
      ...where(fs),
    };
  } catch (e) {
    if ((e as { code?: string })?.code !== "NotFoundError") {
      throw describeGitError(e, remote.displayUrl, remote.timeoutMs);
    }
    if (!inMemory) await Deno.remove(dir, { recursive: true }).catch(() => {});
    fs = newFs();
  }
  // No such branch (or an empty repository): look at what the remote has.
  try {
    const info = await git.getRemoteInfo2({ http: remote.http, url, headers, protocolVersion: 1 });
    const refs = info.refs ?? [];
    const exists = refs.some((r) => r.ref === branchRef);
    const base = exists ? { ref: branchRef, name: branch } : remoteDefault(refs);
    await git.init({ fs, dir, defaultBranch: branch });
    await git.addRemote({ fs, dir, remote: "origin", url });
    if (!base) {
      // Nothing to start from: an empty repository, or one whose HEAD names no branch. The
      // branch starts without history (what `git clone` + `git checkout -b` give there too).
      const hasBranches = refs.some((r) => r.ref.startsWith("refs/heads/"));
      return {
        dir,
        url: remote.displayUrl,
        branch,
        branchExists: false,
        head: null,
        ...(hasBranches ? { startsFrom: null } : {}),
        ...where(fs),
      };
    }
    const fetched = await git.fetch({
      fs,
      http: fetchingBranch(remote.http, base.ref),
      dir,
      remote: "origin",
      remoteRef: base.ref,
      singleBranch: true,
      depth: 1,
      tags: false,
      headers,
    });
    const head = fetched.fetchHead;
    if (!head) throw new Error(`${base.ref} vanished from the remote while it was fetched`);
    await git.writeRef({ fs, dir, ref: branchRef, value: head, force: true });
    return {
      dir,
      url: remote.displayUrl,
      branch,
      branchExists: exists,
      head,
      worktree: false,
      ...(exists ? {} : { startsFrom: base.name }),
      ...where(fs),
    };
  } catch (e) {
    throw describeGitError(e, remote.displayUrl, remote.timeoutMs);
  }
}

/**
 * Where a new branch starts, as `git clone` decides what to check out: the branch the remote's
 * HEAD names; for a HEAD without a name (detached, or a server that advertises no symrefs, as
 * CodeCommit) the first branch at the same commit, else that commit itself. null when the remote
 * advertises no HEAD (it names a branch that does not exist, or the repository is empty).
 */
function remoteDefault(
  refs: { ref: string; oid: string; target?: string }[],
): { ref: string; name: string } | null {
  const head = refs.find((r) => r.ref === "HEAD");
  if (!head) return null;
  const short = (ref: string) => ref.replace(/^refs\/heads\//, "");
  if (head.target) {
    return refs.some((r) => r.ref === head.target)
      ? { ref: head.target, name: short(head.target) }
      : null;
  }
  const same = refs.find((r) => r.ref.startsWith("refs/heads/") && r.oid === head.oid);
  return same
    ? { ref: same.ref, name: short(same.ref) }
    : { ref: "HEAD", name: `the remote's detached HEAD (${head.oid.slice(0, 7)})` };
}
