/**
 * Stand-in for Flux's source-controller and kustomize-controller, just enough for bootstrap
 * flows: GitRepositories really resolve their ref with git; Kustomizations report success,
 * failure or nothing at all, as chosen by the test. Status writes are internal (not recorded
 * as requests) and bump resourceVersion but never generation. Deployments are rolled out
 * here too (see workloads.ts), so waiting for Flux's controllers succeeds.
 */

import { type GitAuth, type GitRef, type Resolution, resolveRef, resolveRefSsh } from "./git.ts";
import { deepEqual, isObject } from "./json.ts";
import { nowTimestamp } from "./kinds.ts";
import type { Objects } from "./objects.ts";
import type { ResourceType } from "./registry.ts";
import type { JsonObject } from "./status.ts";
import { type ChangeEvent, meta } from "./store.ts";
import { availableDeploymentStatus } from "./workloads.ts";

export type FluxBehaviour = "ready" | "fail" | "hang";

export const DEFAULT_FAIL_MESSAGE = "kustomize build failed: accumulating resources";

const SOURCE_GROUP = "source.toolkit.fluxcd.io";
const KUSTOMIZE_GROUP = "kustomize.toolkit.fluxcd.io";

/** source-controller polls at spec.interval; the sandbox polls fast so pushes show quickly. */
export const DEFAULT_POLL_MS = 500;

export interface FluxOptions {
  behaviour: FluxBehaviour;
  reconcileDelayMs: number;
  /**
   * Period of the source poll (`git ls-remote` per GitRepository); default DEFAULT_POLL_MS.
   * 0 disables it: only client writes trigger reconciliation. Benchmarks with hundreds of
   * sandboxes use a slow poll or none, or the forks would distort every figure.
   */
  pollMs?: number;
}

function obj(v: unknown): JsonObject {
  return isObject(v) ? v : {};
}

function decodeBase64(v: unknown): string | undefined {
  if (typeof v !== "string") return undefined;
  try {
    const bin = atob(v);
    return new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0)));
  } catch {
    return undefined;
  }
}

function generationOf(o: JsonObject): number {
  const g = meta(o).generation;
  return typeof g === "number" ? g : 0;
}

/** Has the controller already reported on the current spec? Only those are polled. */
function observedCurrent(o: JsonObject): boolean {
  const s = obj(o.status);
  return typeof s.observedGeneration === "number" && s.observedGeneration === generationOf(o);
}

function readyCondition(o: JsonObject): JsonObject | undefined {
  const conds = obj(o.status).conditions;
  return Array.isArray(conds) ? conds.filter(isObject).find((c) => c.type === "Ready") : undefined;
}

/** A condition that keeps lastTransitionTime unless its status flips (Flux semantics). */
function condition(
  prev: JsonObject,
  type: string,
  status: "True" | "False",
  reason: string,
  message: string,
): JsonObject {
  const conds = obj(prev.status).conditions;
  const old = Array.isArray(conds)
    ? conds.filter(isObject).find((c) => c.type === type)
    : undefined;
  const since = old && old.status === status ? old.lastTransitionTime : nowTimestamp();
  return {
    type,
    status,
    observedGeneration: generationOf(prev),
    lastTransitionTime: since,
    reason,
    message,
  };
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

export class FluxStandIn {
  #objects: Objects;
  #behaviour: FluxBehaviour;
  #failMessage = DEFAULT_FAIL_MESSAGE;
  #delay: number;
  #pollMs: number;
  #abort = new AbortController();
  #stopped = false;
  #delayTimer: ReturnType<typeof setTimeout> | undefined;
  #pollTimer: ReturnType<typeof setInterval> | undefined;
  #running: Promise<void> | undefined;
  /** A pass requested while one runs: "full" wins over "poll". */
  #pending: "full" | "poll" | undefined;
  #unsubscribe: () => void = () => {};

  constructor(objects: Objects, opts: FluxOptions) {
    this.#objects = objects;
    this.#behaviour = opts.behaviour;
    this.#delay = opts.reconcileDelayMs;
    this.#pollMs = opts.pollMs ?? DEFAULT_POLL_MS;
  }

  start(): void {
    this.#unsubscribe = this.#objects.store.subscribe((ev) => this.#onChange(ev));
    if (this.#pollMs > 0) this.#pollTimer = setInterval(() => this.#run("poll"), this.#pollMs);
  }

  setBehaviour(b: FluxBehaviour, message?: string): void {
    this.#behaviour = b;
    this.#failMessage = message ?? DEFAULT_FAIL_MESSAGE;
    this.#schedule();
  }

  /** Stops timers, kills a running git, and waits for the current pass to finish. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#unsubscribe();
    clearTimeout(this.#delayTimer);
    clearInterval(this.#pollTimer);
    this.#abort.abort();
    await this.#running;
  }

  #onChange(ev: ChangeEvent): void {
    // Our own status writes must not retrigger us; client writes to relevant kinds do.
    if (ev.internal) return;
    const relevant = (ev.group === SOURCE_GROUP && ev.kind === "GitRepository") ||
      (ev.group === "apps" && ev.kind === "Deployment") ||
      (ev.group === KUSTOMIZE_GROUP && ev.kind === "Kustomization") ||
      (ev.group === "" && ev.kind === "Secret");
    if (relevant) this.#schedule();
  }

  /**
   * One pending full pass at a time, not a debounce: a steady stream of writes (a benchmark)
   * must not postpone reconciliation forever. The pass reads current state, so changes made
   * while it is pending are covered too.
   */
  #schedule(): void {
    if (this.#stopped || this.#delayTimer !== undefined) return;
    this.#delayTimer = setTimeout(() => {
      this.#delayTimer = undefined;
      this.#run("full");
    }, this.#delay);
  }

  #run(mode: "full" | "poll"): void {
    if (this.#stopped) return;
    if (this.#running) {
      if (this.#pending !== "full") this.#pending = mode;
      return;
    }
    this.#running = this.#pass(mode === "poll").catch((err) => {
      if (!this.#stopped) console.error("flux stand-in:", err);
    }).finally(() => {
      this.#running = undefined;
      const next = this.#pending;
      this.#pending = undefined;
      if (next) this.#run(next);
    });
  }

  #type(group: string, kind: string): ResourceType | undefined {
    return this.#objects.registry.all().find((t) => t.group === group && t.kind === kind);
  }

  /**
   * One reconcile round: sources first so Kustomizations see fresh artifacts. A poll round
   * only revisits objects already reconciled at their generation; new specs wait for the
   * reconcileDelayMs-delayed full round, so tests can observe the "not yet" state.
   */
  async #pass(onlyObserved: boolean): Promise<void> {
    if (!onlyObserved) this.#reconcileDeployments();
    const repoType = this.#type(SOURCE_GROUP, "GitRepository");
    const changedSources = new Set<string>();
    if (repoType) {
      for (const e of this.#objects.store.list(SOURCE_GROUP, "GitRepository", undefined)) {
        if (this.#stopped) return;
        if (onlyObserved && !observedCurrent(e.obj)) continue;
        if (await this.#reconcileRepo(repoType, e.obj)) {
          changedSources.add(`${meta(e.obj).namespace}/${meta(e.obj).name}`);
        }
      }
    }
    const ksType = this.#type(KUSTOMIZE_GROUP, "Kustomization");
    if (!ksType || this.#behaviour === "hang") return;
    for (const e of this.#objects.store.list(KUSTOMIZE_GROUP, "Kustomization", undefined)) {
      if (this.#stopped) return;
      const source = this.#sourceKey(e.obj);
      if (onlyObserved && !observedCurrent(e.obj) && !changedSources.has(source)) continue;
      this.#reconcileKustomization(ksType, e.obj);
    }
  }

  /** Deployments roll out instantly whatever the Flux behaviour: they are not Flux's. */
  #reconcileDeployments(): void {
    const t = this.#type("apps", "Deployment");
    if (!t) return;
    for (const e of this.#objects.store.list("apps", "Deployment", undefined)) {
      const m = meta(e.obj);
      const status = availableDeploymentStatus(e.obj);
      if (deepEqual(e.obj.status, status)) continue;
      const ns = m.namespace as string | undefined;
      this.#objects.setStatus(t, ns, String(m.name), status, "kube-controller-manager");
    }
  }

  #sourceKey(ks: JsonObject): string {
    const ref = obj(obj(ks.spec).sourceRef);
    return `${ref.namespace ?? meta(ks).namespace}/${ref.name}`;
  }

  #writeStatus(t: ResourceType, o: JsonObject, status: JsonObject): boolean {
    if (deepEqual(o.status, status)) return false;
    const m = meta(o);
    // managedFields then name the controller, as on a real cluster.
    const manager = t.group === SOURCE_GROUP ? "source-controller" : "kustomize-controller";
    this.#objects.setStatus(t, m.namespace as string | undefined, String(m.name), status, manager);
    return true;
  }

  /** Returns true when the status changed. */
  async #reconcileRepo(t: ResourceType, repo: JsonObject): Promise<boolean> {
    const spec = obj(repo.spec);
    if (spec.suspend === true) return false;
    const result = await this.#resolve(repo);
    if (this.#stopped) return false;
    // Re-read: the object may have changed or vanished while git ran.
    const m = meta(repo);
    const current = this.#objects.entry(t, m.namespace as string | undefined, String(m.name));
    if (!current) return false;
    const status = result.ok
      ? await this.#repoReady(current.obj, result.revision, result.sha)
      : this.#repoFailed(current.obj, result.message);
    return this.#writeStatus(t, current.obj, status);
  }

  async #resolve(repo: JsonObject): Promise<Resolution> {
    const spec = obj(repo.spec);
    const url = String(spec.url ?? "");
    const ssh = /^ssh:\/\//.test(url) || /^[^/:]+@[^:]+:/.test(url);
    if (!ssh && !/^(https?|file):\/\//.test(url)) {
      return { ok: false, message: `unsupported URL scheme in '${url}'` };
    }
    let auth: GitAuth | undefined;
    const secretName = obj(spec.secretRef).name;
    if (typeof secretName === "string" && secretName) {
      const ns = meta(repo).namespace as string | undefined;
      const secret = this.#objects.store.get("", "Secret", ns, secretName);
      if (!secret) {
        return {
          ok: false,
          message: `failed to get secret '${ns}/${secretName}': secrets "${secretName}" not found`,
        };
      }
      const data = obj(secret.obj.data);
      if (ssh) {
        const identity = decodeBase64(data.identity);
        const knownHosts = decodeBase64(data.known_hosts);
        if (!identity || !knownHosts) {
          return {
            ok: false,
            message: `secret '${ns}/${secretName}' has no 'identity' or 'known_hosts'`,
          };
        }
        const password = decodeBase64(data.password);
        return await resolveRefSsh(
          url,
          gitRefOf(spec),
          { identity, knownHosts, ...(password ? { password } : {}) },
          this.#abort.signal,
        );
      }
      auth = {
        username: decodeBase64(data.username),
        password: decodeBase64(data.password),
        bearerToken: decodeBase64(data.bearerToken),
        caPem: decodeBase64(data["ca.crt"]) ?? decodeBase64(data.caFile),
      };
    }
    return await resolveRef(url, gitRefOf(spec), auth, this.#abort.signal);
  }

  async #repoReady(repo: JsonObject, revision: string, sha: string): Promise<JsonObject> {
    const m = meta(repo);
    const oldArtifact = obj(obj(repo.status).artifact);
    const path = `gitrepository/${m.namespace}/${m.name}/${sha}.tar.gz`;
    const artifact = oldArtifact.revision === revision ? oldArtifact : {
      path,
      url: `http://source-controller.flux-system.svc.cluster.local./${path}`,
      revision,
      digest: `sha256:${await sha256Hex(revision)}`,
      lastUpdateTime: nowTimestamp(),
      size: 0,
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

  #readySource(ks: JsonObject): { revision: string } | { message: string } {
    const ref = obj(obj(ks.spec).sourceRef);
    const ns = String(ref.namespace ?? meta(ks).namespace);
    const kind = String(ref.kind ?? "GitRepository");
    const source = kind === "GitRepository"
      ? this.#objects.store.get(SOURCE_GROUP, "GitRepository", ns, String(ref.name))
      : undefined;
    if (!source) return { message: `Source '${kind}/${ns}/${ref.name}' not found` };
    const ready = readyCondition(source.obj);
    const revision = obj(obj(source.obj.status).artifact).revision;
    if (ready?.status !== "True" || typeof revision !== "string") {
      return { message: "Source artifact not found, retrying in 30s" };
    }
    return { revision };
  }

  #reconcileKustomization(t: ResourceType, ks: JsonObject): void {
    if (obj(ks.spec).suspend === true) return;
    const prev = obj(ks.status);
    const source = this.#readySource(ks);
    const status: JsonObject = { observedGeneration: generationOf(ks) };
    if (typeof prev.lastAppliedRevision === "string") {
      status.lastAppliedRevision = prev.lastAppliedRevision;
    }
    if (typeof prev.lastAttemptedRevision === "string") {
      status.lastAttemptedRevision = prev.lastAttemptedRevision;
    }
    if ("message" in source) {
      status.conditions = [condition(ks, "Ready", "False", "ArtifactFailed", source.message)];
    } else if (this.#behaviour === "fail") {
      status.lastAttemptedRevision = source.revision;
      status.conditions = [condition(ks, "Ready", "False", "BuildFailed", this.#failMessage)];
    } else {
      status.lastAppliedRevision = source.revision;
      status.lastAttemptedRevision = source.revision;
      const message = `Applied revision: ${source.revision}`;
      status.conditions = [condition(ks, "Ready", "True", "ReconciliationSucceeded", message)];
    }
    this.#writeStatus(t, ks, status);
  }
}
