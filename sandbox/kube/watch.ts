/**
 * `?watch=true` streams: newline-delimited JSON events, as kubectl wait and informers consume.
 * Without a resourceVersion (or with "0") existing objects arrive first as ADDED; with one,
 * the store's history since that version is replayed, so list-then-watch loses nothing.
 */

import type { Objects } from "./objects.ts";
import type { ResourceType } from "./registry.ts";
import type { Predicate } from "./selectors.ts";
import type { JsonObject } from "./status.ts";
import type { ChangeEvent } from "./store.ts";

export interface WatchRequest {
  t: ResourceType;
  namespace: string | undefined;
  match: Predicate;
  resourceVersion: string | null;
  sendInitialEvents: boolean;
  timeoutSeconds: number | undefined;
  /** Reshapes each event object, e.g. into a one-row Table for `kubectl get -w`. */
  render?: (obj: JsonObject) => JsonObject;
}

const encoder = new TextEncoder();

export class Watches {
  #objects: Objects;
  #open = new Set<() => void>();

  constructor(objects: Objects) {
    this.#objects = objects;
  }

  get size(): number {
    return this.#open.size;
  }

  /** Ends every stream; used by close() so servers can shut down and tests stay sanitized. */
  closeAll(): void {
    for (const close of [...this.#open]) close();
  }

  open(req: WatchRequest): Response {
    let stop = () => {};
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        stop = this.#start(req, controller);
      },
      cancel: () => stop(),
    });
    return new Response(body, {
      status: 200,
      headers: { "content-type": "application/json" },
    });
  }

  #start(req: WatchRequest, controller: ReadableStreamDefaultController<Uint8Array>): () => void {
    const { t } = req;
    const store = this.#objects.store;
    let closed = false;
    const send = (type: string, obj: JsonObject) => {
      if (closed) return;
      const object = req.render && type !== "BOOKMARK" && type !== "ERROR" ? req.render(obj) : obj;
      controller.enqueue(encoder.encode(JSON.stringify({ type, object }) + "\n"));
    };
    const relevant = (ev: ChangeEvent) =>
      ev.group === t.group && ev.kind === t.kind &&
      (!t.namespaced || req.namespace === undefined || ev.namespace === req.namespace);
    const forward = (ev: ChangeEvent) => {
      if (!relevant(ev)) return;
      const obj = this.#objects.present(t, ev.obj);
      if (req.match(obj)) send(ev.type, obj);
    };
    let timer: ReturnType<typeof setTimeout> | undefined;
    const unsubscribe = store.subscribe(forward);
    const stop = () => {
      if (closed) return;
      closed = true;
      unsubscribe();
      clearTimeout(timer);
      this.#open.delete(finish);
    };
    const finish = () => {
      const wasOpen = !closed;
      stop();
      if (wasOpen) controller.close();
    };
    this.#open.add(finish);
    if (!this.#initialEvents(req, send, forward)) {
      finish();
      return stop;
    }
    if (req.timeoutSeconds !== undefined) timer = setTimeout(finish, req.timeoutSeconds * 1000);
    return stop;
  }

  /** Sends the backlog; false when the requested resourceVersion is too old (410 Gone). */
  #initialEvents(
    req: WatchRequest,
    send: (type: string, object: JsonObject) => void,
    forward: (ev: ChangeEvent) => void,
  ): boolean {
    const rv = Number(req.resourceVersion ?? "0");
    if (req.sendInitialEvents || !rv) {
      const list = this.#objects.list(req.t, req.namespace, req.match);
      for (const item of list.items as JsonObject[]) send("ADDED", item);
      if (req.sendInitialEvents) send("BOOKMARK", this.#bookmark(req.t));
      return true;
    }
    const past = this.#objects.store.eventsSince(rv);
    if (!past) {
      send("ERROR", {
        kind: "Status",
        apiVersion: "v1",
        metadata: {},
        status: "Failure",
        message: `too old resource version: ${rv} (${this.#objects.store.resourceVersion})`,
        reason: "Expired",
        code: 410,
      });
      return false;
    }
    for (const ev of past) forward(ev);
    return true;
  }

  #bookmark(t: ResourceType): JsonObject {
    return {
      kind: t.kind,
      apiVersion: t.group ? `${t.group}/${t.version}` : t.version,
      metadata: {
        resourceVersion: String(this.#objects.store.resourceVersion),
        annotations: { "k8s.io/initial-events-end": "true" },
      },
    };
  }
}
