/**
 * One build of a Kustomization's `spec.path` in an extracted artifact, as kustomize-controller
 * does it (internal/controller/kustomization_controller.go: securejoin of the path, "kustomization
 * path not found", generate, build): the real `kubectl kustomize` with its default load
 * restrictor, after kustomize_guard.ts checked that nothing outside the source can be reached.
 * Failures carry the controller's reason and wording.
 */

import YAML from "yaml";
import { join, normalize } from "node:path";
import { isObject } from "./json.ts";
import { containmentProblem } from "./kustomize_guard.ts";
import { prepareKustomization } from "./kustomize_generate.ts";
import type { JsonObject } from "./status.ts";

export type BuildResult =
  | { ok: true; objects: JsonObject[] }
  | { ok: false; reason: "ArtifactFailed" | "BuildFailed"; message: string };

/** kubectl's output above this is refused (it is held in memory). */
export const MAX_BUILD_OUTPUT_BYTES = 32 * 1024 * 1024;

const BUILD_TIMEOUT_MS = 60_000;

/** securejoin: `path` is taken as if the source were `/`, so `..` cannot leave it. */
export function secureJoin(root: string, path: string): string {
  return join(root, normalize(`/${path}`));
}

/** The `err="…"` (or multi-line `err=<…>`) of kubectl's klog line, else its stderr as is. */
function kubectlError(stderr: string): string {
  const m = stderr.match(/err="((?:[^"\\]|\\.)*)"/);
  if (m) return m[1].replace(/\\(.)/g, "$1");
  const block = stderr.match(/err=<\n([\s\S]*?)\n\s*>/);
  if (block) return block[1].split("\n").map((l) => l.replace(/^\t/, "")).join("\n");
  return stderr.trim().replace(/^error: /, "") || "kubectl kustomize failed";
}

/** Reads at most `limit` bytes of a stream; undefined when it is longer. */
async function readBounded(
  stream: ReadableStream<Uint8Array>,
  limit: number,
): Promise<Uint8Array | undefined> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of stream) {
    total += chunk.length;
    if (total > limit) return undefined; // leaving the loop cancels the stream
    chunks.push(chunk);
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

function spawnKustomize(dir: string, signal: AbortSignal): Deno.ChildProcess {
  return new Deno.Command("kubectl", {
    args: ["kustomize", dir, "--load-restrictor=LoadRestrictionsRootOnly"],
    cwd: dir,
    // kustomize needs no cluster: no kubeconfig of the user's takes part.
    env: { KUBECONFIG: "/dev/null" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal,
  }).spawn();
}

async function runKustomize(
  dir: string,
  signal: AbortSignal,
): Promise<{ ok: true; yaml: string } | { ok: false; message: string }> {
  const timeout = AbortSignal.timeout(BUILD_TIMEOUT_MS);
  let child: Deno.ChildProcess;
  try {
    child = spawnKustomize(dir, AbortSignal.any([signal, timeout]));
  } catch (err) {
    return { ok: false, message: err instanceof Error ? err.message : String(err) };
  }
  const kill = () => {
    try {
      child.kill();
    } catch {
      // Already gone.
    }
  };
  const [stdout, stderr] = await Promise.all([
    readBounded(child.stdout, MAX_BUILD_OUTPUT_BYTES).then((b) => {
      if (!b) kill();
      return b;
    }),
    readBounded(child.stderr, 64 * 1024),
  ]);
  const status = await child.status;
  if (timeout.aborted) return { ok: false, message: "timeout" };
  if (!stdout) return { ok: false, message: `output exceeds ${MAX_BUILD_OUTPUT_BYTES} bytes` };
  if (!status.success) {
    return {
      ok: false,
      message: kubectlError(new TextDecoder().decode(stderr ?? new Uint8Array())),
    };
  }
  return { ok: true, yaml: new TextDecoder().decode(stdout) };
}

function describe(o: unknown): string {
  return JSON.stringify(o).slice(0, 200);
}

/** Parses kubectl's output; every object needs apiVersion, kind and name, as the controller checks. */
function objectsOf(yaml: string): JsonObject[] | string {
  const out: JsonObject[] = [];
  for (const doc of YAML.parseAllDocuments(yaml) as YAML.Document[]) {
    if (doc.errors.length) return doc.errors[0].message;
    const o = doc.toJSON();
    if (o === null || o === undefined) continue;
    const m = isObject(o) && isObject(o.metadata) ? o.metadata : {};
    if (!isObject(o) || !o.apiVersion || !o.kind || !m.name) {
      return `failed to decode Kubernetes apiVersion, kind and name from: ${describe(o)}`;
    }
    out.push(o);
  }
  return out;
}

/** Builds `spec.path` of a Kustomization in the extracted source `root`. */
export async function buildKustomization(
  root: string,
  spec: JsonObject,
  signal: AbortSignal,
): Promise<BuildResult> {
  const dirPath = secureJoin(root, typeof spec.path === "string" ? spec.path : "");
  const escape = await containmentProblem(root);
  if (escape) {
    return { ok: false, reason: "BuildFailed", message: `kustomize build failed: ${escape}` };
  }
  try {
    await Deno.stat(dirPath);
  } catch {
    return {
      ok: false,
      reason: "ArtifactFailed",
      message: `kustomization path not found: stat ${dirPath}: no such file or directory`,
    };
  }
  try {
    await prepareKustomization(dirPath, spec);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    return { ok: false, reason: "BuildFailed", message: why };
  }
  const built = await runKustomize(dirPath, signal);
  if (!built.ok) {
    return {
      ok: false,
      reason: "BuildFailed",
      message: `kustomize build failed: ${built.message}`,
    };
  }
  const objects = objectsOf(built.yaml);
  if (typeof objects === "string") {
    return { ok: false, reason: "BuildFailed", message: objects };
  }
  return { ok: true, objects };
}
