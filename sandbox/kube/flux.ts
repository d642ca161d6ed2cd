/**
 * Stand-in for Flux's source-controller and kustomize-controller. GitRepositories really resolve
 * their ref with git; Kustomizations report what the test chose (flux_controls.ts). Two modes:
 *  - "status" (default, cheap): nothing is fetched or built; Kustomizations only report;
 *  - "apply": each new source revision is fetched (shallow, with the secret's credentials) into
 *    an artifact, and Kustomizations build `spec.path` with the real `kubectl kustomize` and
 *    server-side apply the result into the sandbox (flux_kustomization.ts), so a commit really
 *    changes the cluster.
 * Status writes are internal (not recorded as requests) and bump resourceVersion but never
 * generation. Deployments are rolled out here too (see workloads.ts), so waiting for Flux's
 * controllers succeeds.
 */

import { ArtifactStore } from "./artifacts.ts";
import { FluxControlState } from "./flux_controls.ts";
import { KustomizationController } from "./flux_kustomization.ts";
import { SourceController } from "./flux_source.ts";
import { type FluxMode, obj, observedCurrent } from "./flux_status.ts";
import { deepEqual } from "./json.ts";
import type { Objects } from "./objects.ts";
import type { ResourceType } from "./registry.ts";
import type { JsonObject } from "./status.ts";
import { type ChangeEvent, meta } from "./store.ts";
import { availableDeploymentStatus, unavailableDeploymentStatus } from "./workloads.ts";

export type { FluxMode } from "./flux_status.ts";

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
  /** "status" (default) or "apply"; see the module comment. */
  mode?: FluxMode;
  /** Where apply mode keeps artifacts and builds (default the system temp dir). */
  tempDir?: string;
}

export class FluxStandIn {
  #objects: Objects;
  #hang = false;
  #mode: FluxMode;
  #delay: number;
  #pollMs: number;
  #abort = new AbortController();
  #stopped = false;
  #delayTimer: ReturnType<typeof setTimeout> | undefined;
  #pollTimer: ReturnType<typeof setInterval> | undefined;
  #wakeTimer: ReturnType<typeof setTimeout> | undefined;
  /** When #wakeTimer fires (Date.now() based). */
  #wakeDue = Infinity;
  #running: Promise<void> | undefined;
  /** A pass requested while one runs: "full" wins over "poll". */
  #pending: "full" | "poll" | undefined;
  #unsubscribe: () => void = () => {};
  #artifacts: ArtifactStore;
  readonly controls: FluxControlState;
  #sources: SourceController;
  #kustomizations: KustomizationController;

  constructor(objects: Objects, opts: FluxOptions) {
    this.#objects = objects;
    this.#delay = opts.reconcileDelayMs;
    this.#pollMs = opts.pollMs ?? DEFAULT_POLL_MS;
    this.#mode = opts.mode ?? "status";
    this.#artifacts = new ArtifactStore(opts.tempDir);
    this.controls = new FluxControlState(objects, (what) => {
      // The newest instruction wins: an outcome ends a "hang".
      if (what === "outcome") this.#hang = false;
      this.#schedule();
    });
    this.#applyBehaviour(opts.behaviour, undefined);
    this.#sources = new SourceController({
      objects,
      mode: this.#mode,
      artifacts: this.#artifacts,
      signal: this.#abort.signal,
      stopped: () => this.#stopped,
      writeStatus: (t, o, status) => this.#writeStatus(t, o, status),
    });
    this.#kustomizations = new KustomizationController({
      objects,
      controls: this.controls,
      mode: this.#mode,
      artifacts: this.#artifacts,
      signal: this.#abort.signal,
      stopped: () => this.#stopped,
      writeStatus: (t, o, status) => this.#writeStatus(t, o, status),
      wakeIn: (ms) => this.#wakeIn(ms),
      applied: () => {
        this.#reconcileDeployments();
        this.#schedule();
      },
    });
  }

  start(): void {
    this.#unsubscribe = this.#objects.store.subscribe((ev) => this.#onChange(ev));
    if (this.#pollMs > 0) this.#pollTimer = setInterval(() => this.#run("poll"), this.#pollMs);
  }

  /** The historical switch: "fail" is Ready=False BuildFailed (nothing applied), "hang" silence. */
  setBehaviour(b: FluxBehaviour, message?: string): void {
    this.#applyBehaviour(b, message);
    this.#schedule();
  }

  #applyBehaviour(b: FluxBehaviour, message: string | undefined): void {
    this.#hang = b === "hang";
    if (b === "hang") return;
    this.controls.useOutcome(
      b === "fail"
        ? { kind: "fail", reason: "BuildFailed", message: message ?? DEFAULT_FAIL_MESSAGE }
        : { kind: "ready" },
    );
  }

  /** Stops timers, kills a running git or kubectl, waits for the current pass, removes temp files. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#unsubscribe();
    this.controls.close();
    clearTimeout(this.#delayTimer);
    clearInterval(this.#pollTimer);
    clearTimeout(this.#wakeTimer);
    this.#abort.abort();
    await this.#running;
    await this.#artifacts.close();
  }

  #onChange(ev: ChangeEvent): void {
    // Our own status writes must not retrigger us; client writes to relevant kinds do.
    if (ev.internal) return;
    const relevant = (ev.group === SOURCE_GROUP && ev.kind === "GitRepository") ||
      (ev.group === "apps" && ev.kind === "Deployment") ||
      (ev.group === KUSTOMIZE_GROUP && ev.kind === "Kustomization") ||
      (ev.group === "" && ev.kind === "Secret") ||
      // A storage migration lets a refused CRD update through on the next attempt.
      (ev.group === "apiextensions.k8s.io" && ev.kind === "CustomResourceDefinition");
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

  /**
   * A full pass in `ms` (a Kustomization whose Ready is due then). One timer, for the earliest
   * due time: the pass it starts asks again for anything due later.
   */
  #wakeIn(ms: number): void {
    const due = Date.now() + Math.ceil(ms);
    if (this.#stopped || due >= this.#wakeDue) return;
    clearTimeout(this.#wakeTimer);
    this.#wakeDue = due;
    this.#wakeTimer = setTimeout(() => {
      this.#wakeDue = Infinity;
      this.#run("full");
    }, Math.ceil(ms));
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
        if (await this.#sources.reconcile(repoType, e.obj)) {
          changedSources.add(`${meta(e.obj).namespace}/${meta(e.obj).name}`);
        }
      }
    }
    const ksType = this.#type(KUSTOMIZE_GROUP, "Kustomization");
    if (!ksType || this.#hang) return;
    for (const e of this.#objects.store.list(KUSTOMIZE_GROUP, "Kustomization", undefined)) {
      if (this.#stopped) return;
      const source = this.#sourceKey(e.obj);
      if (onlyObserved && !observedCurrent(e.obj) && !changedSources.has(source)) continue;
      await this.#kustomizations.reconcile(ksType, e.obj, !onlyObserved);
    }
  }

  /** Deployments roll out instantly whatever the Flux behaviour (they are not Flux's), unless kept unavailable. */
  #reconcileDeployments(): void {
    const t = this.#type("apps", "Deployment");
    if (!t) return;
    for (const e of this.#objects.store.list("apps", "Deployment", undefined)) {
      const m = meta(e.obj);
      const ns = m.namespace as string | undefined;
      const status = this.controls.isUnavailable(ns, String(m.name))
        ? unavailableDeploymentStatus(e.obj)
        : availableDeploymentStatus(e.obj);
      if (deepEqual(e.obj.status, status)) continue;
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
}
