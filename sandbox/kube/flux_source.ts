/**
 * The stand-in's source-controller for GitRepositories: the ref resolved with `git ls-remote`
 * and the source secret's credentials, Ready "stored artifact for revision '…'" or
 * GitOperationFailed as source-controller words it. In apply mode each new revision is also
 * fetched into an artifact (git_fetch.ts, artifacts.ts) whose digest and size the status shows.
 */

import type { ArtifactStore } from "./artifacts.ts";
import { type GitRef, type Resolution, resolveRef, resolveRefSsh } from "./git.ts";
import { fetchTree } from "./git_fetch.ts";
import { condition, type FluxMode, generationOf, obj } from "./flux_status.ts";
import { isObject } from "./json.ts";
import { nowTimestamp } from "./kinds.ts";
import type { Objects } from "./objects.ts";
import type { ResourceType } from "./registry.ts";
import { type SourceAccess, sourceAccess, withSourceGit } from "./source_access.ts";
import type { JsonObject } from "./status.ts";
import { meta } from "./store.ts";

export interface SourceDeps {
  objects: Objects;
  mode: FluxMode;
  artifacts: ArtifactStore;
  signal: AbortSignal;
  stopped(): boolean;
  /** Writes a status when it changed; true when written. */
  writeStatus(t: ResourceType, o: JsonObject, status: JsonObject): boolean;
}

function gitRefOf(spec: JsonObject): GitRef {
  const ref = obj(spec.ref);
  if (typeof ref.commit === "string" && ref.commit) return { kind: "commit", sha: ref.commit };
  if (typeof ref.tag === "string" && ref.tag) return { kind: "tag", name: ref.tag };
  // source-controller's default when no ref is given.
  return {
    kind: "branch",
    name: typeof ref.branch === "string" && ref.branch ? ref.branch : "master",
  };
}

async function sha256Hex(s: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(s));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

type Fetched = { ok: true; digest: string; size: number } | { ok: false; message: string };

export class SourceController {
  #deps: SourceDeps;

  constructor(deps: SourceDeps) {
    this.#deps = deps;
  }

  /** Returns true when the status changed. */
  async reconcile(t: ResourceType, repo: JsonObject): Promise<boolean> {
    const spec = obj(repo.spec);
    if (spec.suspend === true) return false;
    const access = sourceAccess(this.#deps.objects.store, repo);
    const result = await this.#resolve(access, spec);
    const fetched = result.ok && access.ok && this.#deps.mode === "apply"
      ? await this.#fetch(access, repo, result)
      : undefined;
    if (this.#deps.stopped()) return false;
    // Re-read: the object may have changed or vanished while git ran.
    const m = meta(repo);
    const current = this.#deps.objects.entry(t, m.namespace as string | undefined, String(m.name));
    if (!current) return false;
    const status = !result.ok
      ? this.#repoFailed(current.obj, result.message)
      : fetched && !fetched.ok
      ? this.#repoFailed(current.obj, fetched.message)
      : await this.#repoReady(current.obj, result.revision, result.sha, fetched);
    return this.#deps.writeStatus(t, current.obj, status);
  }

  async #resolve(access: SourceAccess, spec: JsonObject): Promise<Resolution> {
    if (!access.ok) return access;
    return access.transport === "ssh"
      ? await resolveRefSsh(access.url, gitRefOf(spec), access.auth, this.#deps.signal)
      : await resolveRef(access.url, gitRefOf(spec), access.auth, this.#deps.signal);
  }

  /** Apply mode: the artifact of `resolved` (fetched once per revision). */
  async #fetch(
    access: Extract<SourceAccess, { ok: true }>,
    repo: JsonObject,
    resolved: { revision: string; sha: string },
  ): Promise<Fetched> {
    const key = `${meta(repo).namespace}/${meta(repo).name}`;
    const have = this.#deps.artifacts.get(key);
    if (have?.revision === resolved.revision) {
      return { ok: true, digest: have.digest, size: have.size };
    }
    const ref = gitRefOf(obj(repo.spec));
    try {
      const stored = await this.#deps.artifacts.store(
        key,
        resolved.revision,
        resolved.sha,
        (workDir, tarPath) =>
          withSourceGit(
            access,
            (session) =>
              fetchTree(
                access.url,
                ref,
                resolved.sha,
                session,
                workDir,
                tarPath,
                this.#deps.signal,
              ),
          ),
      );
      return stored.ok
        ? { ok: true, digest: stored.artifact.digest, size: stored.artifact.size }
        : stored;
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      return { ok: false, message: `failed to checkout and determine revision: ${why}` };
    }
  }

  async #repoReady(
    repo: JsonObject,
    revision: string,
    sha: string,
    fetched: Fetched | undefined,
  ): Promise<JsonObject> {
    const m = meta(repo);
    const oldArtifact = obj(obj(repo.status).artifact);
    const path = `gitrepository/${m.namespace}/${m.name}/${sha}.tar.gz`;
    const artifact = oldArtifact.revision === revision ? oldArtifact : {
      path,
      url: `http://source-controller.flux-system.svc.cluster.local./${path}`,
      revision,
      // Apply mode: the real tarball's; otherwise a stable stand-in digest.
      digest: fetched?.ok ? fetched.digest : `sha256:${await sha256Hex(revision)}`,
      lastUpdateTime: nowTimestamp(),
      size: fetched?.ok ? fetched.size : 0,
    };
    const message = `stored artifact for revision '${revision}'`;
    return {
      observedGeneration: generationOf(repo),
      conditions: [
        condition(repo, "Ready", "True", "Succeeded", message),
        condition(repo, "ArtifactInStorage", "True", "Succeeded", message),
      ],
      artifact,
    };
  }

  #repoFailed(repo: JsonObject, message: string): JsonObject {
    const status: JsonObject = {
      observedGeneration: generationOf(repo),
      conditions: [
        condition(repo, "Ready", "False", "GitOperationFailed", message),
        condition(repo, "FetchFailed", "True", "GitOperationFailed", message),
      ],
    };
    // Like source-controller, a failed fetch keeps serving the last good artifact.
    const old = obj(repo.status).artifact;
    if (isObject(old)) status.artifact = old;
    return status;
  }
}
