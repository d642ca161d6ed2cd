/**
 * kustomize-controller's `status.inventory`: one entry per applied object, `id`
 * `<namespace>_<name>_<group>_<kind>` (cli-utils ObjMetadata.String(): empty namespace for
 * cluster-scoped objects, empty group for the core group, `:` in a name written `__`) and `v`
 * the object's API version (kustomize-controller internal/inventory/inventory.go AddChangeSet;
 * the `Id`/`V` of `kubectl describe` in docs/spec/v1/kustomizations.md "Inventory").
 * Entries come in the order the objects were applied: fluxcd/pkg ssa ApplyAllStaged applies
 * CRDs and Namespaces first, each stage sorted as ssa/sort.go orders kinds, then namespace, name.
 */

import { splitApiVersion } from "./registry.ts";
import type { JsonObject } from "./status.ts";
import { meta } from "./store.ts";

export interface InventoryEntry {
  id: string;
  v: string;
}

export interface ObjRef {
  namespace: string;
  name: string;
  group: string;
  kind: string;
}

export function inventoryId(ref: ObjRef): string {
  return `${ref.namespace}_${ref.name.replaceAll(":", "__")}_${ref.group}_${ref.kind}`;
}

/** Parses an id back, as cli-utils ParseObjMetadata does; undefined when malformed. */
export function parseInventoryId(id: string): ObjRef | undefined {
  const first = id.indexOf("_");
  const last = id.lastIndexOf("_");
  if (first < 0 || last <= first) return undefined;
  const namespace = id.slice(0, first);
  const kind = id.slice(last + 1);
  const rest = id.slice(first + 1, last);
  const groupAt = rest.lastIndexOf("_");
  if (groupAt < 0) return undefined;
  const name = rest.slice(0, groupAt).replaceAll("__", ":");
  if (name.includes("_")) return undefined;
  return { namespace, name, group: rest.slice(groupAt + 1), kind };
}

/** ssa/sort.go: kinds applied first (in this order), those applied last, the rest between. */
const ORDER_FIRST = [
  "CustomResourceDefinition",
  "Namespace",
  "ResourceQuota",
  "StorageClass",
  "ServiceAccount",
  "PodSecurityPolicy",
  "Role",
  "ClusterRole",
  "RoleBinding",
  "ClusterRoleBinding",
  "ConfigMap",
  "Secret",
  "Service",
  "LimitRange",
  "PriorityClass",
  "Deployment",
  "StatefulSet",
  "CronJob",
  "PodDisruptionBudget",
];
const ORDER_LAST = ["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"];

function kindIndex(kind: string): number {
  const first = ORDER_FIRST.indexOf(kind);
  if (first >= 0) return first - ORDER_FIRST.length;
  const last = ORDER_LAST.indexOf(kind);
  return last >= 0 ? last + 1 : 0;
}

/** The identity of a built object (namespace as given in the manifest). */
export function refOf(o: JsonObject): ObjRef {
  const m = meta(o);
  return {
    namespace: typeof m.namespace === "string" ? m.namespace : "",
    name: String(m.name),
    group: splitApiVersion(String(o.apiVersion)).group,
    kind: String(o.kind),
  };
}

export function compareRefs(a: ObjRef, b: ObjRef): number {
  if (a.group !== b.group || a.kind !== b.kind) {
    const ia = kindIndex(a.kind);
    const ib = kindIndex(b.kind);
    if (ia !== ib) return ia - ib;
    if (a.group !== b.group) return a.group < b.group ? -1 : 1;
    return a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : 0;
  }
  if (a.namespace !== b.namespace) return a.namespace < b.namespace ? -1 : 1;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** ssa IsClusterDefinition: what ApplyAllStaged applies (and waits for) before the rest. */
export function isClusterDefinition(o: JsonObject): boolean {
  const { group, kind } = refOf(o);
  return (group === "apiextensions.k8s.io" && kind === "CustomResourceDefinition") ||
    (group === "" && kind === "Namespace");
}

/** The built objects as two sorted apply stages. */
export function applyStages(objects: JsonObject[]): JsonObject[][] {
  const sorted = [...objects].sort((a, b) => compareRefs(refOf(a), refOf(b)));
  return [sorted.filter(isClusterDefinition), sorted.filter((o) => !isClusterDefinition(o))];
}

/** inventory.Diff: entries of `old` whose id is not in `current`. */
export function staleEntries(old: InventoryEntry[], current: InventoryEntry[]): InventoryEntry[] {
  const ids = new Set(current.map((e) => e.id));
  return old.filter((e) => !ids.has(e.id));
}
