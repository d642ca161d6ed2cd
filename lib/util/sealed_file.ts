/**
 * Cache files that are either whole or nothing: the text is written under a temporary name and
 * renamed into place (a crash never leaves half of one), private to the user, with a SHA-256 line
 * in front of the body (a file cut short or changed is no file), and read only as a regular file
 * of bounded size (a link is not followed, a FIFO is not opened). The commit cache
 * (lib/git/commit_cache.ts) and the build cache (lib/manifests/build_cache.ts) are made of these.
 */
import { createHash } from "node:crypto";
import { readFileBounded } from "./bounded_read.ts";

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

/** The temporary file writeAtomically writes before renaming it to `path`. */
function tempPath(path: string): string {
  return `${path}.${crypto.randomUUID()}.tmp`;
}

/** Whether a file name is one of writeAtomically's temporary files (for `entry` names). */
export function isTempName(name: string, entry: RegExp): boolean {
  const m = /^(.*)\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.tmp$/.exec(name);
  return m !== null && entry.test(m[1]);
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
