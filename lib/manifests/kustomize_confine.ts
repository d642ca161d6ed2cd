/**
 * Keeps the build of a user's kustomization.yaml inside the clone. `kubectl kustomize` with its
 * default load restrictor (LoadRestrictionsRootOnly) refuses *files* outside a kustomization's
 * folder, links resolved (checked with kubectl v1.32 / kustomize v5.5) — but not *folders*: a
 * resource, component or base may be any relative folder (`../../../../elsewhere`) or a link to
 * one, whose kustomization is then built, and a URL is fetched or cloned. flux bootstrap builds
 * with a file system confined to its clone (fluxcd/pkg/kustomize/filesys, MakeFsOnDiskSecureBuild).
 *
 * So before kubectl runs, every folder the build would load is walked from the cluster's folder:
 * each is inside the repository and reached without a symbolic link (lstat on every component),
 * and every entry of `resources`, `components`, `bases`, `generators`, `transformers` and
 * `validators` names a file or folder of the repository — nothing remote, absolute or outside.
 * Files named elsewhere (patches, generators' files, crds…) stay within their kustomization's
 * folder by kubectl's own restriction.
 */
import { isAbsolute, join, posix } from "node:path";
import { parse } from "yaml";
import { assertPlainPath } from "../git/repo_paths.ts";

/** kustomize's recognised file names, in its order. */
const KUSTOMIZATION_FILES = ["kustomization.yaml", "kustomization.yml", "Kustomization"];
/** Entries that may name a folder, whose kustomization is built too. */
const FOLDER_FIELDS = ["resources", "components", "bases"];
/** Entries that name a file or folder, or hold a plugin's configuration inline. */
const PLUGIN_FIELDS = ["generators", "transformers", "validators"];

const OWN_FILES_ONLY =
  "fluxfleet builds kustomization.yaml from the repository's own files only, as flux bootstrap does";

async function readKustomization(
  root: string,
  folder: string,
): Promise<{ file: string; text: string } | null> {
  for (const name of KUSTOMIZATION_FILES) {
    const file = `${folder}/${name}`;
    await assertPlainPath(root, file, "file");
    try {
      return { file, text: await Deno.readTextFile(join(root, file)) };
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  return null;
}

/** The repository path an entry of `file` (in `folder`) names; refuses what leaves the clone. */
function entryPath(file: string, folder: string, entry: string): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(entry) || /^[^/]+@[^/]+:/.test(entry)) {
    throw new Error(
      `${file}: "${entry}" is remote; ${OWN_FILES_ONLY}: copy it into the repository`,
    );
  }
  const path = posix.normalize(posix.join(folder, entry));
  if (isAbsolute(entry) || path === ".." || path.startsWith("../")) {
    throw new Error(`${file}: "${entry}" is outside the repository; ${OWN_FILES_ONLY}`);
  }
  return path;
}

async function entryKind(
  root: string,
  file: string,
  entry: string,
  path: string,
): Promise<"file" | "folder"> {
  try {
    await assertPlainPath(root, path, "any");
  } catch (e) {
    throw new Error(`${file} refers to "${entry}": ${(e as Error).message}`);
  }
  try {
    return (await Deno.lstat(join(root, path))).isDirectory ? "folder" : "file";
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    // kustomize would try it as a remote repository.
    throw new Error(
      `${file}: "${entry}" is neither a file nor a folder of the repository; ${OWN_FILES_ONLY}`,
    );
  }
}

/**
 * Throws, naming the kustomization file and entry, when building `folder` (relative to the clone
 * `root`) would read anything outside the clone.
 */
export async function assertKustomizationConfined(root: string, folder: string): Promise<void> {
  const seen = new Set<string>();
  const visit = async (dir: string): Promise<void> => {
    if (seen.has(dir)) return;
    seen.add(dir);
    await assertPlainPath(root, dir, "folder");
    const found = await readKustomization(root, dir);
    // A folder without a kustomization, or one kubectl cannot parse: kubectl says what is wrong.
    if (!found) return;
    let doc: unknown;
    try {
      doc = parse(found.text);
    } catch {
      return;
    }
    if (typeof doc !== "object" || doc === null) return;
    for (const field of [...FOLDER_FIELDS, ...PLUGIN_FIELDS]) {
      const entries = (doc as Record<string, unknown>)[field];
      if (!Array.isArray(entries)) continue;
      for (const entry of entries) {
        if (typeof entry !== "string") continue;
        // A plugin's configuration written inline, not a path.
        if (PLUGIN_FIELDS.includes(field) && entry.includes("\n")) continue;
        const path = entryPath(found.file, dir, entry);
        if (await entryKind(root, found.file, entry, path) === "folder") await visit(path);
      }
    }
  };
  await visit(posix.normalize(folder));
}
