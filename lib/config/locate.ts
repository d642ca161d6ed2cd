/** Maps JSON paths inside a parsed YAML document back to file positions. */
import { type Document, isMap, isScalar, LineCounter, type Node } from "yaml";
import type { Location } from "./errors.ts";

export type PathSegment = string | number;

export interface SourceMap {
  file: string;
  doc: Document;
  lines: LineCounter;
}

function position(map: SourceMap, offset: number): Location {
  const { line, col } = map.lines.linePos(offset);
  return { file: map.file, line, col };
}

/** The node at `path`, or the deepest existing ancestor when the path does not exist. */
function nearestNode(map: SourceMap, path: PathSegment[]): Node | undefined {
  for (let n = path.length; n >= 0; n--) {
    const node = map.doc.getIn(path.slice(0, n), true);
    if (node && typeof node === "object" && "range" in node) return node as Node;
  }
  return undefined;
}

export function locate(map: SourceMap, path: PathSegment[]): Location | undefined {
  const node = nearestNode(map, path);
  return node?.range ? position(map, node.range[0]) : undefined;
}

/** Location of a mapping key (used for unknown keys, so the caret lands on the key itself). */
export function locateKey(map: SourceMap, path: PathSegment[], key: string): Location | undefined {
  const node = map.doc.getIn(path, true);
  if (isMap(node)) {
    for (const pair of node.items) {
      if (isScalar(pair.key) && String(pair.key.value) === key && pair.key.range) {
        return position(map, pair.key.range[0]);
      }
    }
  }
  return locate(map, path);
}

export function jsonPointerToPath(pointer: string): PathSegment[] {
  if (pointer === "") return [];
  return pointer.slice(1).split("/").map((s) => {
    const seg = s.replaceAll("~1", "/").replaceAll("~0", "~");
    return /^\d+$/.test(seg) ? Number(seg) : seg;
  });
}

function valueAt(o: unknown, path: string[]): unknown {
  let v = o;
  for (const k of path) {
    if (typeof v !== "object" || v === null || Array.isArray(v)) return undefined;
    v = (v as Record<string, unknown>)[k];
  }
  return v;
}

/**
 * Where a cluster's setting is written: in the cluster, or in `defaults` when the cluster inherits
 * it; the nearest enclosing entry when the value is a built-in default. `mergeDepth` is how deep
 * a cluster's values replace those of `defaults` (2: a cluster's own `git.auth` replaces all of
 * `defaults.git.auth`; 3 in a provider's block, merged key by key).
 */
export function locateSetting(
  map: SourceMap,
  raw: { clusters: unknown[]; defaults?: unknown },
  i: number,
  field: string,
  mergeDepth = 2,
): Location | undefined {
  const path = field.split(".");
  const merged = path.slice(0, mergeDepth);
  const own = valueAt(raw.clusters[i], merged) !== undefined;
  const inherited = !own && valueAt(raw.defaults, merged) !== undefined;
  // An own value, or none anywhere (a built-in default): the cluster's entry, as near as it goes.
  return locate(map, inherited ? ["defaults", ...path] : ["clusters", i, ...path]);
}
