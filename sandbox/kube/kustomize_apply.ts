/**
 * kustomize-controller's apply and garbage collection, done in process through the sandbox's own
 * server-side apply (objects.ts/ssa.ts, field manager `kustomize-controller`, forced ownership)
 * rather than over HTTP to itself: the same code path as a client's apply, without the TLS and
 * JSON round trip. As fluxcd/pkg ssa ApplyAllStaged: CRDs and Namespaces first, then the rest;
 * within a stage every object is dry-run first, so a refused object leaves the stage unapplied.
 * Objects get the owner labels `kustomize.toolkit.fluxcd.io/name` and `/namespace`; the
 * `kustomize.toolkit.fluxcd.io/reconcile: disabled` and `ssa: Ignore` exclusions are honoured.
 * Errors read like the controller's (ssa DryRunErr, "apply failed, error:").
 */

import { isObject } from "./json.ts";
import {
  applyStages,
  type InventoryEntry,
  inventoryId,
  parseInventoryId,
  refOf,
} from "./inventory.ts";
import type { Objects } from "./objects.ts";
import { splitApiVersion } from "./registry.ts";
import { ApiError, type JsonObject } from "./status.ts";
import { clone, meta } from "./store.ts";

export const FIELD_MANAGER = "kustomize-controller";
const GROUP = "kustomize.toolkit.fluxcd.io";

export interface Owner {
  name: string;
  namespace: string;
}

export type ApplyResult =
  | { ok: true; inventory: InventoryEntry[]; changed: boolean }
  | { ok: false; message: string };

/** `<kind>/<namespace>/<name>`, or `<kind>/<name>` without a namespace (ssa FmtUnstructured). */
function fmt(o: JsonObject): string {
  const { namespace, name, kind } = refOf(o);
  return namespace ? `${kind}/${namespace}/${name}` : `${kind}/${name}`;
}

function metaMap(o: JsonObject, field: "labels" | "annotations"): Record<string, unknown> {
  const v = meta(o)[field];
  return isObject(v) ? v : {};
}

/** ssa AnyInMetadata: a label or annotation with this value (any case). */
function marked(o: JsonObject, key: string, value: string): boolean {
  const l = metaMap(o, "labels")[key];
  const a = metaMap(o, "annotations")[key];
  return [l, a].some((v) => typeof v === "string" && v.toLowerCase() === value);
}

function excluded(o: JsonObject): boolean {
  return marked(o, `${GROUP}/reconcile`, "disabled") || marked(o, `${GROUP}/ssa`, "ignore");
}

/** The manifest as applied: owner labels and the Kustomization's spec.commonMetadata. */
function prepared(o: JsonObject, owner: Owner, common: JsonObject | undefined): JsonObject {
  const out = clone(o);
  const m = meta(out);
  if (!isObject(out.metadata)) out.metadata = m;
  const labels = { ...metaMap(out, "labels") };
  const annotations = { ...metaMap(out, "annotations") };
  if (common && isObject(common.labels)) Object.assign(labels, common.labels);
  if (common && isObject(common.annotations)) Object.assign(annotations, common.annotations);
  labels[`${GROUP}/name`] = owner.name;
  labels[`${GROUP}/namespace`] = owner.namespace;
  (out.metadata as JsonObject).labels = labels;
  if (Object.keys(annotations).length) (out.metadata as JsonObject).annotations = annotations;
  return out;
}

function errorText(err: unknown): { reason: string; message: string; notFound: boolean } {
  if (err instanceof ApiError) {
    return { reason: err.reason, message: err.message, notFound: err.code === 404 };
  }
  return { reason: "", message: err instanceof Error ? err.message : String(err), notFound: false };
}

class ApplyFailure extends Error {}

export class KustomizeApplier {
  #objects: Objects;

  constructor(objects: Objects) {
    this.#objects = objects;
  }

  #type(o: JsonObject) {
    return this.#objects.registry.findKind(String(o.apiVersion), String(o.kind));
  }

  /** Server-side applies `o` (dry run or not); returns the stored object's resourceVersion. */
  #apply(o: JsonObject, dryRun: boolean): { rv: string; before: string | undefined; ns: string } {
    const t = this.#type(o);
    if (!t) {
      throw new ApplyFailure(
        `${fmt(o)} dry-run failed: no matches for kind "${o.kind}" in version "${o.apiVersion}"`,
      );
    }
    const m = meta(o);
    const ns = t.namespaced && typeof m.namespace === "string" ? m.namespace : undefined;
    if (t.namespaced && !ns) {
      throw new ApplyFailure(
        `${fmt(o)} not found: the server could not find the requested resource`,
      );
    }
    const before = this.#objects.entry(t, ns, String(m.name));
    const beforeRv = before ? String(meta(before.obj).resourceVersion) : undefined;
    try {
      const { obj } = this.#objects.apply(t, ns, String(m.name), o, {
        manager: FIELD_MANAGER,
        force: true,
        dryRun,
        internal: true,
      });
      return { rv: String(meta(obj).resourceVersion ?? ""), before: beforeRv, ns: ns ?? "" };
    } catch (err) {
      const e = errorText(err);
      if (!dryRun) throw new ApplyFailure(`${fmt(o)} apply failed, error: ${e.message}`);
      if (e.notFound) {
        const what = m.namespace ? "namespace not specified" : "not found";
        throw new ApplyFailure(`${fmt(o)} ${what}: ${e.message}`);
      }
      const reason = e.reason ? ` (${e.reason})` : "";
      throw new ApplyFailure(`${fmt(o)} dry-run failed${reason}: ${e.message}`);
    }
  }

  /** Applies the built objects of a Kustomization in stages; returns the new inventory. */
  apply(built: JsonObject[], owner: Owner, commonMetadata?: JsonObject): ApplyResult {
    const inventory: InventoryEntry[] = [];
    const changes: string[] = [];
    try {
      for (const stage of applyStages(built.map((o) => prepared(o, owner, commonMetadata)))) {
        const toApply = stage.filter((o) => !excluded(o));
        for (const o of toApply) this.#apply(o, true);
        for (const o of stage) {
          const version = splitApiVersion(String(o.apiVersion)).version;
          if (!excluded(o)) {
            const r = this.#apply(o, false);
            if (r.before === undefined) changes.push(`${fmt(o)} created`);
            else if (r.before !== r.rv) changes.push(`${fmt(o)} configured`);
            inventory.push({ id: inventoryId({ ...refOf(o), namespace: r.ns }), v: version });
          } else {
            const t = this.#type(o);
            const ns = t?.namespaced ? refOf(o).namespace : "";
            inventory.push({ id: inventoryId({ ...refOf(o), namespace: ns }), v: version });
          }
        }
      }
    } catch (err) {
      if (!(err instanceof ApplyFailure)) throw err;
      return { ok: false, message: [err.message, ...changes].join("\n") };
    }
    return { ok: true, inventory, changed: changes.length > 0 };
  }

  /**
   * Garbage collection of `stale` entries (kustomize-controller prune): only objects that still
   * carry this Kustomization's owner labels, and not marked `prune: disabled`, are deleted.
   * Returns the ids of the entries settled (deleted, or left alone on purpose) and, on a
   * failure, its message (reason PruneFailed): the rest is not settled.
   */
  prune(
    stale: InventoryEntry[],
    owner: Owner,
  ): { settled: string[]; deleted: number; error?: string } {
    const settled: string[] = [];
    let deleted = 0;
    // ssa DeleteAll: reverse apply order, so namespaced objects go before their namespace.
    for (const entry of [...stale].reverse()) {
      const ref = parseInventoryId(entry.id);
      const t = ref &&
        this.#objects.registry.all().find((x) => x.group === ref.group && x.kind === ref.kind);
      const e = ref && t && this.#objects.entry(t, ref.namespace || undefined, ref.name);
      const labels = e ? metaMap(e.obj, "labels") : {};
      const owned = labels[`${GROUP}/name`] === owner.name &&
        labels[`${GROUP}/namespace`] === owner.namespace;
      if (!ref || !t || !e || !owned || marked(e.obj, `${GROUP}/prune`, "disabled")) {
        settled.push(entry.id);
        continue;
      }
      const name = ref.namespace
        ? `${ref.kind}/${ref.namespace}/${ref.name}`
        : `${ref.kind}/${ref.name}`;
      try {
        this.#objects.delete(t, ref.namespace || undefined, ref.name, undefined, false);
        settled.push(entry.id);
        deleted++;
      } catch (err) {
        return { settled, deleted, error: `${name} delete failed: ${errorText(err).message}` };
      }
    }
    return { settled, deleted };
  }
}
