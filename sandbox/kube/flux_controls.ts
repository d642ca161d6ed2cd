/**
 * Per-cluster controls of the Flux stand-in for tests (one sandbox is one cluster): what the
 * Kustomizations report at a new revision, which controller Deployments stay unavailable, and a
 * CRD's `status.storedVersions` with a record of the writes that change it (a storage
 * migration). The stand-in reads this state on each reconcile; a change asks for a new one.
 */

import { isObject } from "./json.ts";
import type { Objects } from "./objects.ts";
import { CRD_TYPE } from "./registry.ts";
import type { JsonObject } from "./status.ts";
import { type ChangeEvent, meta } from "./store.ts";

/** Reasons kustomize-controller puts on Ready=False. */
export type KustomizationFailReason =
  | "ArtifactFailed"
  | "BuildFailed"
  | "ReconciliationFailed"
  | "PruneFailed"
  | "HealthCheckFailed"
  | "DependencyNotReady";

/**
 * What every Kustomization reports once it reconciles a new revision (or spec, or outcome):
 * - `ready`: Ready=True "Applied revision: …", after `delayMs` (default 0) of Ready=Unknown
 *   Progressing with Reconciling=True ("Running health checks for revision …"), as while
 *   kustomize-controller waits for health checks;
 * - `progressing`: that Unknown/Progressing state for ever (health checks that never finish);
 * - `fail`: Ready=False with `reason` (default HealthCheckFailed) and `message`. With
 *   HealthCheckFailed the revision was applied first (as the controller applies, then checks);
 *   with any other reason nothing is applied.
 * In apply mode the revision's objects are applied (and pruned) before `ready`/`progressing`
 * report anything; a real build or apply error wins over the outcome.
 */
export type KustomizationOutcome =
  | { kind: "ready"; delayMs?: number }
  | { kind: "progressing" }
  | { kind: "fail"; message: string; reason?: KustomizationFailReason };

/** A write to a CRD's status.storedVersions, as a migration (e.g. `flux migrate`) makes it. */
export interface StoredVersionsWrite {
  crd: string;
  previous: string[];
  storedVersions: string[];
  /** The field manager of the write (managedFields), when the sandbox could tell. */
  manager?: string;
  at: number;
}

export interface FluxControls {
  /** Sets what Kustomizations report from their next reconcile on (see KustomizationOutcome). */
  setKustomizationOutcome(outcome: KustomizationOutcome): void;
  /**
   * Keeps Deployment `namespace/name` unavailable (Available=False MinimumReplicasUnavailable,
   * Progressing=False ProgressDeadlineExceeded, unavailableReplicas), or with `false` lets it
   * roll out again. Namespace defaults to flux-system; applies to Deployments created later too.
   */
  setDeploymentUnavailable(name: string, unavailable?: boolean, namespace?: string): void;
  /**
   * Sets CRD `name`'s status.storedVersions (e.g. ["v1beta2", "v1"]: objects may still be stored
   * in v1beta2, so a Flux that drops v1beta2 needs a migration first). Throws when the CRD does
   * not exist or a version is not in its spec.versions (as the apiserver would refuse it).
   */
  setStoredVersions(crd: string, versions: string[]): void;
  /** Client writes that changed a CRD's status.storedVersions, oldest first. */
  storedVersionsWrites(): StoredVersionsWrite[];
}

function storedOf(o: JsonObject): string[] {
  const s = isObject(o.status) ? o.status.storedVersions : undefined;
  return Array.isArray(s) ? s.map(String) : [];
}

/** The manager of the last status Update that owns storedVersions (managedFields order). */
function storedVersionsManager(o: JsonObject): string | undefined {
  const fields = meta(o).managedFields;
  if (!Array.isArray(fields)) return undefined;
  const owners = fields.filter(isObject).filter((f) => {
    const status = isObject(f.fieldsV1) ? f.fieldsV1["f:status"] : undefined;
    return f.subresource === "status" && isObject(status) && "f:storedVersions" in status;
  });
  const last = owners[owners.length - 1];
  return typeof last?.manager === "string" ? last.manager : undefined;
}

export class FluxControlState implements FluxControls {
  #outcome: KustomizationOutcome = { kind: "ready" };
  /** Bumped on every outcome change: Kustomizations reconcile again under the new one. */
  #outcomeVersion = 0;
  #unavailable = new Set<string>();
  #objects: Objects;
  #onChange: (what: "outcome" | "other") => void;
  #writes: StoredVersionsWrite[] = [];
  #lastStored = new Map<string, string[]>();
  #unsubscribe: () => void;

  constructor(objects: Objects, onChange: (what: "outcome" | "other") => void) {
    this.#objects = objects;
    this.#onChange = onChange;
    this.#unsubscribe = objects.store.subscribe((ev) => this.#record(ev));
  }

  get outcome(): KustomizationOutcome {
    return this.#outcome;
  }

  get outcomeVersion(): number {
    return this.#outcomeVersion;
  }

  close(): void {
    this.#unsubscribe();
  }

  setKustomizationOutcome(outcome: KustomizationOutcome): void {
    this.useOutcome(outcome);
    this.#onChange("outcome");
  }

  /** Replaces the outcome without asking for a reconcile (the caller does). */
  useOutcome(outcome: KustomizationOutcome): void {
    const delay = outcome.kind === "ready" ? outcome.delayMs ?? 0 : 0;
    if (!(Number.isFinite(delay) && delay >= 0)) {
      throw new RangeError(`delayMs must be a finite number ≥ 0, got ${delay}`);
    }
    this.#outcome = structuredClone(outcome);
    this.#outcomeVersion++;
  }

  setDeploymentUnavailable(name: string, unavailable = true, namespace = "flux-system"): void {
    const key = `${namespace}/${name}`;
    if (unavailable) this.#unavailable.add(key);
    else this.#unavailable.delete(key);
    this.#onChange("other");
  }

  isUnavailable(namespace: string | undefined, name: string): boolean {
    return this.#unavailable.has(`${namespace}/${name}`);
  }

  setStoredVersions(crd: string, versions: string[]): void {
    const e = this.#objects.entry(CRD_TYPE, undefined, crd);
    if (!e) throw new Error(`no CustomResourceDefinition ${crd} in this sandbox`);
    const status = { ...(isObject(e.obj.status) ? e.obj.status : {}), storedVersions: versions };
    // An internal status write goes through the apiserver's CRD validation (kinds.ts).
    this.#objects.setStatus(CRD_TYPE, undefined, crd, status, "kube-apiserver");
  }

  storedVersionsWrites(): StoredVersionsWrite[] {
    return structuredClone(this.#writes);
  }

  #record(ev: ChangeEvent): void {
    if (ev.group !== CRD_TYPE.group || ev.kind !== CRD_TYPE.kind) return;
    const previous = this.#lastStored.get(ev.name) ?? [];
    const now = ev.type === "DELETED" ? [] : storedOf(ev.obj);
    if (ev.type === "DELETED") this.#lastStored.delete(ev.name);
    else this.#lastStored.set(ev.name, now);
    const changed = previous.join("\u0000") !== now.join("\u0000");
    if (!ev.internal && ev.subresource === "status" && changed) {
      const manager = storedVersionsManager(ev.obj);
      this.#writes.push({
        crd: ev.name,
        previous,
        storedVersions: now,
        ...(manager ? { manager } : {}),
        at: Date.now(),
      });
    }
  }
}
