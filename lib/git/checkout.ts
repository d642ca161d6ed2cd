/**
 * A checkout as both transports leave it (a git directory fetched shallow, without a work tree at
 * first): reading the flux files from the commit, checking the work tree out before anything is
 * written or built, and the checkout of a repository that does not exist yet.
 */
import * as fs from "node:fs";
import { dirname, join } from "node:path";
import type { PromiseFsClient } from "isomorphic-git";
import { isoGit } from "./iso.ts";
import { memoryFs } from "./memory_fs.ts";
import { assertPlainPath, checkedRepoPath, repoPathError, treeEntryProblem } from "./repo_paths.ts";
import type { FileChange, RepoCheckout } from "./types.ts";

/**
 * A repository that does not exist yet (the provider creates it before the first push);
 * `inMemory` as for a fetched one (RepoCheckout.fs).
 */
export async function emptyCheckout(
  dir: string,
  branch: string,
  url: string,
  inMemory = false,
): Promise<RepoCheckout> {
  const git = await isoGit();
  const where = inMemory ? memoryFs() : fs;
  await git.init({ fs: where, dir, defaultBranch: branch });
  await git.addRemote({ fs: where, dir, remote: "origin", url });
  return {
    dir,
    url,
    branch,
    branchExists: false,
    head: null,
    ...(inMemory ? { fs: where } : {}),
  };
}

/** A checkout in memory is read only: what a run that only plans made is never written. */
function assertOnDisk(co: RepoCheckout, what: string): void {
  if (co.fs || co.reader) {
    throw new Error(`cannot ${what}: the checkout of ${co.url} is in memory, read only`);
  }
}

/** Points `origin` at another URL (a repository created after the checkout was made). */
export async function setRemoteUrl(co: RepoCheckout, url: string): Promise<void> {
  assertOnDisk(co, "point it at another remote");
  const git = await isoGit();
  await git.deleteRemote({ fs, dir: co.dir, remote: "origin" });
  await git.addRemote({ fs, dir: co.dir, remote: "origin", url });
}

/** Checks out the work tree of a checkout cloned without one (see `RepoCheckout.worktree`). */
export async function ensureWorktree(co: RepoCheckout): Promise<void> {
  if (co.worktree !== false) return;
  assertOnDisk(co, "check out its work tree");
  if (co.head) await (await isoGit()).checkout({ fs, dir: co.dir, ref: co.branch, force: true });
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
  /** node:fs for isomorphic-git's object reads, without its failing probes (see objectReadFs). */
  fs: PromiseFsClient;
  folders: Map<string, Promise<TreeEntries | null>>;
  blobs: Map<string, Promise<string>>;
}

const LOOSE_OBJECT = /\/objects\/([0-9a-f]{2})\/[0-9a-f]{38}$/;

/**
 * node:fs as isomorphic-git reads objects with it, minus the costs paid on every object read: it
 * first tries the loose object file (a checkout fetched as a pack has few or none: each miss was
 * an ENOENT built by Deno's Node layer, ~0.3 ms), then lists objects/pack. Here the folders of
 * loose objects and the pack list are read once per reader (nothing is written to the checkout
 * while its clusters read it), and a loose object whose folder does not exist is a miss at once.
 * A loose object that exists is read from disk as before.
 */
function objectReadFs(): PromiseFsClient {
  const p = fs.promises;
  const listed = new Map<string, Promise<Set<string>>>();
  const list = (dir: string) => {
    let found = listed.get(dir);
    if (!found) {
      found = p.readdir(dir).then((names) => new Set(names), () => new Set<string>());
      listed.set(dir, found);
    }
    return found;
  };
  const missing = () => Object.assign(new Error("no such loose object"), { code: "ENOENT" });
  return {
    promises: {
      ...p,
      async readFile(path: string, options?: unknown) {
        // isomorphic-git calls readFile() without a path on every command, to see whether it
        // returns a promise: Deno's Node layer would build an ERR_INVALID_ARG_TYPE (~0.3 ms).
        if (typeof path !== "string") throw new TypeError("readFile() needs a path");
        const loose = LOOSE_OBJECT.exec(path);
        if (loose) {
          const objects = path.slice(0, loose.index + "/objects".length);
          if (!(await list(objects)).has(loose[1])) throw missing();
        }
        return await p.readFile(path, options as never);
      },
      async readdir(path: string, options?: unknown) {
        if (typeof path === "string" && path.endsWith("/objects/pack") && options === undefined) {
          return [...await list(path)];
        }
        return await p.readdir(path, options as never);
      },
    },
  };
}

const treeReaders = new WeakMap<RepoCheckout, TreeReader>();

/** Drops what `readRepoFiles` keeps for a checkout (call once its clusters have read). */
export async function forgetReadCache(co: RepoCheckout): Promise<void> {
  treeReaders.delete(co);
  await co.reader?.forget();
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
      const { tree } = await (await isoGit()).readTree({
        fs: r.fs,
        dir: co.dir,
        oid,
        cache: r.cache,
      });
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
    text = isoGit().then((git) => git.readBlob({ fs: r.fs, dir: co.dir, oid, cache: r.cache }))
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
export function readRepoFiles(
  co: RepoCheckout,
  paths: string[],
): Promise<Record<string, string | null>> {
  return co.reader ? co.reader.read(paths) : readCommitFiles(co, paths);
}

/** readRepoFiles from the checkout's own objects, whatever its `reader`. */
export async function readCommitFiles(
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
  if (!r) treeReaders.set(co, r = newTreeReader(co));
  for (const p of paths) {
    const entry = await fileEntry(co, r, p);
    out[p] = entry ? await blobText(co, r, entry.oid) : null;
  }
  return out;
}

function newTreeReader(co: RepoCheckout): TreeReader {
  return { cache: {}, fs: co.fs ?? objectReadFs(), folders: new Map(), blobs: new Map() };
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
  const r = newTreeReader(co);
  for (const p of paths) await fileEntry(co, r, p);
}

/**
 * Writes and deletes in the work tree what differs; each path is checked with lstat first (no
 * link, submodule or file on the way), also after a rejected push brought in a new commit.
 * Returns the changes made (paths as checked); the transport stages them.
 */
export async function writeChanges(dir: string, changes: FileChange[]): Promise<FileChange[]> {
  const changed: FileChange[] = [];
  for (const c of changes) {
    const path = checkedRepoPath(c.path);
    await assertPlainPath(dir, path, "file");
    const full = join(dir, path);
    let current: string | null = null;
    try {
      current = await Deno.readTextFile(full);
    } catch { /* absent */ }
    if (current === c.content) continue;
    if (c.content === null) await Deno.remove(full);
    else {
      await Deno.mkdir(dirname(full), { recursive: true });
      await Deno.writeTextFile(full, c.content);
    }
    changed.push({ path, content: c.content });
  }
  return changed;
}
