/**
 * Cache files that are either whole or nothing: the text is written under a temporary name and
 * renamed into place (a crash never leaves half of one), private to the user, with a SHA-256 line
 * in front of the body (a file cut short or changed is no file), and read only as a regular file
 * of bounded size (a link is not followed, a FIFO is not opened). The commit cache
 * (lib/git/commit_cache.ts) and the build cache (lib/manifests/build_cache.ts) are made of these.
 *
 * What such a cache holds decides what a plan believes is in a repository or goes to a cluster,
 * so only a folder and files of the user's own that nobody else may write are used (as OpenSSH's
 * StrictModes treats ~/.ssh): in a shared or loosened folder nothing is read or written.
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { readFileBounded } from "./bounded_read.ts";
import { debug } from "./debug.ts";

/** Age past which a temporary file is a leftover of a killed run (a write takes milliseconds). */
const STALE_TEMP_MS = 3_600_000;

/** An entry's file name in a cache folder (cacheEntryPath): a SHA-256 in hex, `.json`. */
const ENTRY_NAME = /^[0-9a-f]{64}\.json$/;

/** The file of the entry named `key` (a SHA-256 in hex) in the cache folder `dir`. */
export function cacheEntryPath(dir: string, key: string): string {
  return join(dir, `${key}.json`);
}

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** `value` as JSON, behind a line with the JSON's SHA-256. */
export function sealJson(value: unknown): string {
  const body = JSON.stringify(value);
  return `${sha256(body)}\n${body}`;
}

/** What a sealed text holds, when its checksum matches and it is JSON; else undefined. */
export function unsealJson(text: string): unknown {
  const newline = text.indexOf("\n");
  if (newline < 0) return undefined;
  const body = text.slice(newline + 1);
  if (text.slice(0, newline) !== sha256(body)) return undefined;
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}

/**
 * The text of `path` when it is a regular file (looked at before it is opened) that `accept`
 * takes, of at most `max` bytes, in UTF-8; undefined otherwise, or when it cannot be read.
 */
export async function readRegularFile(
  path: string,
  max: number,
  accept: (info: Deno.FileInfo) => boolean = () => true,
): Promise<string | undefined> {
  try {
    const info = await Deno.lstat(path);
    if (!info.isFile || !accept(info)) return undefined;
    const bytes = await readFileBounded(path, max, () => new Error("too large"));
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}

/** Owned by this user and writable by nobody else (of a link: the link, not what it names). */
export function ownAndPrivate(info: Deno.FileInfo): boolean {
  return info.uid === Deno.uid() && info.mode !== null && (info.mode & 0o022) === 0;
}

/** Folders --debug has said are not used, once a run each. */
const refusedSaid = new Set<string>();

/**
 * Whether the cache folder `dir` may be used: missing (writeAtomically makes it 0700), or a
 * folder of this user's that nobody else may write. When not, --debug says so once a run,
 * naming the cache (`what`).
 */
export async function usableCacheDir(dir: string, what: string): Promise<boolean> {
  try {
    const info = await Deno.lstat(dir);
    if (info.isDirectory && ownAndPrivate(info)) return true;
    if (!refusedSaid.has(dir)) {
      refusedSaid.add(dir);
      debug(`${what} ${dir}: not a folder of this user's that only it may write, not used`);
    }
    return false;
  } catch (e) {
    return e instanceof Deno.errors.NotFound;
  }
}

/**
 * The entries of a cache folder (files named as cacheEntryPath names them) with their
 * modification times; writeAtomically's temporary files older than STALE_TEMP_MS, which killed
 * runs left behind, are removed on the way.
 */
export async function cacheEntries(dir: string): Promise<{ path: string; mtime: number }[]> {
  const entries: { path: string; mtime: number }[] = [];
  for await (const e of Deno.readDir(dir)) {
    const isEntry = ENTRY_NAME.test(e.name);
    const isTemp = isTempName(e.name);
    if (!e.isFile || (!isEntry && !isTemp)) continue;
    const path = join(dir, e.name);
    const info = await Deno.lstat(path).catch(() => undefined);
    if (!info) continue;
    const mtime = info.mtime?.getTime() ?? 0;
    if (isTemp && Date.now() - mtime > STALE_TEMP_MS) await Deno.remove(path).catch(() => {});
    if (isEntry) entries.push({ path, mtime });
  }
  return entries;
}

/** The temporary file writeAtomically writes before renaming it to `path`. */
function tempPath(path: string): string {
  return `${path}.${crypto.randomUUID()}.tmp`;
}

/** Whether a file name is one of writeAtomically's temporary files for an entry. */
function isTempName(name: string): boolean {
  const m = /^(.*)\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.tmp$/.exec(name);
  return m !== null && ENTRY_NAME.test(m[1]);
}

/**
 * Writes `text` to `path` through a temporary file renamed into place (0600; the folder made 0700
 * when missing). Throws what the file system says; the temporary file is not left behind.
 */
export async function writeAtomically(dir: string, path: string, text: string): Promise<void> {
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const temp = tempPath(path);
  try {
    await Deno.writeTextFile(temp, text, { mode: 0o600, createNew: true });
    await Deno.rename(temp, path);
  } catch (e) {
    await Deno.remove(temp).catch(() => {});
    throw e;
  }
}
