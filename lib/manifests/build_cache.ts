/**
 * What `kubectl kustomize` built from a release's files and flux's overlay, kept on disk by what
 * went in: the next run with the same release, install options and kubectl takes the build from
 * here instead of writing a temporary folder and running kubectl again (0.2–0.3 s of kubectl on
 * every plan, for the default `flux.manifests`). Go's build cache works the same way: an entry
 * is named by a hash of its inputs, so it never goes stale, only unused.
 *
 * The inputs hashed: every file the build reads (the release files and the overlay, by name and
 * content) and the kubectl that would run (its resolved path, size, inode and change times:
 * another kubectl, or the same one upgraded, may build other bytes, and gets its own entry).
 *
 * Under `$XDG_CACHE_HOME/fluxfleet/builds` (or `~/.cache/fluxfleet/builds`), or the folder
 * `FLUXFLEET_BUILD_CACHE` names (`off`: no cache); removing it is always safe. What is read here
 * is installed on clusters, so only a folder and entries of the user's own that nobody else may
 * write are used (lib/util/sealed_file.ts): in a shared or loosened folder nothing is read or
 * written. Beyond that it is trusted as the user's other caches are (the downloaded
 * release, Go's and npm's caches): a file that is not a whole entry of this format, with its
 * checksum, for this key, is no entry (kubectl runs).
 * Size-bounded, written to a temporary file and renamed, private to the user (0600 in a 0700
 * folder); past MAX_ENTRIES, those unused the longest go.
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
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
import type { KubeObject } from "./types.ts";

/** Builds larger than this are neither kept nor read (a whole Flux release is ~1 MB). */
export const MAX_BUILD_BYTES = 64 * 1024 * 1024;
/** Entries kept; a release and set of install options each take one. */
export const MAX_ENTRIES = 32;

/** The folder, or undefined when the cache is off (FLUXFLEET_BUILD_CACHE=off). */
export function buildCacheDir(): string | undefined {
  return userCacheDir("FLUXFLEET_BUILD_CACHE", "builds");
}

/**
 * What names the kubectl a build would run: the first executable `kubectl` on PATH (as the
 * child process finds it), by its real path, size, inode and times: the modification time may be
 * kept by an upgrade (`tar`, `cp -p`), the inode's change time cannot be. Undefined when there is
 * none (the build then runs and says kubectl is missing).
 */
export async function kubectlIdentity(path = Deno.env.get("PATH") ?? ""): Promise<
  string | undefined
> {
  for (const dir of path.split(":")) {
    if (!dir) continue;
    const candidate = join(dir, "kubectl");
    try {
      const info = await Deno.stat(candidate);
      if (!info.isFile || info.mode === null || (info.mode & 0o111) === 0) continue;
      const real = await Deno.realPath(candidate);
      const times = [info.mtime, info.ctime].map((t) => t?.getTime() ?? null);
      return JSON.stringify([real, info.size, info.ino, info.dev, ...times]);
    } catch {
      continue;
    }
  }
  return undefined;
}

function sha256(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** The entry's name: a hash of the kubectl and of every file by name and content. */
export function buildKey(kubectl: string, files: Iterable<[string, string | Uint8Array]>): string {
  const sums = [...files]
    .map(([name, data]) => [name, sha256(data)])
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return sha256(JSON.stringify({ format: 1, kubectl, files: sums }));
}

/**
 * A build: kubectl's output, and the objects in it (parsed once, when it was built). The objects
 * only ever travel as JSON (to the API server), so keeping them as JSON loses nothing.
 */
export interface Build {
  built: string;
  objects: KubeObject[];
}

interface Entry extends Build {
  format: 1;
  key: string;
}

/** The entry's text: a checksum line, then the entry as JSON. */
export function formatBuild(key: string, build: Build): string {
  return sealJson({ format: 1, key, ...build } satisfies Entry);
}

/** The build, when `text` is a whole entry for `key`; else undefined. */
export function parseBuild(text: string, key: string): Build | undefined {
  const e = unsealJson(text) as Entry | undefined;
  if (e?.format !== 1 || e.key !== key || typeof e.built !== "string") return undefined;
  const isObject = (o: unknown) => o !== null && typeof o === "object" && "kind" in o;
  if (!Array.isArray(e.objects) || !e.objects.every(isObject)) return undefined;
  return { built: e.built, objects: e.objects };
}

/** The build kept under `key`; undefined when there is none (or not a whole one). */
export async function loadBuild(dir: string, key: string): Promise<Build | undefined> {
  if (!(await usableCacheDir(dir, "build cache"))) return undefined;
  const path = cacheEntryPath(dir, key);
  // A file of our own only; the objects take about as much again as kubectl's text.
  const text = await readRegularFile(path, MAX_BUILD_BYTES * 3, ownAndPrivate);
  const built = text === undefined ? undefined : parseBuild(text, key);
  // Marked as used, so that pruning takes the entries unused the longest.
  if (built !== undefined) await Deno.utime(path, new Date(), new Date()).catch(() => {});
  return built;
}

/** Keeps `built` under `key`. Never fails the run: a cache not written is only slower next time. */
export async function saveBuild(dir: string, key: string, build: Build): Promise<void> {
  if (build.built.length > MAX_BUILD_BYTES) return;
  try {
    if (!(await usableCacheDir(dir, "build cache"))) return;
    await writeAtomically(dir, cacheEntryPath(dir, key), formatBuild(key, build));
    await prune(dir);
  } catch {
    // Not kept: the next run builds again.
  }
}

/** Removes the entries unused the longest, past MAX_ENTRIES (and leftover temporary files). */
async function prune(dir: string): Promise<void> {
  const entries = await cacheEntries(dir);
  if (entries.length <= MAX_ENTRIES) return;
  entries.sort((a, b) => a.mtime - b.mtime);
  for (const { path } of entries.slice(0, entries.length - MAX_ENTRIES)) {
    await Deno.remove(path).catch(() => {});
  }
}
