/**
 * The stand-in's artifact storage, as source-controller keeps it: per GitRepository the tarball
 * of the newest fetched revision, with its sha256 digest and size. Everything lives in one temp
 * directory of the sandbox (created on first use, removed by close()), and builds extract an
 * artifact into a fresh directory under it, as kustomize-controller does for each reconcile.
 */

import type { FetchResult } from "./git_fetch.ts";

export interface Artifact {
  /** `<branch>@sha1:<sha>` (or `sha1:<sha>` for a commit ref), as in status.artifact. */
  revision: string;
  sha: string;
  tarPath: string;
  digest: string;
  size: number;
}

export type StoreResult = { ok: true; artifact: Artifact } | { ok: false; message: string };

/** Tarballs above this are refused: the digest is computed in memory. */
export const MAX_ARTIFACT_BYTES = 64 * 1024 * 1024;

async function sha256Hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

export class ArtifactStore {
  #parent: string | undefined;
  #root: Promise<string> | undefined;
  #bySource = new Map<string, Artifact>();

  /** `parent`: where the store's directory is made (default the system temp dir). */
  constructor(parent?: string) {
    this.#parent = parent;
  }

  /** The directory holding everything (made on first use). */
  root(): Promise<string> {
    this.#root ??= Deno.makeTempDir({ dir: this.#parent, prefix: "fluxfleet-artifacts-" });
    return this.#root;
  }

  /** The newest artifact of a source (`<namespace>/<name>`). */
  get(source: string): Artifact | undefined {
    return this.#bySource.get(source);
  }

  /**
   * Makes the artifact of `revision` with `produce(workDir, tarPath)` and keeps it as the
   * source's newest (the previous tarball is removed). `workDir` is removed afterwards.
   */
  async store(
    source: string,
    revision: string,
    sha: string,
    produce: (workDir: string, tarPath: string) => Promise<FetchResult>,
  ): Promise<StoreResult> {
    const root = await this.root();
    const workDir = await Deno.makeTempDir({ dir: root, prefix: "fetch-" });
    const tarPath = `${root}/artifact-${crypto.randomUUID()}.tar`;
    let result: FetchResult;
    try {
      result = await produce(workDir, tarPath);
    } finally {
      await Deno.remove(workDir, { recursive: true }).catch(() => {});
    }
    const drop = () => Deno.remove(tarPath).catch(() => {});
    if (!result.ok) {
      await drop();
      return result;
    }
    const size = (await Deno.stat(tarPath)).size;
    if (size > MAX_ARTIFACT_BYTES) {
      await drop();
      return {
        ok: false,
        message: `artifact of ${size} bytes exceeds the stand-in's limit of ${MAX_ARTIFACT_BYTES}`,
      };
    }
    const digest = `sha256:${await sha256Hex(await Deno.readFile(tarPath))}`;
    const artifact: Artifact = { revision, sha, tarPath, digest, size };
    const old = this.#bySource.get(source);
    this.#bySource.set(source, artifact);
    if (old) await Deno.remove(old.tarPath).catch(() => {});
    return { ok: true, artifact };
  }

  /** Extracts an artifact into a new directory (named like kustomize-controller's); the caller removes it. */
  async extract(artifact: Artifact, signal: AbortSignal): Promise<string> {
    const dir = await Deno.makeTempDir({ dir: await this.root(), prefix: "kustomization-" });
    const out = await new Deno.Command("tar", {
      args: ["-x", "-f", artifact.tarPath, "-C", dir, "--no-same-owner", "--no-same-permissions"],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
      signal,
    }).output();
    if (!out.success) {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      throw new Error(`failed to extract artifact: ${new TextDecoder().decode(out.stderr).trim()}`);
    }
    return dir;
  }

  /** Removes every artifact and build directory. */
  async close(): Promise<void> {
    const root = this.#root;
    this.#root = undefined;
    this.#bySource.clear();
    if (root) await Deno.remove(await root, { recursive: true }).catch(() => {});
  }
}
