/**
 * The Flux release manifests (`flux.manifests`), in one of these forms:
 *
 * - a release `install.yaml`, as a local file or an URL (rendered by fluxfleet's TypeScript);
 * - a release manifests archive, as flux itself uses (`manifests.tar.gz`: `<component>.yaml`,
 *   rbac.yaml, policies.yaml): a local folder holding the extracted files, a local `.tar.gz`
 *   file, or an http(s) URL ending in `.tar.gz` (built as flux builds it, see release.ts).
 *
 * An URL is downloaded once and kept in a cache keyed by the URL (a release URL names its
 * version), with its SHA-256; an optional pinned checksum (`flux.manifestsSha256`, over the
 * downloaded bytes: the install.yaml or the archive) is checked on download and on every use.
 *
 * Every read is bounded by the `manifests` limit (lib/util/limits.ts): the download, a local file
 * (which may be a FIFO or /dev/zero), the files of a folder together, and an archive once
 * decompressed.
 */
import { join } from "node:path";
import type { ReleaseFiles } from "./release.ts";
import { readTarGz } from "./tar.ts";
import { download, DownloadError, type DownloadOptions } from "./download.ts";
import { readFileBounded } from "../util/bounded_read.ts";
import { DEFAULT_LIMITS, formatSize, LimitExceededError, raiseHint } from "../util/limits.ts";

export interface ManifestSource extends DownloadOptions {
  source: string;
  sha256?: string;
  /** Cache directory; default $XDG_CACHE_HOME/fluxfleet or ~/.cache/fluxfleet. */
  cacheDir?: string;
}

export type FluxManifests =
  & (
    | { kind: "install"; source: string; text: string }
    | ({ kind: "release" } & ReleaseFiles)
  )
  & {
    /** SHA-256 of the file or download (what flux.manifestsSha256 pins); none for a folder. */
    sha256?: string;
  };

/** How to do without the network, said with every failed download. */
export const OFFLINE_HINT =
  "to work offline, run `fluxfleet manifests pull VERSION DIR` where the release can be " +
  "downloaded and point flux.manifests at the archive it writes (or at a local folder of the " +
  "release files)";

function tooLarge(what: string, maxBytes: number): () => LimitExceededError {
  return () =>
    new LimitExceededError(
      `flux.manifests: ${what} is larger than ${formatSize(maxBytes)} (the manifests limit); ${
        raiseHint("manifests")
      }`,
    );
}

async function sha256Hex(data: Uint8Array): Promise<string> {
  const hash = await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(hash), (b) => b.toString(16).padStart(2, "0")).join("");
}

export function defaultCacheDir(): string {
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  const home = Deno.env.get("HOME") ?? "/tmp";
  return join(xdg ?? join(home, ".cache"), "fluxfleet", "manifests");
}

async function verify(data: Uint8Array, where: string, want?: string): Promise<string> {
  const got = await sha256Hex(data);
  if (want && got !== want.toLowerCase()) {
    throw new Error(`flux.manifestsSha256: ${where} has sha256 ${got}, the manifest pins ${want}`);
  }
  return got;
}

const isUrl = (s: string) => /^https?:\/\//.test(s);

function isArchiveName(s: string): boolean {
  let path = s;
  if (isUrl(s)) {
    try {
      path = new URL(s).pathname;
    } catch {
      return false;
    }
  }
  return /\.(tar\.gz|tgz)$/i.test(path);
}

const isGzip = (b: Uint8Array) => b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;

/** A download, cached by URL with its checksum; a damaged cache file is downloaded again. */
async function cachedDownload(
  source: string,
  ext: string,
  src: ManifestSource,
): Promise<{ data: Uint8Array; sha256: string }> {
  const { sha256, cacheDir } = src;
  const maxBytes = src.maxBytes ?? DEFAULT_LIMITS.manifests;
  const dir = cacheDir ?? defaultCacheDir();
  const key = await sha256Hex(new TextEncoder().encode(source));
  const file = join(dir, `${key}${ext}`);
  try {
    const cached = await readFileBounded(
      file,
      maxBytes,
      tooLarge(`the cached copy of ${source}`, maxBytes),
    );
    const recorded = (await Deno.readTextFile(`${file}.sha256`)).trim();
    const got = await sha256Hex(cached);
    if (got === recorded) {
      await verify(cached, `the cached copy of ${source}`, sha256);
      return { data: cached, sha256: got };
    }
  } catch (e) {
    if (e instanceof Error && e.message.startsWith("flux.manifestsSha256")) throw e;
  }
  let data: Uint8Array;
  try {
    data = await download(source, { ...src, maxBytes });
  } catch (e) {
    const offline = e instanceof DownloadError && e.unreachable ? `; ${OFFLINE_HINT}` : "";
    throw new Error(`flux.manifests: ${(e as Error).message}${offline}`);
  }
  const got = await verify(data, source, sha256);
  await Deno.mkdir(dir, { recursive: true });
  // Written under a temporary name first, so a crash never leaves half a manifest in the cache.
  const tmp = `${file}.${crypto.randomUUID()}.tmp`;
  await Deno.writeFile(tmp, data);
  await Deno.rename(tmp, file);
  await Deno.writeTextFile(`${file}.sha256`, got + "\n");
  return { data, sha256: got };
}

/** The top-level `.yaml` files of an archive or folder: what flux's kustomization can name. */
function topLevelYaml(entries: Iterable<[string, Uint8Array]>): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  for (const [path, data] of entries) {
    if (!path.includes("/") && path.endsWith(".yaml")) files.set(path, data);
  }
  return files;
}

async function fromArchive(
  data: Uint8Array,
  source: string,
  maxBytes: number,
): Promise<FluxManifests> {
  let entries: Map<string, Uint8Array>;
  try {
    entries = await readTarGz(data, maxBytes);
  } catch (e) {
    const raise = /once decompressed/.test((e as Error).message)
      ? `; ${raiseHint("manifests")}`
      : "";
    throw new Error(
      `flux.manifests: ${source} is not a usable .tar.gz: ${(e as Error).message}${raise}`,
    );
  }
  return { kind: "release", source, files: topLevelYaml(entries) };
}

async function fromFolder(dir: string, maxBytes: number, sha256?: string): Promise<FluxManifests> {
  if (sha256) {
    throw new Error(
      `flux.manifestsSha256: ${dir} is a folder, which has no single checksum; pin the .tar.gz ` +
        "archive (or the install.yaml) instead, or remove flux.manifestsSha256",
    );
  }
  const entries: [string, Uint8Array][] = [];
  let left = maxBytes;
  for await (const e of Deno.readDir(dir)) {
    if (!e.name.endsWith(".yaml")) continue;
    const path = join(dir, e.name);
    if (!(await Deno.stat(path)).isFile) continue;
    // The folder's files together are held to the limit, as the archive they come from.
    const data = await readFileBounded(path, left, tooLarge(`the folder ${dir}`, maxBytes));
    left -= data.length;
    entries.push([e.name, data]);
  }
  return { kind: "release", source: dir, files: topLevelYaml(entries) };
}

function decodeInstall(data: Uint8Array, source: string): FluxManifests {
  try {
    return {
      kind: "install",
      source,
      text: new TextDecoder("utf-8", { fatal: true }).decode(data),
    };
  } catch {
    throw new Error(`flux.manifests: ${source} is not UTF-8 text`);
  }
}

/** Reads `flux.manifests` in whichever form it has (see the module comment). */
export async function loadManifests(src: ManifestSource | string): Promise<FluxManifests> {
  const opts: ManifestSource = typeof src === "string" ? { source: src } : src;
  const { source, sha256 } = opts;
  const maxBytes = opts.maxBytes ?? DEFAULT_LIMITS.manifests;
  if (isUrl(source)) {
    const archive = isArchiveName(source);
    const got = await cachedDownload(source, archive ? ".tar.gz" : ".yaml", opts);
    const m = archive || isGzip(got.data)
      ? await fromArchive(got.data, source, maxBytes)
      : decodeInstall(got.data, source);
    return { ...m, sha256: got.sha256 };
  }
  let info: Deno.FileInfo;
  let data: Uint8Array;
  try {
    info = await Deno.stat(source);
    if (info.isDirectory) return await fromFolder(source, maxBytes, sha256);
    data = await readFileBounded(source, maxBytes, tooLarge(source, maxBytes));
  } catch (e) {
    if (e instanceof Error && e.message.startsWith("flux.manifests")) throw e;
    throw new Error(`flux.manifests: cannot read ${source}: ${(e as Error).message}`);
  }
  const got = await verify(data, source, sha256);
  const m = isArchiveName(source) || isGzip(data)
    ? await fromArchive(data, source, maxBytes)
    : decodeInstall(data, source);
  return { ...m, sha256: got };
}
