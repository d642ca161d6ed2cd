/**
 * In-memory object store with a global resourceVersion counter and change notifications.
 *
 * Objects are keyed by group+kind (not version): a CRD serving several versions stores one
 * copy, and reads relabel `apiVersion` — the "None" conversion strategy of apiextensions.
 */

import type { JsonObject } from "./status.ts";

export type EventType = "ADDED" | "MODIFIED" | "DELETED";

export interface Entry {
  obj: JsonObject;
  /** Server-side apply: manager → dotted field paths it currently owns. */
  owners: Map<string, string[][]>;
}

export interface ChangeEvent {
  type: EventType;
  group: string;
  kind: string;
  namespace: string | undefined;
  name: string;
  /** Snapshot of the object after the change (before removal for DELETED). */
  obj: JsonObject;
  resourceVersion: number;
  /** True for writes made by the sandbox itself (Flux stand-in status updates). */
  internal: boolean;
  /** "status" for a client write to the status subresource. */
  subresource?: string;
}

export type Listener = (ev: ChangeEvent) => void;

/** How many past events a watch with `resourceVersion=N` can replay. */
const HISTORY_LIMIT = 2000;

export function objectKey(
  group: string,
  kind: string,
  namespace: string | undefined,
  name: string,
): string {
  return `${group}|${kind}|${namespace ?? ""}|${name}`;
}

export function meta(obj: JsonObject): JsonObject {
  const m = obj.metadata;
  return m && typeof m === "object" && !Array.isArray(m) ? m as JsonObject : {};
}

export function clone<T>(v: T): T {
  return structuredClone(v);
}

export class Store {
  #entries = new Map<string, Entry>();
  #rv = 1000;
  #listeners = new Set<Listener>();
  #history: ChangeEvent[] = [];

  get resourceVersion(): number {
    return this.#rv;
  }

  get(group: string, kind: string, namespace: string | undefined, name: string): Entry | undefined {
    return this.#entries.get(objectKey(group, kind, namespace, name));
  }

  /** Objects of one group/kind; namespace undefined means all namespaces (or cluster scope). */
  list(group: string, kind: string, namespace: string | undefined): Entry[] {
    const prefix = `${group}|${kind}|`;
    const out: Entry[] = [];
    for (const [key, entry] of this.#entries) {
      if (!key.startsWith(prefix)) continue;
      if (namespace !== undefined && meta(entry.obj).namespace !== namespace) continue;
      out.push(entry);
    }
    return out.sort((a, b) => sortKey(a).localeCompare(sortKey(b)));
  }

  /** Every entry living in a namespace, whatever its kind. */
  inNamespace(namespace: string): Entry[] {
    return [...this.#entries.values()].filter((e) => meta(e.obj).namespace === namespace);
  }

  /** Stores obj (bumping resourceVersion) and notifies listeners. */
  write(
    entry: Entry,
    type: "ADDED" | "MODIFIED",
    internal: boolean,
    subresource?: string,
  ): JsonObject {
    this.#rv++;
    meta(entry.obj).resourceVersion = String(this.#rv);
    const { group, kind, namespace, name } = identity(entry.obj);
    this.#entries.set(objectKey(group, kind, namespace, name), entry);
    this.#emit(type, entry.obj, internal, subresource);
    return entry.obj;
  }

  remove(entry: Entry, internal: boolean): JsonObject {
    const { group, kind, namespace, name } = identity(entry.obj);
    this.#entries.delete(objectKey(group, kind, namespace, name));
    this.#rv++;
    // A real server reports the deletion at a new resourceVersion; watchers resume from it.
    meta(entry.obj).resourceVersion = String(this.#rv);
    this.#emit("DELETED", entry.obj, internal);
    return entry.obj;
  }

  subscribe(fn: Listener): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** Events after resourceVersion `since`, or undefined when history no longer reaches back. */
  eventsSince(since: number): ChangeEvent[] | undefined {
    const first = this.#history[0];
    if (first && first.resourceVersion > since + 1 && this.#history.length >= HISTORY_LIMIT) {
      return undefined;
    }
    return this.#history.filter((e) => e.resourceVersion > since);
  }

  #emit(type: EventType, obj: JsonObject, internal: boolean, subresource?: string): void {
    const { group, kind, namespace, name } = identity(obj);
    const ev: ChangeEvent = {
      type,
      group,
      kind,
      namespace,
      name,
      obj: clone(obj),
      resourceVersion: this.#rv,
      internal,
    };
    if (subresource) ev.subresource = subresource;
    this.#history.push(ev);
    if (this.#history.length > HISTORY_LIMIT) this.#history.shift();
    for (const fn of [...this.#listeners]) fn(ev);
  }
}

function sortKey(e: Entry): string {
  const m = meta(e.obj);
  return `${m.namespace ?? ""}/${m.name}`;
}

export function identity(
  obj: JsonObject,
): { group: string; kind: string; namespace: string | undefined; name: string } {
  const apiVersion = String(obj.apiVersion ?? "");
  const slash = apiVersion.indexOf("/");
  const m = meta(obj);
  return {
    group: slash < 0 ? "" : apiVersion.slice(0, slash),
    kind: String(obj.kind ?? ""),
    namespace: typeof m.namespace === "string" ? m.namespace : undefined,
    name: String(m.name ?? ""),
  };
}
