/**
 * kustomize-controller's preparation of a build directory (fluxcd/pkg kustomize
 * kustomize_generator.go, Generator.WriteFile): when `spec.path` has no kustomization file, one
 * is generated over the directory tree — every `.yaml`/`.yml` file (each must decode as
 * Kubernetes YAML), and every sub-directory that has its own kustomization file as one entry,
 * not descended into — in lexical walk order with `./`-relative paths. Then the Kustomization's
 * `spec.targetNamespace`, `spec.patches` and `spec.images` are written into the file.
 * (Not done here: `patchesStrategicMerge`/`patchesJson6902`, components, post-build
 * substitution, SOPS decryption.)
 */

import YAML from "yaml";
import { join } from "node:path";
import { isObject } from "./json.ts";
import { KUSTOMIZATION_FILES } from "./kustomize_guard.ts";
import type { JsonObject } from "./status.ts";

async function kustomizationFileIn(dir: string): Promise<string | undefined> {
  for (const name of KUSTOMIZATION_FILES) {
    try {
      if (!(await Deno.stat(join(dir, name))).isDirectory) return name;
    } catch {
      // Absent.
    }
  }
  return undefined;
}

function isYaml(name: string): boolean {
  return name.endsWith(".yaml") || name.endsWith(".yml");
}

/** Checks a manifest file as kustomize's resource factory would before listing it. */
async function checkManifest(path: string): Promise<void> {
  const docs = YAML.parseAllDocuments(await Deno.readTextFile(path));
  const list = Array.isArray(docs) ? docs : [docs];
  for (const doc of list) {
    const error = doc.errors[0];
    if (error) throw new Error(`failed to decode Kubernetes YAML from ${path}: ${error.message}`);
    const value = doc.toJSON();
    if (value !== null && value !== undefined && !isObject(value)) {
      throw new Error(`failed to decode Kubernetes YAML from ${path}: not an object`);
    }
  }
}

/** The entries of a generated kustomization.yaml for `base`, as flux's generator lists them. */
async function scan(base: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string, rel: string): Promise<void> => {
    const entries: Deno.DirEntry[] = [];
    for await (const e of Deno.readDir(dir)) entries.push(e);
    // filepath.Walk visits names in lexical (byte) order.
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const path = join(dir, e.name);
      const relPath = `${rel}/${e.name}`;
      if (e.isDirectory) {
        if (await kustomizationFileIn(path)) out.push(relPath);
        else await walk(path, relPath);
      } else if (isYaml(e.name)) {
        // Like filepath.Walk (Lstat), a symlink is listed as a file, never descended into.
        await checkManifest(path);
        out.push(relPath);
      }
    }
  };
  await walk(base, ".");
  return out;
}

function specList(spec: JsonObject, field: string): JsonObject[] {
  const v = spec[field];
  return Array.isArray(v) ? v.filter(isObject) : [];
}

/**
 * Prepares `dir` for `kubectl kustomize` as kustomize-controller does for a Kustomization with
 * this `spec`. Throws with the controller's wording on a manifest that does not decode.
 */
export async function prepareKustomization(dir: string, spec: JsonObject): Promise<void> {
  let file = await kustomizationFileIn(dir);
  if (!file) {
    file = "kustomization.yaml";
    const generated = {
      apiVersion: "kustomize.config.k8s.io/v1beta1",
      kind: "Kustomization",
      resources: await scan(dir),
    };
    // createNew: never writes through a (dangling) symlink of that name.
    await Deno.writeTextFile(join(dir, file), YAML.stringify(generated), { createNew: true });
  }
  const targetNamespace = typeof spec.targetNamespace === "string" ? spec.targetNamespace : "";
  const patches = specList(spec, "patches");
  const images = specList(spec, "images");
  if (!targetNamespace && !patches.length && !images.length) return;
  const path = join(dir, file);
  const parsed = YAML.parse(await Deno.readTextFile(path));
  const kus: JsonObject = isObject(parsed) ? parsed : {};
  if (targetNamespace) kus.namespace = targetNamespace;
  if (patches.length) {
    const old = Array.isArray(kus.patches) ? kus.patches : [];
    kus.patches = [...old, ...patches];
  }
  if (images.length) {
    const list = (Array.isArray(kus.images) ? kus.images : []).filter(isObject);
    for (const image of images) {
      // As flux: an entry for the same image name is replaced, others are appended.
      const at = list.findIndex((i) => i.name === image.name);
      if (at >= 0) list[at] = image;
      else list.push(image);
    }
    kus.images = list;
  }
  await Deno.writeTextFile(path, YAML.stringify(kus));
}
