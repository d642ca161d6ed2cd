/**
 * A small, strict reader for `.tar.gz` archives such as Flux's release `manifests.tar.gz`.
 *
 * Only what a manifests archive needs: ustar/GNU/pax headers, regular files. Directories are
 * skipped; links, devices and anything else are refused, as are absolute paths, `..` segments and
 * backslashes, so no entry can name a place outside the folder it is read into. Pax extended
 * headers are read for `path` only (other keys are ignored, global headers skipped); GNU long
 * names (`L`) are honoured. The decompressed size is capped (a gzip bomb stops early).
 *
 * Written here rather than taken from npm: the `tar` package pulls in node's fs/stream layers and
 * extracts to disk, while fluxfleet needs a few files in memory and its own refusal rules.
 */

import { concatBytes } from "../util/bytes.ts";
import { DEFAULT_LIMITS, formatSize } from "../util/limits.ts";

/** The decompressed size allowed by default (the `manifests` limit). */
export const DEFAULT_MAX_TAR_BYTES = DEFAULT_LIMITS.manifests;

const BLOCK = 512;

export class TarError extends Error {
  override name = "TarError";
}

/**
 * Compressed bytes handed to the decompressor at a time. Deflate expands at most ~1032:1, so one
 * piece inflates to ~4 MiB at most: the size check runs between pieces and a bomb stops within a
 * few MiB of the limit. (Handing it the whole file at once inflated all of it before the first
 * check: 3 GiB of zeros took 15 s and 6 GB of memory to refuse.)
 */
const GUNZIP_PIECE = 4 * 1024;

/** The bytes as a stream of small pieces, each handed over only when the reader asks for it. */
function pieces(data: Uint8Array, size: number): ReadableStream<Uint8Array<ArrayBuffer>> {
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= data.length) {
        controller.close();
        return;
      }
      controller.enqueue(data.slice(at, at + size));
      at += size;
    },
  }, { highWaterMark: 0 });
}

/** gunzip with the platform's DecompressionStream, stopping once `maxBytes` is exceeded. */
export async function gunzip(
  data: Uint8Array,
  maxBytes = DEFAULT_MAX_TAR_BYTES,
): Promise<Uint8Array> {
  const stream = pieces(data, GUNZIP_PIECE).pipeThrough(new DecompressionStream("gzip"));
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
      if (total > maxBytes) {
        throw new TarError(`archive is larger than ${formatSize(maxBytes)} once decompressed`);
      }
      chunks.push(value);
    }
  } catch (e) {
    await reader.cancel().catch(() => {});
    if (e instanceof TarError) throw e;
    throw new TarError(`not a valid gzip stream: ${(e as Error).message}`);
  }
  return concatBytes(chunks);
}

function cString(b: Uint8Array, start: number, len: number): string {
  let end = start;
  while (end < start + len && b[end] !== 0) end++;
  return new TextDecoder("utf-8", { fatal: true }).decode(b.subarray(start, end));
}

function octal(b: Uint8Array, start: number, len: number, what: string): number {
  if (b[start] & 0x80) throw new TarError(`${what}: base-256 numbers are not supported`);
  const text = cString(b, start, len).trim();
  if (text === "") return 0;
  if (!/^[0-7]+$/.test(text)) throw new TarError(`${what}: invalid octal number "${text}"`);
  return parseInt(text, 8);
}

function checksumOk(h: Uint8Array): boolean {
  const want = octal(h, 148, 8, "header checksum");
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const v = i >= 148 && i < 156 ? 0x20 : h[i];
    unsigned += v;
    signed += v > 127 ? v - 256 : v;
  }
  return want === unsigned || want === signed;
}

/** Pax records: "<len> <key>=<value>\n" repeated, <len> in bytes. Only `path` matters here. */
function paxPath(data: Uint8Array): string | undefined {
  const dec = new TextDecoder("utf-8", { fatal: true });
  let at = 0;
  let path: string | undefined;
  while (at < data.length) {
    let sp = at;
    while (sp < data.length && data[sp] !== 0x20) sp++;
    const len = Number(dec.decode(data.subarray(at, sp)));
    if (
      sp >= data.length || !Number.isInteger(len) || len <= sp - at + 1 ||
      at + len > data.length || data[at + len - 1] !== 0x0a
    ) {
      throw new TarError("malformed pax header");
    }
    const record = dec.decode(data.subarray(sp + 1, at + len - 1));
    const eq = record.indexOf("=");
    if (eq > 0 && record.slice(0, eq) === "path") path = record.slice(eq + 1);
    at += len;
  }
  return path;
}

/**
 * A relative path with `/` separators, `./` and empty segments dropped. Absolute paths, `..`,
 * backslashes and NUL are refused: an archive never names anything outside its own folder.
 */
export function safeEntryPath(raw: string): string {
  if (raw.startsWith("/")) throw new TarError(`entry "${raw}": absolute paths are not allowed`);
  if (raw.includes("\\") || raw.includes("\0")) {
    throw new TarError(`entry "${raw}": backslashes and NUL are not allowed in paths`);
  }
  const parts = raw.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) throw new TarError(`entry "${raw}": ".." is not allowed in paths`);
  return parts.join("/");
}

/** The regular files of an uncompressed tar archive, by their (safe, relative) path. */
export function untar(tar: Uint8Array): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  let at = 0;
  let nextName: string | undefined;
  while (true) {
    if (at + BLOCK > tar.length) {
      // No end-of-archive blocks: accept a stream that ends exactly between entries.
      if (at === tar.length && nextName === undefined) return files;
      throw new TarError("archive is truncated");
    }
    const h = tar.subarray(at, at + BLOCK);
    if (h.every((b) => b === 0)) return files;
    if (!checksumOk(h)) throw new TarError(`not a tar archive (bad header checksum at ${at})`);
    const size = octal(h, 124, 12, "entry size");
    const type = String.fromCharCode(h[156]);
    const dataStart = at + BLOCK;
    const dataEnd = dataStart + size;
    if (dataEnd > tar.length) throw new TarError("archive is truncated");
    const data = tar.subarray(dataStart, dataEnd);
    at = dataStart + Math.ceil(size / BLOCK) * BLOCK;

    let name = cString(h, 0, 100);
    const magic = cString(h, 257, 6);
    if (magic === "ustar" && h[262] === 0) {
      // POSIX ustar: the prefix field extends the name (GNU's "ustar  " uses it for times).
      const prefix = cString(h, 345, 155);
      if (prefix) name = `${prefix}/${name}`;
    }
    if (type === "x") {
      nextName = paxPath(data) ?? nextName;
      continue;
    }
    if (type === "g") continue;
    if (type === "L") {
      nextName = cString(data, 0, data.length);
      continue;
    }
    const rawName = nextName ?? name;
    nextName = undefined;
    if (type === "5") {
      safeEntryPath(rawName);
      continue;
    }
    if (type === "1" || type === "2" || type === "K") {
      throw new TarError(`entry "${rawName}": links are not allowed`);
    }
    if (type !== "0" && type !== "\0" && type !== "7") {
      throw new TarError(`entry "${rawName}": unsupported entry type "${type}"`);
    }
    const path = safeEntryPath(rawName);
    if (path === "") throw new TarError(`entry "${rawName}": a file needs a name`);
    files.set(path, data.slice());
  }
}

/** The regular files of a `.tar.gz` archive. */
export async function readTarGz(
  data: Uint8Array,
  maxBytes = DEFAULT_MAX_TAR_BYTES,
): Promise<Map<string, Uint8Array>> {
  return untar(await gunzip(data, maxBytes));
}
