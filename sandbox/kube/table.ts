/**
 * meta.k8s.io/v1 Table responses for `kubectl get` (server-side printing). Built-ins show
 * NAME/AGE; custom resources use their CRD's additionalPrinterColumns, so
 * `kubectl get kustomizations` shows READY/STATUS like a real cluster.
 */

import { isObject } from "./json.ts";
import type { ResourceType } from "./registry.ts";
import type { JsonObject } from "./status.ts";
import { meta } from "./store.ts";

/** True when the Accept header asks for a v1 Table (kubectl always offers plain JSON too). */
export function wantsTable(accept: string | null): boolean {
  return !!accept &&
    accept.split(",").some((part) =>
      part.includes("as=Table") && part.includes("g=meta.k8s.io") && /v=v1(;|$)/.test(part)
    );
}

export interface PrinterColumn {
  name: string;
  type: string;
  jsonPath: string;
  description?: string;
  priority?: number;
}

/** k8s.io/apimachinery duration.HumanDuration, the AGE column format. */
export function humanDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 8) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`;
  if (h < 48) return `${h}h`;
  const d = Math.floor(h / 24);
  if (h < 192) return h % 24 === 0 ? `${d}d` : `${d}d${h % 24}h`;
  if (d < 365 * 2) return `${d}d`;
  return `${Math.floor(d / 365)}y`;
}

/** Tiny JSONPath: `.a.b`, `.a[0]`, `.a[?(@.type=="Ready")].status`. */
export function jsonPathValue(obj: unknown, path: string): unknown {
  const tokens = path.match(/\.[^.[\]]+|\[\?\(@\.[^)]*\)\]|\[\d+\]/g) ?? [];
  let cur: unknown[] = [obj];
  for (const tok of tokens) {
    cur = cur.flatMap((v) => step(v, tok));
  }
  return cur[0];
}

function step(v: unknown, tok: string): unknown[] {
  if (tok.startsWith(".")) {
    return isObject(v) && v[tok.slice(1)] !== undefined ? [v[tok.slice(1)]] : [];
  }
  const idx = tok.match(/^\[(\d+)\]$/);
  if (idx) return Array.isArray(v) && v[Number(idx[1])] !== undefined ? [v[Number(idx[1])]] : [];
  const filter = tok.match(/^\[\?\(@\.([^=!]+)\s*==\s*["']?([^"']*)["']?\)\]$/);
  if (filter && Array.isArray(v)) {
    return v.filter((item) => isObject(item) && String(item[filter[1].trim()]) === filter[2]);
  }
  return [];
}

function cell(obj: JsonObject, col: PrinterColumn): unknown {
  const v = jsonPathValue(obj, col.jsonPath);
  if (col.type === "date" && typeof v === "string") {
    return humanDuration((Date.now() - Date.parse(v)) / 1000);
  }
  return v === undefined ? null : v;
}

function ageOf(obj: JsonObject): string {
  const created = meta(obj).creationTimestamp;
  return typeof created === "string"
    ? humanDuration((Date.now() - Date.parse(created)) / 1000)
    : "<unknown>";
}

function rowObject(obj: JsonObject, includeObject: string | null): JsonObject | undefined {
  if (includeObject === "None") return undefined;
  if (includeObject === "Object") return obj;
  return { kind: "PartialObjectMetadata", apiVersion: "meta.k8s.io/v1", metadata: obj.metadata };
}

export function toTable(
  items: JsonObject[],
  resourceVersion: string,
  columns: PrinterColumn[],
  includeObject: string | null,
): JsonObject {
  const defs = [
    {
      name: "Name",
      type: "string",
      format: "name",
      description: "Name of the resource",
      priority: 0,
    },
    ...columns.map((c) => ({
      name: c.name,
      type: c.type === "date" ? "string" : c.type,
      format: "",
      description: c.description ?? "",
      priority: c.priority ?? 0,
    })),
  ];
  const hasAge = columns.some((c) => c.name.toLowerCase() === "age");
  if (!hasAge) defs.push({ name: "Age", type: "string", format: "", description: "", priority: 0 });
  const rows = items.map((obj) => {
    const cells = [meta(obj).name, ...columns.map((c) => cell(obj, c))];
    if (!hasAge) cells.push(ageOf(obj));
    const row: JsonObject = { cells };
    const o = rowObject(obj, includeObject);
    if (o) row.object = o;
    return row;
  });
  return {
    kind: "Table",
    apiVersion: "meta.k8s.io/v1",
    metadata: { resourceVersion },
    columnDefinitions: defs,
    rows,
  };
}

/** additionalPrinterColumns of the CRD version backing t (none for built-ins). */
export function printerColumns(t: ResourceType, crd: JsonObject | undefined): PrinterColumn[] {
  if (!t.custom || !crd) return [];
  const spec = isObject(crd.spec) ? crd.spec : {};
  const versions = Array.isArray(spec.versions) ? spec.versions.filter(isObject) : [];
  const v = versions.find((x) => x.name === t.version);
  const cols = Array.isArray(v?.additionalPrinterColumns) ? v.additionalPrinterColumns : [];
  return cols.filter(isObject).map((c) => ({
    name: String(c.name),
    type: String(c.type ?? "string"),
    jsonPath: String(c.jsonPath ?? ""),
    description: typeof c.description === "string" ? c.description : undefined,
    priority: typeof c.priority === "number" ? c.priority : 0,
  }));
}
