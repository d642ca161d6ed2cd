/**
 * A file system in memory for isomorphic-git: where a run that only plans fetches its
 * repositories (RunOptions.planOnly). A plan reads three blobs per cluster from the commit and
 * never needs a work tree; on disk, the clone's ~20 small writes (config, HEAD, refs, shallow,
 * the pack and its index) and the object reads went through Deno's Node fs layer, each a native
 * call and every miss an ENOENT error object with a stack. In memory the same clone and reads
 * of 10 repositories of 10 clusters take ~105 ms of CPU instead of ~235 ms
 * (bench/git_read.ts, bench/README.md "session 4").
 *
 * What was checked before writing this: `memfs` 4.80.1 (maintained, the Node fs API in memory)
 * works under Deno with isomorphic-git 1.44.11 (clone, readTree, readBlob), but it brings 20
 * packages (+46–100 ms to import, paid by every plan) and the same clone and reads took ~180 ms
 * of CPU; `@isomorphic-git/lightning-fs` needs IndexedDB. This is the part of the fs contract
 * isomorphic-git uses (docs/fs.md: readFile, writeFile, mkdir, rmdir, unlink, stat, lstat,
 * readdir, readlink, symlink) over a Map, nothing more.
 *
 * Bounded: what is written is what isomorphic-git fetched (the pack, bounded by the git-pack
 * limit, lib/util/limits.ts) and what it derives from it (the pack's index, a few refs); it is
 * dropped with the checkout. No links: symlink() refuses and readlink() finds none, so nothing
 * here can point outside (the files a plan reads come from the commit's trees, checked by
 * ./checkout.ts, never from this file system's paths).
 */
import type { PromiseFsClient } from "isomorphic-git";

type Entry = { dir: Set<string> } | { file: Uint8Array };

interface FsError extends Error {
  code: string;
  syscall: string;
  path: string;
}

/**
 * An error as Node's fs gives it (isomorphic-git looks at `code`). Made without capturing a
 * stack: isomorphic-git probes for files that do not exist on every object read and ref lookup,
 * and catches the error each time.
 */
function fsError(code: string, syscall: string, path: string): FsError {
  const e = Object.create(Error.prototype) as FsError;
  e.message = `${code}: ${syscall} '${path}'`;
  e.code = code;
  e.syscall = syscall;
  e.path = path;
  return e;
}

/** A repeated slash, a `.` or `..` segment, or a slash at the end (but for "/" itself). */
const NOT_NORMAL = /\/\/|\/\.\.?(\/|$)|.\/$/;

/** An absolute path without `.`, `..` or repeated slashes (isomorphic-git joins its own paths). */
function normalize(path: string): string {
  // Most paths are already so: no split and join for them (a few per object read).
  if (path[0] === "/" && !NOT_NORMAL.test(path)) return path;
  const parts: string[] = [];
  for (const p of path.split("/")) {
    if (p === "" || p === ".") continue;
    if (p === "..") parts.pop();
    else parts.push(p);
  }
  return "/" + parts.join("/");
}

function split(path: string): [parent: string, name: string] {
  const i = path.lastIndexOf("/");
  return [i === 0 ? "/" : path.slice(0, i), path.slice(i + 1)];
}

function stats(e: Entry) {
  const isDir = "dir" in e;
  return {
    type: isDir ? "dir" : "file",
    mode: isDir ? 0o40755 : 0o100644,
    size: isDir ? 0 : e.file.length,
    ino: 0,
    mtimeMs: 0,
    ctimeMs: 0,
    uid: 0,
    gid: 0,
    dev: 0,
    isFile: () => !isDir,
    isDirectory: () => isDir,
    isSymbolicLink: () => false,
  };
}

/** A new, empty file system in memory (one per checkout). */
export function memoryFs(): PromiseFsClient {
  const entries = new Map<string, Entry>([["/", { dir: new Set() }]]);
  const find = (syscall: string, path: unknown): Entry => {
    // isomorphic-git calls readFile() without a path to see whether the fs returns promises.
    if (typeof path !== "string") throw fsError("EINVAL", syscall, String(path));
    const e = entries.get(normalize(path));
    if (!e) throw fsError("ENOENT", syscall, path);
    return e;
  };
  /** The folder a new entry goes into: it must exist. */
  const parentDir = (syscall: string, path: string): Set<string> => {
    const parent = entries.get(split(path)[0]);
    if (!parent) throw fsError("ENOENT", syscall, path);
    if (!("dir" in parent)) throw fsError("ENOTDIR", syscall, path);
    return parent.dir;
  };
  const remove = (path: string) => {
    entries.delete(path);
    const [parent, name] = split(path);
    const p = entries.get(parent);
    if (p && "dir" in p) p.dir.delete(name);
  };
  const promises = {
    readFile(path: string, options?: string | { encoding?: string }) {
      try {
        const e = find("open", path);
        if (!("file" in e)) throw fsError("EISDIR", "read", path);
        const encoding = typeof options === "string" ? options : options?.encoding;
        return Promise.resolve(encoding ? new TextDecoder().decode(e.file) : e.file);
      } catch (e) {
        return Promise.reject(e);
      }
    },
    // deno-lint-ignore require-await
    async writeFile(path: string, data: Uint8Array | string) {
      const p = normalize(path);
      const dir = parentDir("open", p);
      if (entries.get(p) && "dir" in entries.get(p)!) throw fsError("EISDIR", "open", path);
      // Kept as given, not copied: isomorphic-git does not change a buffer it has written.
      entries.set(p, { file: typeof data === "string" ? new TextEncoder().encode(data) : data });
      dir.add(split(p)[1]);
    },
    // deno-lint-ignore require-await
    async mkdir(path: string) {
      const p = normalize(path);
      if (entries.has(p)) throw fsError("EEXIST", "mkdir", path);
      const dir = parentDir("mkdir", p);
      entries.set(p, { dir: new Set() });
      dir.add(split(p)[1]);
    },
    // deno-lint-ignore require-await
    async rmdir(path: string) {
      const e = find("rmdir", path);
      if (!("dir" in e)) throw fsError("ENOTDIR", "rmdir", path);
      if (e.dir.size > 0) throw fsError("ENOTEMPTY", "rmdir", path);
      remove(normalize(path));
    },
    // deno-lint-ignore require-await
    async unlink(path: string) {
      if ("dir" in find("unlink", path)) throw fsError("EISDIR", "unlink", path);
      remove(normalize(path));
    },
    // deno-lint-ignore require-await
    async stat(path: string) {
      return stats(find("stat", path));
    },
    // deno-lint-ignore require-await
    async lstat(path: string) {
      return stats(find("lstat", path));
    },
    // deno-lint-ignore require-await
    async readdir(path: string) {
      const e = find("scandir", path);
      if (!("dir" in e)) throw fsError("ENOTDIR", "scandir", path);
      return [...e.dir];
    },
    // deno-lint-ignore require-await
    async readlink(path: string): Promise<string> {
      find("readlink", path);
      throw fsError("EINVAL", "readlink", path);
    },
    // deno-lint-ignore require-await
    async symlink(_target: string, path: string) {
      throw fsError("EPERM", "symlink", path);
    },
  };
  return { promises };
}
