/**
 * Keeps a build inside its extracted source. `kubectl kustomize`'s default load restrictor
 * (LoadRestrictionsRootOnly) refuses *files* outside a kustomization's directory, symlinks
 * resolved, but it still loads a *directory* named in `resources` (or `components`, …) wherever
 * it is: `../../../etc/app`, a symlink to `/`, or a remote URL. kustomize-controller closes that
 * with a filesystem rooted at the artifact (fluxcd/pkg kustomize/filesys); the stand-in, which
 * runs the real kubectl, checks the tree before the build instead:
 *  - every symlink resolves to an existing path inside the source;
 *  - every entry of the directory-loading fields of every kustomization file in the source is a
 *    path inside the source, and one that is not there must not read as a remote base.
 * Then every kustomization root kustomize can reach lies inside the source, and the restrictor
 * keeps every file it reads there.
 */

import YAML from "yaml";
import { isAbsolute, join, normalize, relative } from "node:path";
import { isObject } from "./json.ts";

export const KUSTOMIZATION_FILES = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/** Fields whose entries kustomize may load as a directory (a new kustomization root). */
const DIRECTORY_FIELDS = [
  "resources",
  "bases",
  "components",
  "generators",
  "transformers",
  "validators",
];

/** A source with more entries than this is refused (the walk stays bounded). */
export const MAX_SOURCE_ENTRIES = 20_000;

/** Kustomization files larger than this are left to kubectl (which will refuse them or not). */
const MAX_KUSTOMIZATION_BYTES = 1024 * 1024;

class Escape extends Error {}

/**
 * What kustomize (v5) may take for a repository when no such local path exists: a scheme or
 * scp-like `user@host:` prefix (https://, ssh://, git::, gh:, git@…) or a github.com path.
 */
const REMOTE = /^([A-Za-z][A-Za-z0-9+.-]*:|[^/]*@|github\.com\/)/;

function within(root: string, p: string): boolean {
  return p === root || p.startsWith(root + "/");
}

async function checkSymlink(root: string, path: string): Promise<void> {
  let target: string;
  try {
    target = await Deno.realPath(path);
  } catch {
    throw new Escape(`symlink '${relative(root, path)}' has no target in the source`);
  }
  if (!within(root, target)) {
    throw new Escape(`symlink '${relative(root, path)}' points outside the source`);
  }
}

function entriesOf(doc: unknown): string[] {
  if (!isObject(doc)) return [];
  const out: string[] = [];
  for (const field of DIRECTORY_FIELDS) {
    const list = doc[field];
    if (!Array.isArray(list)) continue;
    // Multi-line strings are inline generator/transformer configurations, not paths.
    for (const e of list) if (typeof e === "string" && !e.includes("\n")) out.push(e);
  }
  return out;
}

async function checkKustomizationFile(root: string, file: string): Promise<void> {
  if ((await Deno.stat(file)).size > MAX_KUSTOMIZATION_BYTES) return;
  let doc: unknown;
  try {
    doc = YAML.parse(await Deno.readTextFile(file));
  } catch {
    return; // kubectl reports the syntax error itself
  }
  const dir = file.slice(0, file.lastIndexOf("/"));
  const where = relative(root, file);
  for (const entry of entriesOf(doc)) {
    const resolved = normalize(isAbsolute(entry) ? entry : join(dir, entry));
    if (!within(root, resolved)) {
      throw new Escape(`'${entry}' in ${where} lies outside the source`);
    }
    let real: string;
    try {
      real = await Deno.realPath(resolved);
    } catch {
      // kustomize fetches what it does not find locally when it reads as a repository URL.
      if (REMOTE.test(entry)) {
        throw new Escape(`'${entry}' in ${where} is a remote base (the stand-in builds none)`);
      }
      continue; // kubectl reports the missing path itself
    }
    if (!within(root, real)) throw new Escape(`'${entry}' in ${where} lies outside the source`);
  }
}

/** Why building inside `source` could read outside it, or undefined when it cannot. */
export async function containmentProblem(source: string): Promise<string | undefined> {
  const root = await Deno.realPath(source);
  const symlinks: string[] = [];
  const kustomizations: string[] = [];
  let seen = 0;
  const walk = async (dir: string): Promise<void> => {
    for await (const e of Deno.readDir(dir)) {
      if (++seen > MAX_SOURCE_ENTRIES) {
        throw new Escape(`the source has more than ${MAX_SOURCE_ENTRIES} files`);
      }
      const path = join(dir, e.name);
      if (e.isSymlink) symlinks.push(path);
      if (e.isDirectory) await walk(path);
      // A symlinked kustomization file is read where it is named: its entries count from there.
      else if (KUSTOMIZATION_FILES.includes(e.name)) kustomizations.push(path);
    }
  };
  try {
    await walk(root);
    // Symlinks first (then kustomization files), each in path order: one stable answer.
    for (const link of symlinks.sort()) await checkSymlink(root, link);
    for (const file of kustomizations.sort()) {
      if ((await Deno.stat(file)).isFile) await checkKustomizationFile(root, file);
    }
    return undefined;
  } catch (err) {
    if (err instanceof Escape) return err.message;
    throw err;
  }
}
