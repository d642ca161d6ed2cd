/** Small JSON helpers: equality, RFC 7386 merge patch, RFC 6902 JSON patch, path access. */

import { badRequest, type JsonObject } from "./status.ts";

export function isObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  }
  if (isObject(a) && isObject(b)) {
    const ak = Object.keys(a);
    const bk = Object.keys(b);
    return ak.length === bk.length && ak.every((k) => k in b && deepEqual(a[k], b[k]));
  }
  return false;
}

/** RFC 7386: objects merge recursively, null deletes, everything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return structuredClone(patch);
  const out: JsonObject = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

interface JsonPatchOp {
  op: string;
  path: string;
  value?: unknown;
  from?: string;
}

function pointer(path: string): string[] {
  if (path === "") return [];
  if (!path.startsWith("/")) throw badRequest(`invalid JSON pointer ${JSON.stringify(path)}`);
  return path.slice(1).split("/").map((s) => s.replaceAll("~1", "/").replaceAll("~0", "~"));
}

type Container = JsonObject | unknown[];

function parentOf(doc: unknown, tokens: string[]): { parent: Container; key: string } {
  let cur: unknown = doc;
  for (const t of tokens.slice(0, -1)) {
    cur = Array.isArray(cur) ? cur[Number(t)] : isObject(cur) ? cur[t] : undefined;
    if (cur === undefined) throw badRequest(`doc is missing path: /${tokens.join("/")}`);
  }
  if (!Array.isArray(cur) && !isObject(cur)) {
    throw badRequest(`doc is missing path: /${tokens.join("/")}`);
  }
  return { parent: cur, key: tokens[tokens.length - 1] };
}

function readAt(doc: unknown, tokens: string[]): unknown {
  let cur: unknown = doc;
  for (const t of tokens) {
    cur = Array.isArray(cur) ? cur[Number(t)] : isObject(cur) ? cur[t] : undefined;
    if (cur === undefined) throw badRequest(`doc is missing path: /${tokens.join("/")}`);
  }
  return cur;
}

function removeAt(doc: unknown, tokens: string[]): unknown {
  const { parent, key } = parentOf(doc, tokens);
  const old = readAt(doc, tokens);
  if (Array.isArray(parent)) parent.splice(Number(key), 1);
  else delete parent[key];
  return old;
}

function addAt(doc: unknown, tokens: string[], value: unknown): unknown {
  if (tokens.length === 0) return value;
  const { parent, key } = parentOf(doc, tokens);
  if (Array.isArray(parent)) {
    parent.splice(key === "-" ? parent.length : Number(key), 0, value);
  } else parent[key] = value;
  return doc;
}

/** RFC 6902 over a copy of doc; `test` failures and missing paths are 422/400 like apiserver. */
export function jsonPatch(doc: unknown, ops: unknown): unknown {
  if (!Array.isArray(ops)) throw badRequest("json patch must be an array of operations");
  let out = structuredClone(doc);
  for (const raw of ops as JsonPatchOp[]) {
    const tokens = pointer(String(raw.path ?? ""));
    switch (raw.op) {
      case "add":
        out = addAt(out, tokens, structuredClone(raw.value));
        break;
      case "remove":
        removeAt(out, tokens);
        break;
      case "replace":
        removeAt(out, tokens);
        out = addAt(out, tokens, structuredClone(raw.value));
        break;
      case "move": {
        const v = removeAt(out, pointer(String(raw.from ?? "")));
        out = addAt(out, tokens, v);
        break;
      }
      case "copy":
        out = addAt(out, tokens, structuredClone(readAt(out, pointer(String(raw.from ?? "")))));
        break;
      case "test":
        if (!deepEqual(readAt(out, tokens), raw.value)) {
          throw badRequest(`testing value /${tokens.join("/")} failed`);
        }
        break;
      default:
        throw badRequest(`unexpected json patch operation ${JSON.stringify(raw.op)}`);
    }
  }
  return out;
}

export function getPath(obj: unknown, path: string[]): unknown {
  let cur = obj;
  for (const p of path) {
    if (!isObject(cur)) return undefined;
    cur = cur[p];
  }
  return cur;
}

export function setPath(obj: JsonObject, path: string[], value: unknown): void {
  let cur = obj;
  for (const p of path.slice(0, -1)) {
    if (!isObject(cur[p])) cur[p] = {};
    cur = cur[p] as JsonObject;
  }
  cur[path[path.length - 1]] = value;
}

/** Deletes the leaf; empties left behind under `metadata` are pruned (labels: {} is noise). */
export function deletePath(obj: JsonObject, path: string[]): void {
  const parent = getPath(obj, path.slice(0, -1));
  if (!isObject(parent)) return;
  delete parent[path[path.length - 1]];
  if (path.length === 3 && path[0] === "metadata" && Object.keys(parent).length === 0) {
    delete (obj.metadata as JsonObject)[path[1]];
  }
}
