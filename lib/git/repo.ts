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
import { serverText } from "../util/redact.ts";
import { stripControls } from "../util/strip_controls.ts";
import { fetchingBranch } from "./advertised_head.ts";
import { assertPlainPath, checkedRepoPath, repoPathError, treeEntryProblem } from "./repo_paths.ts";
import { RedirectRefusedError } from "./http.ts";
import { LimitExceededError } from "../util/limits.ts";

/**
 * A git failure in words; `transient` ones (5xx, 429, network) are worth retrying. The message
 * often quotes the server (a push refusal, what a hook or git-shell printed): its control
 * characters and escape sequences are removed here, where every such text enters.
 */
export class GitError extends Error {
  readonly transient: boolean;
  constructor(message: string, transient: boolean) {
    super(stripControls(message));
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
  /** The per-request timeout of `http`, named when a request runs out of it. */
  timeoutMs?: number;
}

/** HTTPS remote: the token travels in an Authorization header, never in the URL or .git/config. */
export function httpsRemote(access: GitAccess, http: HttpClient, timeoutMs?: number): GitRemote {
  return { displayUrl: access.url, url: access.url, headers: authHeaders(access), http, timeoutMs };
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
   * A branch that does not exist yet: what it starts from (a branch name, or the remote's detached
   * HEAD), or null when the repository has branches but its HEAD names none, so the branch starts
   * without history. Absent when the branch exists or the repository is empty.
   */
  startsFrom?: string | null;
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
export function describeGitError(e: unknown, url: string, timeoutMs?: number): GitError {
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
  if (err?.code === "SmartHttpError") {
    // isomorphic-git quotes the first 256 characters of the answer: cut before it is redacted,
    // a secret the server echoed would survive in part. The whole answer is redacted, then cut.
    const response = (err.data as { response?: string } | undefined)?.response ?? "";
    return new GitError(
      `${where} did not answer as a git server (no smart HTTP ref advertisement); it said: ${
        serverText(response.trim().split("\n")[0] ?? "", 200)
      }`,
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
    // The reason first: a progress line cut to the terminal's width still shows it.
    return new GitError(
      timeoutMs
        ? `no answer within ${formatSeconds(timeoutMs)} from git server ${where}`
        : `git server ${where} did not answer before the timeout`,
      true,
    );
  }
  if (/certificate|UnknownIssuer/i.test(msg)) {
    const first = msg.split("\n")[0];
    // lib/git/http.ts words certificate failures itself, git.caFile advice included.
    const hint = /git\.caFile/.test(first) ? "" : "; set git.caFile for a private CA";
    return new GitError(`TLS verification failed for ${where} (${first})${hint}`, false);
  }
  return new GitError(`git operation on ${where} failed: ${msg.split("\n")[0]}`, false);
}

/** 60000 → "60 s", 1500 → "1.5 s". */
export function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(1))} s`;
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
  }, { what: "git fetch" });
}

async function checkoutOnce(remote: GitRemote, branch: string, dir: string): Promise<RepoCheckout> {
  const { headers, url } = remote;
  const branchRef = `refs/heads/${branch}`;
  // The usual case first: the branch exists, one ref advertisement and one fetch.
  try {
    await git.clone({
      fs,
      http: fetchingBranch(remote.http, branchRef),
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
      throw describeGitError(e, remote.displayUrl, remote.timeoutMs);
    }
    await Deno.remove(dir, { recursive: true }).catch(() => {});
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

type TreeEntries = Map<string, { oid: string; mode: string }>;

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

/**
 * The entries of `folder` in the commit; null when it does not exist. A link, a submodule or a
 * file on the way is an error naming it: the folder is never looked for elsewhere.
 */
function folderEntries(co: RepoCheckout, r: TreeReader, folder: string) {
  let found = r.folders.get(folder);
  if (!found) {
    found = (async (): Promise<TreeEntries | null> => {
      let oid = co.head!;
      if (folder !== "") {
        const slash = folder.lastIndexOf("/");
        const parent = await folderEntries(co, r, slash < 0 ? "" : folder.slice(0, slash));
        const entry = parent?.get(folder.slice(slash + 1));
        if (!entry) return null;
        const problem = treeEntryProblem(entry.mode, "folder");
        if (problem) throw repoPathError(folder, problem);
        oid = entry.oid;
      }
      const { tree } = await git.readTree({ fs, dir: co.dir, oid, cache: r.cache });
      return new Map(tree.map((e) => [e.path, { oid: e.oid, mode: e.mode }]));
    })();
    // Clusters that share the folder share its error too; nobody may be left to await it.
    found.catch(() => {});
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
 * Files straight from the commit's tree, never through the work tree (where a link in the
 * repository would lead outside the clone): every tree and blob is read once per checkout,
 * whatever the number of clusters reading it. A missing file is null; a link, a submodule, or a
 * folder where the file should be is an error naming the path.
 */
export async function readRepoFiles(
  co: RepoCheckout,
  paths: string[],
): Promise<Record<string, string | null>> {
  const out: Record<string, string | null> = {};
  if (!co.head) {
    // An empty repository, or a branch starting without history: no file exists yet.
    for (const p of paths) out[p] = null;
    return out;
  }
  let r = treeReaders.get(co);
  if (!r) treeReaders.set(co, r = newTreeReader());
  for (const p of paths) {
    const entry = await fileEntry(co, r, p);
    out[p] = entry ? await blobText(co, r, entry.oid) : null;
  }
  return out;
}

function newTreeReader(): TreeReader {
  return { cache: {}, folders: new Map(), blobs: new Map() };
}

/** The blob at `path` in the commit, null when absent; anything but a plain file is an error. */
async function fileEntry(co: RepoCheckout, r: TreeReader, path: string) {
  const slash = path.lastIndexOf("/");
  const entry = (await folderEntries(co, r, slash < 0 ? "" : path.slice(0, slash)))
    ?.get(path.slice(slash + 1));
  if (!entry) return null;
  const problem = treeEntryProblem(entry.mode, "file");
  if (problem) throw repoPathError(path, problem);
  return entry;
}

/**
 * Checks `paths` against the checkout's current commit as `readRepoFiles` does, without reading
 * them: for a commit fetched after the plan (a rejected push brings in someone else's).
 */
export async function assertPlainFiles(co: RepoCheckout, paths: string[]): Promise<void> {
  if (!co.head) return;
  const r = newTreeReader();
  for (const p of paths) await fileEntry(co, r, p);
}

/**
 * Writes and deletes in the work tree; each path is checked with lstat first (no link, submodule
 * or file on the way), also after a rejected push brought in a new commit.
 */
async function writeChanges(dir: string, changes: FileChange[]): Promise<string[]> {
  const changed: string[] = [];
  for (const c of changes) {
    const path = checkedRepoPath(c.path);
    await assertPlainPath(dir, path, "file");
    const full = join(dir, path);
    let current: string | null = null;
    try {
      current = await Deno.readTextFile(full);
    } catch { /* absent */ }
    if (current === c.content) continue;
    if (c.content === null) {
      await Deno.remove(full);
      await git.remove({ fs, dir, filepath: path });
    } else {
      await Deno.mkdir(dirname(full), { recursive: true });
      await Deno.writeTextFile(full, c.content);
      await git.add({ fs, dir, filepath: path });
    }
    changed.push(path);
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
