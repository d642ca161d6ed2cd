/**
 * Kind-specific server behaviour applied on every write: Secret stringData folding, Namespace
 * defaults, CRD validation and the status apiextensions converges to.
 */

import { isObject } from "./json.ts";
import { acceptedNames, CRD_TYPE, NAMESPACE_TYPE, type ResourceType } from "./registry.ts";
import { base64 } from "./ssa.ts";
import { invalid, type JsonObject } from "./status.ts";
import { type Entry, meta } from "./store.ts";

/** Seconds precision, as apiserver serialises metav1.Time. */
export function nowTimestamp(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
}

export function normalizeKind(t: ResourceType, prev: Entry | undefined, next: JsonObject): void {
  if (t.group === "" && t.kind === "Secret") normalizeSecret(next);
  if (t === NAMESPACE_TYPE) normalizeNamespace(next);
  if (t === CRD_TYPE) normalizeCrd(prev, next);
}

/** stringData is write-only: merged into base64 data and never stored. */
function normalizeSecret(obj: JsonObject): void {
  if (isObject(obj.stringData)) {
    const data: JsonObject = isObject(obj.data) ? { ...obj.data } : {};
    for (const [k, v] of Object.entries(obj.stringData)) data[k] = base64(String(v));
    obj.data = data;
  }
  delete obj.stringData;
  if (obj.type === undefined) obj.type = "Opaque";
}

function normalizeNamespace(obj: JsonObject): void {
  const m = meta(obj);
  // Real apiservers stamp this immutable label on every namespace.
  m.labels = { ...(isObject(m.labels) ? m.labels : {}), "kubernetes.io/metadata.name": m.name };
  if (!isObject(obj.spec)) obj.spec = { finalizers: ["kubernetes"] };
  if (!isObject(obj.status)) obj.status = { phase: "Active" };
}

function crdProblems(obj: JsonObject): { field: string; message: string }[] {
  const spec = isObject(obj.spec) ? obj.spec : {};
  const names = isObject(spec.names) ? spec.names : {};
  const versions = Array.isArray(spec.versions) ? spec.versions.filter(isObject) : [];
  const problems: { field: string; message: string }[] = [];
  const need = (ok: boolean, field: string) => {
    if (!ok) problems.push({ field, message: "Required value" });
  };
  need(typeof spec.group === "string" && spec.group !== "", "spec.group");
  need(typeof names.plural === "string" && names.plural !== "", "spec.names.plural");
  need(typeof names.kind === "string" && names.kind !== "", "spec.names.kind");
  need(versions.length > 0, "spec.versions");
  if (versions.length && versions.filter((v) => v.storage === true).length !== 1) {
    problems.push({
      field: "spec.versions",
      message: "Invalid value: must have exactly one version marked as storage version",
    });
  }
  const expected = `${names.plural}.${spec.group}`;
  if (meta(obj).name !== expected) {
    problems.push({
      field: "metadata.name",
      message: `Invalid value: "${meta(obj).name}": must be spec.names.plural+"."+spec.group`,
    });
  }
  return problems;
}

/**
 * The stored versions a write leaves: those of the written status (a client's write to the status
 * subresource, e.g. a storage migration; a main-resource write carries the previous status),
 * else the previous ones.
 */
function storedVersionsOf(obj: JsonObject, prevStatus: JsonObject): unknown[] {
  const written = isObject(obj.status) ? obj.status.storedVersions : undefined;
  if (Array.isArray(written) && written.length) return [...written];
  return Array.isArray(prevStatus.storedVersions) ? [...prevStatus.storedVersions] : [];
}

/**
 * apiextensions ValidateCustomResourceDefinitionStoredVersions: a version objects may still be
 * stored in cannot leave spec.versions (the reason `flux migrate` exists).
 */
function checkStoredVersions(obj: JsonObject, stored: unknown[]): void {
  const versions = ((obj.spec as JsonObject).versions as JsonObject[]).map((v) => v.name);
  const causes = stored.flatMap((v, i) =>
    versions.includes(v) ? [] : [{
      reason: "FieldValueInvalid",
      message: `Invalid value: ${JSON.stringify(v)}: must appear in spec.versions`,
      field: `status.storedVersions[${i}]`,
    }]
  );
  if (causes.length) {
    throw invalid(
      "CustomResourceDefinition",
      "apiextensions.k8s.io",
      String(meta(obj).name),
      causes,
    );
  }
}

/** Validates a CRD and fills the status a real apiextensions-apiserver converges to. */
function normalizeCrd(prev: Entry | undefined, obj: JsonObject): void {
  const problems = crdProblems(obj);
  if (problems.length) {
    throw invalid(
      "CustomResourceDefinition",
      "apiextensions.k8s.io",
      String(meta(obj).name ?? ""),
      problems.map((p) => ({
        reason: p.message.startsWith("Required") ? "FieldValueRequired" : "FieldValueInvalid",
        message: p.message,
        field: p.field,
      })),
    );
  }
  const spec = obj.spec as JsonObject;
  const storage = (spec.versions as JsonObject[]).find((v) => v.storage === true);
  const prevStatus = isObject(prev?.obj.status) ? prev.obj.status : {};
  const stored = storedVersionsOf(obj, prevStatus);
  if (!stored.includes(storage?.name)) stored.push(storage?.name);
  checkStoredVersions(obj, stored);
  const prevConds = Array.isArray(prevStatus.conditions)
    ? prevStatus.conditions.filter(isObject)
    : [];
  const cond = (type: string, reason: string, message: string): JsonObject => ({
    type,
    status: "True",
    lastTransitionTime: prevConds.find((c) => c.type === type)?.lastTransitionTime ??
      nowTimestamp(),
    reason,
    message,
  });
  obj.status = {
    conditions: [
      cond("NamesAccepted", "NoConflicts", "no conflicts found"),
      cond("Established", "InitialNamesAccepted", "the initial names have been accepted"),
    ],
    acceptedNames: acceptedNames(obj),
    storedVersions: stored,
  };
}
