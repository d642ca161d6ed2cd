/**
 * The "plain git" side of bootstrap (flux2 pkg/bootstrap/git): fetch a branch, read the flux files,
 * commit changed files and push, over isomorphic-git (no git binary needed).
 * Credentials travel only in an Authorization header: never in the URL, never in .git/config.
 */
import * as fs from "node:fs";
import { dirname, join } from "node:path";
import git from "isomorphic-git";
import type { HttpClient } from "isomorphic-git";
import { DEFAULT_RETRY, type RetryPolicy, withRetry } from "../util/retry.ts";
import type { CommitSigner } from "./sign.ts";
import { RedirectRefusedError } from "./http.ts";
import { LimitExceededError } from "../util/limits.ts";

/** A git failure in words; `transient` ones (5xx, 429, network) are worth retrying. */
export class GitError extends Error {
  readonly transient: boolean;
  constructor(message: string, transient: boolean) {
    super(message);
    this.name = "GitError";
    this.transient = transient;
  }
}

const classify = (e: unknown) => ({ transient: e instanceof GitError && e.transient });

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
}

/** HTTPS remote: the token travels in an Authorization header, never in the URL or .git/config. */
export function httpsRemote(access: GitAccess, http: HttpClient): GitRemote {
  return { displayUrl: access.url, url: access.url, headers: authHeaders(access), http };
}

export interface RepoCheckout {
  dir: string;
  url: string;
  branch: string;
  /** The branch exists on the remote. */
  branchExists: boolean;
  /** Remote head of the branch (or of the default branch a new branch starts from), if any. */
  head: string | null;
  /**
   * false while only the objects were fetched (a plan reads three blobs per cluster and needs no
   * work tree); `ensureWorktree` checks the files out before anything is written or built.
   */
  worktree?: boolean;
}

export interface FileChange {
  path: string;
  /** null deletes the file. */
  content: string | null;
}

export interface Author {
  name: string;
  email: string;
}

function authHeaders(access: GitAccess): Record<string, string> {
  return { Authorization: `Basic ${btoa(`${access.username}:${access.password}`)}` };
}

/** isomorphic-git errors → words a user can act on (HTTP status, push rejection, network). */
export function describeGitError(e: unknown, url: string): GitError {
  const err = e as {
    code?: string;
    data?: { statusCode?: number; reason?: string };
    message?: string;
  };
  const where = redactUrl(url);
  // Already in words, naming the server and the limit or both URLs; retrying would not help.
  if (e instanceof LimitExceededError || e instanceof RedirectRefusedError) {
    return new GitError(e.message, false);
  }
  if (err?.code === "HttpError" && !/^https?:/.test(url)) {
    // The SSH transport answers like an HTTP server; its status message carries the reason.
    const data = err.data as { statusMessage?: string } | undefined;
    return new GitError(
      `git over SSH to ${where} failed: ${data?.statusMessage ?? "not found"}`,
      false,
    );
  }
  if (err?.code === "HttpError") {
    const status = err.data?.statusCode ?? 0;
    const text: Record<number, string> = {
      401:
        `git server rejected the credentials for ${where} (HTTP 401): check git.auth.username and the token`,
      403:
        `git server refused access to ${where} (HTTP 403): the token lacks read/push rights on this repository`,
      404: `repository ${where} not found (HTTP 404): check git.url and that the token can see it`,
      429: `git server is throttling requests to ${where} (HTTP 429): retry later`,
    };
    const transient = status === 429 || status >= 500;
    return new GitError(
      text[status] ??
        (status >= 500
          ? `git server failed for ${where} (HTTP ${status}): retry later`
          : `git request to ${where} failed (HTTP ${status})`),
      transient,
    );
  }
  if (err?.code === "GitPushError") {
    const details = (err.data as { prettyDetails?: string } | undefined)?.prettyDetails ?? "";
    return new GitError(
      `push to ${where} was refused by the server:${details.replace(/\n\s*/g, " ")}`,
      false,
    );
  }
  if (err?.code === "PushRejectedError") {
    return new GitError(`push to ${where} was rejected (${err.data?.reason ?? "rejected"})`, false);
  }
  const msg = err?.message ?? String(e);
  if (/refused|ECONNREFUSED/i.test(msg)) {
    return new GitError(`cannot connect to git server ${where}: connection refused`, true);
  }
  if (/reset|ECONNRESET|broken pipe|connection closed|unexpected eof/i.test(msg)) {
    return new GitError(`connection to git server ${where} was interrupted`, true);
  }
  if (/TimeoutError|timed out|due to timeout|signal/i.test(msg)) {
    return new GitError(`git server ${where} did not answer before the timeout`, true);
  }
  if (/certificate|UnknownIssuer/i.test(msg)) {
    const first = msg.split("\n")[0];
    // lib/git/http.ts words certificate failures itself, git.caFile advice included.
    const hint = /git\.caFile/.test(first) ? "" : "; set git.caFile for a private CA";
    return new GitError(`TLS verification failed for ${where} (${first})${hint}`, false);
  }
  return new GitError(`git operation on ${where} failed: ${msg.split("\n")[0]}`, false);
}

function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = "";
    u.password = "";
    return u.toString();
  } catch {
    return url;
  }
}

/**
 * A rejected push: found locally (PushRejectedError: the advertised head is not an ancestor), or
 * by the server (GitPushError: someone pushed between our ref advertisement and our push).
 */
function isPushRejected(e: unknown): boolean {
  const code = (e as { code?: string })?.code;
  return code === "PushRejectedError" || code === "GitPushError";
}

/**
 * Brings `branch` of the remote into `dir` (shallow). Works for an empty repository (no branch at
 * all) and for a branch that does not exist yet: it then starts from the remote's default branch.
 */
export function checkoutRepo(
  remote: GitRemote,
  branch: string,
  dir: string,
  retry: RetryPolicy = DEFAULT_RETRY,
): Promise<RepoCheckout> {
  return withRetry(retry, classify, async (attempt) => {
    if (attempt > 1) await Deno.remove(dir, { recursive: true }).catch(() => {});
    return await checkoutOnce(remote, branch, dir);
  });
}

async function checkoutOnce(remote: GitRemote, branch: string, dir: string): Promise<RepoCheckout> {
  const { headers, http, url } = remote;
  // The usual case first: the branch exists, one ref advertisement and one fetch.
  try {
    await git.clone({
      fs,
      http,
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
    return { dir, url: remote.displayUrl, branch, branchExists: true, head, worktree: false };
  } catch (e) {
    if ((e as { code?: string })?.code !== "NotFoundError") {
      throw describeGitError(e, remote.displayUrl);
    }
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  // No such branch (or an empty repository): look at what the remote has.
  try {
    const info = await git.getRemoteInfo2({ http, url, headers, protocolVersion: 1 });
    const refs = info.refs ?? [];
    const branchRef = refs.find((r) => r.ref === `refs/heads/${branch}`);
    const headRef = refs.find((r) => r.ref === "HEAD");
    const fallback = headRef?.target ?? refs.find((r) => r.ref.startsWith("refs/heads/"))?.ref;
    const startRef = branchRef ? branch : fallback?.replace(/^refs\/heads\//, "");
    if (startRef) {
      await git.clone({
        fs,
        http,
        dir,
        url,
        ref: startRef,
        singleBranch: true,
        depth: 1,
        noTags: true,
        headers,
      });
      if (!branchRef) await git.branch({ fs, dir, ref: branch, checkout: true });
      const head = await git.resolveRef({ fs, dir, ref: "HEAD" });
      return {
        dir,
        url: remote.displayUrl,
        branch,
        branchExists: !!branchRef,
        head,
        worktree: true,
      };
    }
    // Empty repository: nothing to fetch. Start an unborn branch with the right name.
    await git.init({ fs, dir, defaultBranch: branch });
    await git.addRemote({ fs, dir, remote: "origin", url });
    return { dir, url: remote.displayUrl, branch, branchExists: false, head: null };
  } catch (e) {
    throw describeGitError(e, remote.displayUrl);
  }
}

/** A repository that does not exist yet (the provider creates it before the first push). */
export async function emptyCheckout(
  dir: string,
  branch: string,
  url: string,
): Promise<RepoCheckout> {
  await git.init({ fs, dir, defaultBranch: branch });
  await git.addRemote({ fs, dir, remote: "origin", url });
  return { dir, url, branch, branchExists: false, head: null };
}

/** Points `origin` at another URL (a repository created after the checkout was made). */
export async function setRemoteUrl(co: RepoCheckout, url: string): Promise<void> {
  await git.deleteRemote({ fs, dir: co.dir, remote: "origin" });
  await git.addRemote({ fs, dir: co.dir, remote: "origin", url });
}

/** Checks out the work tree of a checkout cloned without one (see `RepoCheckout.worktree`). */
export async function ensureWorktree(co: RepoCheckout): Promise<void> {
  if (co.worktree !== false) return;
  if (co.head) await git.checkout({ fs, dir: co.dir, ref: co.branch, force: true });
  co.worktree = true;
}

type TreeEntries = Map<string, { oid: string; type: string }>;

/**
 * What reading from a checkout's commit has learnt, shared by the clusters of the repository:
 * isomorphic-git's object cache (the pack and its index, loaded once), each folder's tree and each
 * blob's text by id — fleet clusters share the same gotk-components.yaml and kustomization.yaml
 * blobs and the trees above their paths. Promises, so clusters reading at once share the reads.
 */
interface TreeReader {
  cache: object;
  folders: Map<string, Promise<TreeEntries | null>>;
  blobs: Map<string, Promise<string>>;
}

const treeReaders = new WeakMap<RepoCheckout, TreeReader>();

/** Drops what `readRepoFiles` keeps for a checkout (call once its clusters have read). */
export function forgetReadCache(co: RepoCheckout): void {
  treeReaders.delete(co);
}

function folderEntries(co: RepoCheckout, r: TreeReader, folder: string) {
  let found = r.folders.get(folder);
  if (!found) {
    found = (async (): Promise<TreeEntries | null> => {
      let oid = co.head!;
      if (folder !== "") {
        const slash = folder.lastIndexOf("/");
        const parent = await folderEntries(co, r, slash < 0 ? "" : folder.slice(0, slash));
        const entry = parent?.get(folder.slice(slash + 1));
        // No such folder, or a file where a folder was expected: none of its files exist.
        if (!entry || entry.type !== "tree") return null;
        oid = entry.oid;
      }
      const { tree } = await git.readTree({ fs, dir: co.dir, oid, cache: r.cache });
      return new Map(tree.map((e) => [e.path, { oid: e.oid, type: e.type }]));
    })();
    r.folders.set(folder, found);
  }
  return found;
}

function blobText(co: RepoCheckout, r: TreeReader, oid: string): Promise<string> {
  let text = r.blobs.get(oid);
  if (!text) {
    text = git.readBlob({ fs, dir: co.dir, oid, cache: r.cache })
      .then(({ blob }) => new TextDecoder().decode(blob));
    r.blobs.set(oid, text);
  }
  return text;
}

/**
 * Files straight from the commit's tree (no work tree is written for a plan): every tree and blob
 * is read once per checkout, whatever the number of clusters reading it.
 */
async function readFromTree(
  co: RepoCheckout,
  paths: string[],
): Promise<Record<string, string | null>> {
  let r = treeReaders.get(co);
  if (!r) treeReaders.set(co, r = { cache: {}, folders: new Map(), blobs: new Map() });
  const out: Record<string, string | null> = {};
  for (const p of paths) {
    const slash = p.lastIndexOf("/");
    const entry = (await folderEntries(co, r, slash < 0 ? "" : p.slice(0, slash)))
      ?.get(p.slice(slash + 1));
    out[p] = entry?.type === "blob" ? await blobText(co, r, entry.oid) : null;
  }
  return out;
}

export async function readRepoFiles(
  co: RepoCheckout,
  paths: string[],
): Promise<Record<string, string | null>> {
  const out: Record<string, string | null> = {};
  if (co.worktree === false) return await readFromTree(co, paths);
  for (const p of paths) {
    try {
      out[p] = await Deno.readTextFile(join(co.dir, p));
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      out[p] = null;
    }
  }
  return out;
}

async function writeChanges(dir: string, changes: FileChange[]): Promise<string[]> {
  const changed: string[] = [];
  for (const c of changes) {
    const full = join(dir, c.path);
    let current: string | null = null;
    try {
      current = await Deno.readTextFile(full);
    } catch { /* absent */ }
    if (current === c.content) continue;
    if (c.content === null) {
      await Deno.remove(full);
      await git.remove({ fs, dir, filepath: c.path });
    } else {
      await Deno.mkdir(dirname(full), { recursive: true });
      await Deno.writeTextFile(full, c.content);
      await git.add({ fs, dir, filepath: c.path });
    }
    changed.push(c.path);
  }
  return changed;
}

export interface PushResult {
  /** The commit now at the head of the branch (new or unchanged). */
  head: string | null;
  /** Whether a commit was pushed. */
  pushed: boolean;
  attempts: number;
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
  await ensureWorktree(co);
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    const changed = await writeChanges(dir, changes);
    if (changed.length === 0) return { head: co.head, pushed: false, attempts: attempt };
    const sign = signer ? { onSign: signer.onSign, signingKey: signer.signingKey } : {};
    const sha = await git.commit({ fs, dir, message, author, ...sign });
    try {
      // A transient failure may hide a push that landed: re-pushing the same commit is then a no-op.
      await withRetry(
        retry,
        (e) => classify(describeGitError(e, remote.displayUrl)),
        () =>
          git.push({
            fs,
            http,
            dir,
            remote: "origin",
            ref: co.branch,
            remoteRef: `refs/heads/${co.branch}`,
            headers,
          }),
      );
      co.head = sha;
      co.branchExists = true;
      return { head: sha, pushed: true, attempts: attempt };
    } catch (e) {
      if (!isPushRejected(e) || attempt === maxAttempts) {
        throw describeGitError(e, remote.displayUrl);
      }
      await resetToRemote(co, headers, http);
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
  const res = await git.fetch({
    fs,
    http,
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
