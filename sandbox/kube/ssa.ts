/**
 * A deliberately small server-side apply.
 *
 * Ownership is tracked at a fixed granularity: each key under a top-level object field
 * (`spec.url`, `data.token`, `rules`…) and each label/annotation key. That is enough for what
 * fluxfleet relies on — no-op re-applies, removal of fields a manager stops applying, conflicts
 * between managers — without implementing structured-merge-diff's schema-aware lists.
 */

import { deepEqual, deletePath, getPath, isObject, setPath } from "./json.ts";
import { ApiError, type JsonObject } from "./status.ts";

/** Top-level fields that never take part in apply ownership. */
const UNOWNED_TOP = new Set(["apiVersion", "kind", "metadata", "status"]);

export type FieldPath = string[];

const keyOf = (p: FieldPath) => JSON.stringify(p);

/** The paths an applied configuration sets. `stringData.x` is recorded as `data.x`. */
export function ownedPaths(applied: JsonObject, onlyStatus = false): FieldPath[] {
  const out: FieldPath[] = [];
  if (onlyStatus) {
    addChildren(out, "status", applied.status);
    return out;
  }
  const m = isObject(applied.metadata) ? applied.metadata : {};
  for (const field of ["labels", "annotations"]) {
    const v = m[field];
    if (isObject(v)) { for (const k of Object.keys(v)) out.push(["metadata", field, k]); }
  }
  for (const [k, v] of Object.entries(applied)) {
    if (UNOWNED_TOP.has(k)) continue;
    addChildren(out, k === "stringData" ? "data" : k, v);
  }
  return uniquePaths(out);
}

function addChildren(out: FieldPath[], top: string, v: unknown): void {
  if (isObject(v) && Object.keys(v).length > 0) {
    for (const k of Object.keys(v)) out.push([top, k]);
  } else if (v !== undefined) out.push([top]);
}

function uniquePaths(paths: FieldPath[]): FieldPath[] {
  const seen = new Set<string>();
  return paths.filter((p) => !seen.has(keyOf(p)) && seen.add(keyOf(p)));
}

/** Value an applied configuration gives a path, with stringData already base64-encoded. */
function appliedValue(applied: JsonObject, path: FieldPath): unknown {
  if (path[0] === "data" && path.length === 2) {
    const sd = applied.stringData;
    if (isObject(sd) && path[1] in sd) return base64(String(sd[path[1]]));
  }
  return structuredClone(getPath(applied, path));
}

export function base64(s: string): string {
  const bytes = new TextEncoder().encode(s);
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

export interface ApplyInput {
  /** Current object (already a private copy) or a fresh skeleton when creating. */
  base: JsonObject;
  applied: JsonObject;
  owners: Map<string, FieldPath[]>;
  manager: string;
  force: boolean;
  onlyStatus: boolean;
}

/** Merges an applied configuration into base; returns the new object and ownership map. */
export function mergeApply(
  input: ApplyInput,
): { obj: JsonObject; owners: Map<string, FieldPath[]> } {
  const { base, applied, manager, force } = input;
  const owners = new Map([...input.owners].map(([k, v]) => [k, [...v]]));
  const next = ownedPaths(applied, input.onlyStatus);
  const nextKeys = new Set(next.map(keyOf));
  checkConflicts(base, applied, next, owners, manager, force);
  const others = new Set(
    [...owners].filter(([m]) => m !== manager).flatMap(([, ps]) => ps.map(keyOf)),
  );
  for (const old of owners.get(manager) ?? []) {
    // Only fields nobody else still claims are removed, as structured-merge-diff does.
    if (!nextKeys.has(keyOf(old)) && !others.has(keyOf(old))) deletePath(base, old);
  }
  for (const p of next) setPath(base, p, appliedValue(applied, p));
  owners.set(manager, next);
  return { obj: base, owners };
}

function checkConflicts(
  base: JsonObject,
  applied: JsonObject,
  next: FieldPath[],
  owners: Map<string, FieldPath[]>,
  manager: string,
  force: boolean,
): void {
  const found: { manager: string; path: FieldPath }[] = [];
  for (const [other, paths] of owners) {
    if (other === manager) continue;
    const mine = next.filter((p) => paths.some((q) => keyOf(q) === keyOf(p)));
    const differing = mine.filter((p) => !deepEqual(getPath(base, p), appliedValue(applied, p)));
    if (force) {
      // Forcing takes the fields away from the other manager.
      const taken = new Set(differing.map(keyOf));
      owners.set(other, paths.filter((q) => !taken.has(keyOf(q))));
    } else {
      for (const p of differing) found.push({ manager: other, path: p });
    }
  }
  if (found.length) throw applyConflict(found);
}

function applyConflict(found: { manager: string; path: FieldPath }[]): ApiError {
  const causes = found.map((f) => ({
    reason: "FieldManagerConflict",
    message: `conflict with "${f.manager}"`,
    field: "." + f.path.join("."),
  }));
  const lines = causes.map((c) => `${c.message}: ${c.field}`);
  const message = found.length === 1
    ? `Apply failed with 1 conflict: ${lines[0]}`
    : `Apply failed with ${found.length} conflicts: ${lines.join("\n")}`;
  return new ApiError(409, "Conflict", message, { causes });
}

/** `fieldsV1` in the nested `f:` form real servers use in metadata.managedFields. */
export function fieldsV1(paths: FieldPath[]): JsonObject {
  const root: JsonObject = {};
  for (const p of paths) {
    let cur = root;
    for (const seg of p) {
      const k = `f:${seg}`;
      if (!isObject(cur[k])) cur[k] = {};
      cur = cur[k] as JsonObject;
    }
  }
  return root;
}

export interface ManagedFieldsEntry {
  manager: string;
  operation: "Apply" | "Update";
  apiVersion: string;
  time: string;
  fieldsType: "FieldsV1";
  fieldsV1: JsonObject;
  subresource?: string;
}

/**
 * Rebuilds metadata.managedFields, keeping an entry's old timestamp when its content did not
 * change — otherwise every no-op apply would look like a modification.
 */
export function managedFields(
  previous: unknown,
  owners: Map<string, FieldPath[]>,
  updater: { manager: string; paths: FieldPath[]; subresource?: string } | undefined,
  apiVersion: string,
  now: string,
): ManagedFieldsEntry[] {
  const prev = Array.isArray(previous) ? previous.filter(isObject) : [];
  const out: ManagedFieldsEntry[] = [];
  for (const [key, paths] of owners) {
    if (paths.length === 0) continue;
    // Owner keys carry the subresource after a NUL (see objects.ts ownerKey).
    const [manager, subresource] = key.split("\u0000");
    const entry: ManagedFieldsEntry = {
      manager,
      operation: "Apply",
      apiVersion,
      time: now,
      fieldsType: "FieldsV1",
      fieldsV1: fieldsV1(paths),
    };
    if (subresource) entry.subresource = subresource;
    out.push(entry);
  }
  for (const e of prev) {
    const same = e.manager === updater?.manager && e.subresource === updater?.subresource;
    if (e.operation !== "Update" || same) continue;
    out.push(structuredClone(e) as unknown as ManagedFieldsEntry);
  }
  if (updater) {
    const entry: ManagedFieldsEntry = {
      manager: updater.manager,
      operation: "Update",
      apiVersion,
      time: now,
      fieldsType: "FieldsV1",
      fieldsV1: fieldsV1(updater.paths),
    };
    if (updater.subresource) entry.subresource = updater.subresource;
    out.push(entry);
  }
  return out.map((e) => keepTime(e, prev));
}

function keepTime(e: ManagedFieldsEntry, prev: JsonObject[]): ManagedFieldsEntry {
  const old = prev.find((p) =>
    p.manager === e.manager && p.operation === e.operation && p.subresource === e.subresource
  );
  if (old && old.apiVersion === e.apiVersion && deepEqual(old.fieldsV1, e.fieldsV1)) {
    return { ...e, time: String(old.time) };
  }
  return e;
}
