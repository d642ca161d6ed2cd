/**
 * The stand-in's kustomize-controller: a Kustomization's status at its source's revision, as
 * the test's outcome (flux_controls.ts) says, and in apply mode the revision's objects really
 * built (kustomize_build.ts) and server-side applied into the sandbox (kustomize_apply.ts), with
 * `status.inventory` and garbage collection when `spec.prune` is true
 * (internal/controller/kustomization_controller.go reconcile: lastAttemptedRevision once the
 * path exists, inventory after the apply, lastAppliedRevision and Ready=True last).
 */

import type { Artifact, ArtifactStore } from "./artifacts.ts";
import type { FluxControlState, KustomizationOutcome } from "./flux_controls.ts";
import { condition, type FluxMode, generationOf, obj, readyCondition } from "./flux_status.ts";
import { type InventoryEntry, staleEntries } from "./inventory.ts";
import { isObject } from "./json.ts";
import { KustomizeApplier } from "./kustomize_apply.ts";
import { buildKustomization } from "./kustomize_build.ts";
import type { Objects } from "./objects.ts";
import type { ResourceType } from "./registry.ts";
import type { JsonObject } from "./status.ts";
import { meta } from "./store.ts";

const SOURCE_GROUP = "source.toolkit.fluxcd.io";

export interface KustomizationDeps {
  objects: Objects;
  controls: FluxControlState;
  mode: FluxMode;
  artifacts: ArtifactStore;
  signal: AbortSignal;
  stopped(): boolean;
  /** Writes a status when it changed (as kustomize-controller); true when written. */
  writeStatus(t: ResourceType, o: JsonObject, status: JsonObject): boolean;
  /** Asks for a full reconcile pass in `ms`. */
  wakeIn(ms: number): void;
  /** Objects were applied or pruned: other controllers (Deployments, sources) catch up. */
  applied(): void;
}

/** One reconcile of one target (generation, revision, outcome) of a Kustomization. */
interface Attempt {
  target: string;
  startedAt: number;
  inventory?: InventoryEntry[];
  error?: { reason: string; message: string };
}

type Step = { inventory?: InventoryEntry[]; error?: { reason: string; message: string } };

function inventoryOf(status: JsonObject): InventoryEntry[] {
  const entries = obj(status.inventory).entries;
  return Array.isArray(entries)
    ? entries.filter(isObject).map((e) => ({ id: String(e.id), v: String(e.v) }))
    : [];
}

/** Does the outcome let the revision be applied before it reports? */
function applies(outcome: KustomizationOutcome): boolean {
  return outcome.kind !== "fail" || (outcome.reason ?? "HealthCheckFailed") === "HealthCheckFailed";
}

export class KustomizationController {
  #deps: KustomizationDeps;
  #applier: KustomizeApplier;
  #attempts = new Map<string, Attempt>();

  constructor(deps: KustomizationDeps) {
    this.#deps = deps;
    this.#applier = new KustomizeApplier(deps.objects);
  }

  #sourceKey(ks: JsonObject): string {
    const ref = obj(obj(ks.spec).sourceRef);
    return `${ref.namespace ?? meta(ks).namespace}/${ref.name}`;
  }

  #readySource(ks: JsonObject): { revision: string } | { message: string } {
    const ref = obj(obj(ks.spec).sourceRef);
    const ns = String(ref.namespace ?? meta(ks).namespace);
    const kind = String(ref.kind ?? "GitRepository");
    const source = kind === "GitRepository"
      ? this.#deps.objects.store.get(SOURCE_GROUP, "GitRepository", ns, String(ref.name))
      : undefined;
    if (!source) return { message: `Source '${kind}/${ns}/${ref.name}' not found` };
    const ready = readyCondition(source.obj);
    const revision = obj(obj(source.obj.status).artifact).revision;
    if (ready?.status !== "True" || typeof revision !== "string") {
      return { message: "Source artifact not found, retrying in 30s" };
    }
    return { revision };
  }

  /**
   * Reconciles one Kustomization. A new generation, source revision or outcome starts a new
   * attempt; `retryFailed` (a full pass, i.e. a client wrote something) retries a failed one.
   */
  async reconcile(t: ResourceType, ks: JsonObject, retryFailed: boolean): Promise<void> {
    const spec = obj(ks.spec);
    if (spec.suspend === true) return;
    const prev = obj(ks.status);
    const status: JsonObject = { observedGeneration: generationOf(ks) };
    for (const k of ["lastAppliedRevision", "lastAttemptedRevision"]) {
      if (typeof prev[k] === "string") status[k] = prev[k];
    }
    if (isObject(prev.inventory)) status.inventory = prev.inventory;
    const source = this.#readySource(ks);
    if ("message" in source) {
      status.conditions = [condition(ks, "Ready", "False", "ArtifactFailed", source.message)];
      this.#write(t, ks, status);
      return;
    }
    const revision = source.revision;
    const key = `${meta(ks).namespace}/${meta(ks).name}`;
    const { outcome, outcomeVersion } = this.#deps.controls;
    const target = `${generationOf(ks)}|${revision}|${outcomeVersion}`;
    let attempt = this.#attempts.get(key);
    if (!attempt || attempt.target !== target || (retryFailed && attempt.error)) {
      let step: Step = {};
      if (this.#deps.mode === "apply" && applies(outcome)) {
        const artifact = this.#deps.artifacts.get(this.#sourceKey(ks));
        if (artifact?.revision !== revision) {
          const message = "Source is not ready, artifact not found, retrying in 30s";
          status.conditions = [condition(ks, "Ready", "False", "ArtifactFailed", message)];
          this.#write(t, ks, status);
          return;
        }
        step = await this.#buildAndApply(ks, artifact);
        if (this.#deps.stopped()) return;
      }
      attempt = { target, startedAt: Date.now(), ...step };
      this.#attempts.set(key, attempt);
    }
    // As the controller: a revision counts as attempted once its path was found.
    if (attempt.error?.reason !== "ArtifactFailed") status.lastAttemptedRevision = revision;
    if (attempt.inventory) status.inventory = { entries: attempt.inventory };
    status.conditions = this.#conditions(ks, outcome, attempt, revision, status);
    this.#write(t, ks, status);
  }

  #conditions(
    ks: JsonObject,
    outcome: KustomizationOutcome,
    attempt: Attempt,
    revision: string,
    status: JsonObject,
  ): JsonObject[] {
    if (attempt.error) {
      return [condition(ks, "Ready", "False", attempt.error.reason, attempt.error.message)];
    }
    if (outcome.kind === "fail") {
      const reason = outcome.reason ?? "HealthCheckFailed";
      return [condition(ks, "Ready", "False", reason, outcome.message)];
    }
    const left = outcome.kind === "ready"
      ? attempt.startedAt + (outcome.delayMs ?? 0) - Date.now()
      : Infinity;
    if (left > 0) {
      if (Number.isFinite(left)) this.#deps.wakeIn(left);
      const spec = obj(ks.spec);
      const timeout = String(spec.timeout ?? spec.interval ?? "5m0s");
      const progress =
        `Running health checks for revision ${revision} with a timeout of ${timeout}`;
      return [
        condition(ks, "Reconciling", "True", "Progressing", progress),
        condition(ks, "Ready", "Unknown", "Progressing", "Reconciliation in progress"),
      ];
    }
    status.lastAppliedRevision = revision;
    const message = `Applied revision: ${revision}`;
    return [condition(ks, "Ready", "True", "ReconciliationSucceeded", message)];
  }

  /** Writes onto the current object: it may have changed (even by our apply) meanwhile. */
  #write(t: ResourceType, ks: JsonObject, status: JsonObject): void {
    const m = meta(ks);
    const current = this.#deps.objects.entry(t, m.namespace as string | undefined, String(m.name));
    if (current) this.#deps.writeStatus(t, current.obj, status);
  }

  async #buildAndApply(ks: JsonObject, artifact: Artifact): Promise<Step> {
    const spec = obj(ks.spec);
    let dir: string;
    try {
      dir = await this.#deps.artifacts.extract(artifact, this.#deps.signal);
    } catch (err) {
      return { error: { reason: "ArtifactFailed", message: String((err as Error).message) } };
    }
    try {
      const built = await buildKustomization(dir, spec, this.#deps.signal);
      if (!built.ok) return { error: { reason: built.reason, message: built.message } };
      const owner = { name: String(meta(ks).name), namespace: String(meta(ks).namespace) };
      const common = isObject(spec.commonMetadata) ? spec.commonMetadata : undefined;
      const applied = this.#applier.apply(built.objects, owner, common);
      if (!applied.ok) {
        return { error: { reason: "ReconciliationFailed", message: applied.message } };
      }
      let inventory = applied.inventory;
      let changed = applied.changed;
      let error: Step["error"];
      if (spec.prune === true) {
        const stale = staleEntries(inventoryOf(obj(ks.status)), inventory);
        const pruned = this.#applier.prune(stale, owner);
        changed ||= pruned.deleted > 0;
        if (pruned.error) {
          // As the controller: what could not be deleted stays in the inventory, to retry.
          const settled = new Set(pruned.settled);
          inventory = [...inventory, ...stale.filter((e) => !settled.has(e.id))];
          error = { reason: "PruneFailed", message: pruned.error };
        }
      }
      if (changed) this.#deps.applied();
      return { inventory, ...(error ? { error } : {}) };
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  }
}
