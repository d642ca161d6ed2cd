/**
 * What a plan read from a repository's commit, kept on disk by commit: the next plan finds the
 * branch still at that commit in the ref advertisement (one small GET) and takes the files from
 * here, without fetching the commit or loading isomorphic-git. Flux's source-controller does the
 * same for its GitRepositories: it skips the clone when the remote's head is the revision it
 * already has (fluxcd/source-controller#665, "Optimise clone operations"). A commit id names its
 * tree and every file in it, so an entry never goes stale: a push moves the branch to another
 * commit, which is not here.
 *
 * One file per repository URL and branch (the latest commit read), under
 * `$XDG_CACHE_HOME/fluxfleet/commits` (or `~/.cache/fluxfleet/commits`), or the folder
 * `FLUXFLEET_COMMIT_CACHE` names (`off`: no cache); removing it is always safe. It holds what the
 * plan read (the clusters' gotk-components.yaml, gotk-sync.yaml, kustomization.yaml: no
 * credentials, those travel in headers and the clusters' secrets), each distinct text once. Keyed
 * by the URL as well as the commit: a server can only name commits of its own that were read from
 * it.
 *
 * What is read here is what a plan believes the repository holds (an entry that says the files
 * are as they should be makes the plan report no change), so only a folder and entries of the
 * user's own that nobody else may write are used (lib/util/sealed_file.ts): in a shared or
 * loosened folder nothing is read or written. Beyond that, nothing read here is trusted further
 * than a fetch: a file that is not a whole entry of this format, with its checksum, for this URL,
 * branch and commit, is no entry (the plan fetches). Its size is bounded; written to a temporary
 * file and renamed, private to the user (0600 in a 0700 folder); temporary files killed runs
 * left behind go once a run.
 */
import { createHash } from "node:crypto";
import { userCacheDir } from "../util/cache_dir.ts";
import {
  cacheEntries,
  cacheEntryPath,
  ownAndPrivate,
  readRegularFile,
  sealJson,
  unsealJson,
  usableCacheDir,
  writeAtomically,
} from "../util/sealed_file.ts";

/** Entries larger than this are not kept (nor read): a fleet's files are far below. */
export const MAX_ENTRY_BYTES = 64 * 1024 * 1024;

/** The folder, or undefined when the cache is off (FLUXFLEET_COMMIT_CACHE=off). */
export function commitCacheDir(): string | undefined {
  return userCacheDir("FLUXFLEET_COMMIT_CACHE", "commits");
}

/** Folders whose leftover temporary files this run has removed. */
const swept = new Set<string>();

/** Files of one commit by path; null: the commit has no such file. */
export type CommitFiles = Map<string, string | null>;

interface Entry {
  format: 1;
  key: string;
  commit: string;
  /** path → index into `texts`, or null. */
  files: Record<string, number | null>;
  texts: string[];
}

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

function entryKey(url: string, branch: string): string {
  return sha256(`${url}\n${branch}`);
}

/** The files read from `commit` of `url`'s `branch` in an earlier run; undefined when none. */
export async function loadCommitFiles(
  dir: string,
  url: string,
  branch: string,
  commit: string,
): Promise<CommitFiles | undefined> {
  if (!(await usableCacheDir(dir, "commit cache"))) return undefined;
  return await readEntry(dir, url, branch, commit);
}

/** loadCommitFiles in a folder already found usable. */
async function readEntry(
  dir: string,
  url: string,
  branch: string,
  commit: string,
): Promise<CommitFiles | undefined> {
  const key = entryKey(url, branch);
  const text = await readRegularFile(cacheEntryPath(dir, key), MAX_ENTRY_BYTES, ownAndPrivate);
  return text === undefined ? undefined : parseEntry(text, key, commit);
}

/** The entry's files, when `text` is a whole entry for `key` and `commit`; else undefined. */
export function parseEntry(text: string, key: string, commit: string): CommitFiles | undefined {
  const e = unsealJson(text) as Entry | undefined;
  if (e?.format !== 1 || e.key !== key || e.commit !== commit) return undefined;
  if (!Array.isArray(e.texts) || !e.texts.every((t) => typeof t === "string")) return undefined;
  if (typeof e.files !== "object" || e.files === null) return undefined;
  const files: CommitFiles = new Map();
  for (const [path, i] of Object.entries(e.files)) {
    if (i === null) files.set(path, null);
    else if (Number.isInteger(i) && i >= 0 && i < e.texts.length) files.set(path, e.texts[i]);
    else return undefined;
  }
  return files;
}

/** The entry's text: a checksum line, then the entry as JSON (each distinct text once). */
export function formatEntry(url: string, branch: string, commit: string, files: CommitFiles) {
  const texts: string[] = [];
  const index = new Map<string, number>();
  const byPath: Record<string, number | null> = {};
  for (const [path, text] of [...files].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (text === null) {
      byPath[path] = null;
      continue;
    }
    let i = index.get(text);
    if (i === undefined) {
      i = texts.push(text) - 1;
      index.set(text, i);
    }
    byPath[path] = i;
  }
  const entry: Entry = { format: 1, key: entryKey(url, branch), commit, files: byPath, texts };
  return sealJson(entry);
}

/**
 * Keeps what was read from `commit` (replacing the entry of an older commit; merged with one of
 * the same commit, so clusters planned in another run add their paths). Never fails the run: a
 * cache that cannot be written is only slower next time.
 */
export async function saveCommitFiles(
  dir: string,
  url: string,
  branch: string,
  commit: string,
  files: CommitFiles,
): Promise<void> {
  if (files.size === 0) return;
  try {
    if (!(await usableCacheDir(dir, "commit cache"))) return;
    const known = await readEntry(dir, url, branch, commit);
    const all: CommitFiles = new Map([...(known ?? []), ...files]);
    const text = formatEntry(url, branch, commit, all);
    if (text.length > MAX_ENTRY_BYTES) return;
    await writeAtomically(dir, cacheEntryPath(dir, entryKey(url, branch)), text);
    if (!swept.has(dir)) {
      swept.add(dir);
      await cacheEntries(dir);
    }
  } catch {
    // Not kept: the next plan fetches.
  }
}
