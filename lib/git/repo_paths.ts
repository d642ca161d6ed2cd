/**
 * A repository's content is not trusted: a commit may hold symbolic links (tree mode 120000) or
 * submodules (gitlinks, mode 160000) where fluxfleet reads and writes `<path>/flux-system/`. A link
 * checked out into the clone would be followed by every read, write and delete that goes through
 * the file system — onto files outside the clone. So paths are checked on both sides: in the
 * commit's tree before anything is read (checkout.ts), and with `lstat` on every component inside the
 * clone right before each write or delete (both transports). A link, a submodule, a file where a
 * folder belongs or a folder where a file belongs is an error naming the repository path.
 */
import { isAbsolute, join, normalize } from "node:path";

/** What a repository path was found to be, where fluxfleet wanted a plain file or folder. */
export type PathProblem = "link" | "submodule" | "file" | "folder";

/** The error for `path` (relative to the repository root), in words. */
export function repoPathError(path: string, problem: PathProblem): Error {
  const text: Record<PathProblem, string> = {
    link: "is a symbolic link in the repository; fluxfleet does not follow links",
    submodule: "is a git submodule in the repository; fluxfleet does not read or write submodules",
    file: "is a file in the repository, where fluxfleet expects a folder",
    folder: "is a folder in the repository, where fluxfleet expects a file",
  };
  return new Error(`${path} ${text[problem]}`);
}

/**
 * A path fluxfleet writes must stay inside the work tree and out of `.git` (the configured cluster
 * path is validated, but this is the last line before the file system).
 */
export function checkedRepoPath(p: string): string {
  const n = normalize(p);
  if (
    p === "" || isAbsolute(p) || n === ".." || n.startsWith("../") ||
    n.split("/").some((s) => s.toLowerCase() === ".git")
  ) {
    throw new Error(`refusing "${p}": not a path inside the repository`);
  }
  return n;
}

/**
 * Checks with `lstat`, component by component from the clone's root, that `path` can be read,
 * written or deleted without following a link: every existing component before the last is a real
 * folder, the last is absent or a regular file (`want: "file"`) / real folder (`want: "folder"`)
 * / either (`want: "any"`). A missing component ends the walk (what comes after it does not
 * exist, and mkdir makes real folders).
 */
export async function assertPlainPath(
  root: string,
  path: string,
  want: "file" | "folder" | "any",
): Promise<void> {
  const parts = checkedRepoPath(path).split("/");
  for (let i = 0; i < parts.length; i++) {
    const sub = parts.slice(0, i + 1).join("/");
    let info: Deno.FileInfo;
    try {
      info = await Deno.lstat(join(root, sub));
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return;
      throw e;
    }
    if (info.isSymlink) throw repoPathError(sub, "link");
    const last = i === parts.length - 1;
    if (!last || want === "folder") {
      if (!info.isDirectory) throw repoPathError(sub, "file");
    } else if (want === "file" && !info.isFile) {
      throw repoPathError(sub, "folder");
    }
  }
}

/** A tree entry's mode as isomorphic-git and `git ls-tree` print it. */
export function treeEntryProblem(
  mode: string,
  want: "file" | "folder",
): PathProblem | undefined {
  if (mode === "120000") return "link";
  if (mode === "160000") return "submodule";
  const folder = mode === "040000" || mode === "40000";
  if (want === "folder") return folder ? undefined : "file";
  return folder ? "folder" : undefined;
}
