/**
 * Object semantics of the sandbox API: create/replace/patch/apply/delete with the metadata,
 * validation and kind-specific rules real clients notice. HTTP-agnostic; handlers call this.
 */

import { deepEqual, isObject, jsonPatch, mergePatch } from "./json.ts";
import {
  apiVersionOf,
  CRD_TYPE,
  NAMESPACE_TYPE,
  type Registry,
  type ResourceType,
  splitApiVersion,
} from "./registry.ts";
import { normalizeKind, nowTimestamp } from "./kinds.ts";
import type { Predicate } from "./selectors.ts";
import { type FieldPath, managedFields, mergeApply, ownedPaths } from "./ssa.ts";
import {
  alreadyExists,
  ApiError,
  badRequest,
  conflict,
  deletedStatus,
  invalid,
  type JsonObject,
  notFound,
  unsupportedMediaType,
} from "./status.ts";
import { clone, type Entry, meta, type Store } from "./store.ts";

export interface WriteOptions {
  /** Field manager recorded in managedFields (Update operations). */
  manager?: string;
  dryRun?: boolean;
  subresource?: "status";
  /** Sandbox-internal writes (Flux stand-in): may set status on the main resource. */
  internal?: boolean;
}

export interface ApplyOptions extends WriteOptions {
  manager: string;
  force: boolean;
}

export type PatchKind = "merge" | "json" | "strategic";

/** Namespaces a real cluster refuses to delete. */
const UNDELETABLE_NAMESPACES = new Set(["default", "kube-system", "kube-public"]);

const NAME_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Owner-map key; status ownership is kept apart so main-resource applies never drop it. */
function ownerKey(manager: string, subresource: string | undefined): string {
  return subresource ? `${manager}\u0000${subresource}` : manager;
}

export class Objects {
  readonly store: Store;
  readonly registry: Registry;

  constructor(store: Store, registry: Registry) {
    this.store = store;
    this.registry = registry;
  }

  /** Copy for the wire, labelled with the version the client asked for. */
  present(t: ResourceType, obj: JsonObject): JsonObject {
    const { apiVersion: _a, kind: _k, ...rest } = clone(obj);
    return { apiVersion: apiVersionOf(t), kind: t.kind, ...rest };
  }

  entry(t: ResourceType, ns: string | undefined, name: string): Entry | undefined {
    return this.store.get(t.group, t.kind, t.namespaced ? ns : undefined, name);
  }

  get(t: ResourceType, ns: string | undefined, name: string): JsonObject {
    const e = this.entry(t, ns, name);
    if (!e) throw notFound(t, name);
    return this.present(t, e.obj);
  }

  list(t: ResourceType, ns: string | undefined, match: Predicate): JsonObject {
    const items = this.store.list(t.group, t.kind, t.namespaced ? ns : undefined)
      .map((e) => this.present(t, e.obj))
      .filter(match);
    return {
      kind: t.listKind,
      apiVersion: apiVersionOf(t),
      metadata: { resourceVersion: String(this.store.resourceVersion) },
      items,
    };
  }

  requireNamespace(t: ResourceType, ns: string | undefined): void {
    if (!t.namespaced) return;
    if (!ns || !this.store.get("", "Namespace", undefined, ns)) {
      throw notFound(NAMESPACE_TYPE, ns ?? "");
    }
  }

  create(t: ResourceType, ns: string | undefined, body: unknown, opts: WriteOptions): JsonObject {
    const obj = this.#checkBody(t, ns, undefined, body);
    const m = meta(obj);
    if (!m.name && typeof m.generateName === "string" && m.generateName) {
      m.name = m.generateName + crypto.randomUUID().slice(0, 5);
    }
    this.#checkName(t, obj);
    this.requireNamespace(t, ns);
    if (this.entry(t, ns, String(m.name))) throw alreadyExists(t, String(m.name));
    delete m.resourceVersion;
    const updater = this.#updater(opts, obj);
    return this.#commit(t, undefined, obj, new Map(), opts, updater);
  }

  replace(
    t: ResourceType,
    ns: string | undefined,
    name: string,
    body: unknown,
    opts: WriteOptions,
  ): JsonObject {
    const obj = this.#checkBody(t, ns, name, body);
    this.#checkName(t, obj);
    const prev = this.entry(t, ns, name);
    if (!prev) throw notFound(t, name);
    this.#checkResourceVersion(t, prev, meta(obj).resourceVersion);
    const next = opts.subresource === "status" ? withStatus(prev.obj, obj.status) : obj;
    return this.#commit(t, prev, next, prev.owners, opts, this.#updater(opts, obj));
  }

  patch(
    t: ResourceType,
    ns: string | undefined,
    name: string,
    kind: PatchKind,
    patch: unknown,
    opts: WriteOptions,
  ): JsonObject {
    if (kind === "strategic" && t.custom) {
      throw unsupportedMediaType([
        "application/json-patch+json",
        "application/merge-patch+json",
        "application/apply-patch+yaml",
      ]);
    }
    const prev = this.entry(t, ns, name);
    if (!prev) throw notFound(t, name);
    // Strategic merge is approximated by merge patch: lists are replaced, not merged by key.
    const patched = kind === "json" ? jsonPatch(prev.obj, patch) : mergePatch(prev.obj, patch);
    if (!isObject(patched)) throw badRequest("patch produced a non-object");
    this.#checkResourceVersion(t, prev, meta(patched).resourceVersion);
    meta(patched).resourceVersion = meta(prev.obj).resourceVersion;
    const obj = this.#checkBody(t, ns, name, patched);
    const next = opts.subresource === "status" ? withStatus(prev.obj, obj.status) : obj;
    const changed = isObject(patch) ? patch : obj;
    return this.#commit(t, prev, next, prev.owners, opts, this.#updater(opts, changed));
  }

  /** Server-side apply; `created` tells the handler to answer 201. */
  apply(
    t: ResourceType,
    ns: string | undefined,
    name: string,
    body: unknown,
    opts: ApplyOptions,
  ): { obj: JsonObject; created: boolean } {
    if (!isObject(body)) throw badRequest("apply patch must be an object");
    if (!body.apiVersion) throw badRequest("apiVersion must be set in apply patch");
    if (!body.kind) throw badRequest("kind must be set in apply patch");
    const applied = this.#checkBody(t, ns, name, body);
    const prev = this.entry(t, ns, name);
    if (!prev && opts.subresource === "status") throw notFound(t, name);
    if (!prev) this.requireNamespace(t, ns);
    if (prev) this.#checkResourceVersion(t, prev, meta(body).resourceVersion);
    const base = prev ? clone(prev.obj) : skeleton(t, ns, name);
    const key = ownerKey(opts.manager, opts.subresource);
    const { obj, owners } = mergeApply({
      base,
      applied,
      owners: prev?.owners ?? new Map(),
      manager: key,
      force: opts.force,
      onlyStatus: opts.subresource === "status",
    });
    if (!prev) this.#checkName(t, obj);
    return { obj: this.#commit(t, prev, obj, owners, opts, undefined), created: !prev };
  }

  delete(
    t: ResourceType,
    ns: string | undefined,
    name: string,
    options: unknown,
    dryRun: boolean,
  ): JsonObject {
    const prev = this.entry(t, ns, name);
    if (!prev) throw notFound(t, name);
    checkPreconditions(t, prev, options);
    if (t === NAMESPACE_TYPE && UNDELETABLE_NAMESPACES.has(name)) {
      throw new ApiError(
        403,
        "Forbidden",
        `namespaces "${name}" is forbidden: this namespace may not be deleted`,
        {
          name,
          kind: "namespaces",
        },
      );
    }
    const shown = this.present(t, prev.obj);
    if (dryRun) return this.#deleteResponse(t, shown);
    this.#cascade(t, prev);
    this.store.remove(prev, false);
    return this.#deleteResponse(t, shown);
  }

  deleteCollection(t: ResourceType, ns: string | undefined, match: Predicate): JsonObject {
    const list = this.list(t, ns, match);
    for (const item of list.items as JsonObject[]) {
      const m = meta(item);
      const e = this.entry(t, m.namespace as string | undefined, String(m.name));
      if (!e) continue;
      this.#cascade(t, e);
      this.store.remove(e, false);
    }
    return list;
  }

  /** Status write made by the sandbox itself (a controller): not a client request. */
  setStatus(
    t: ResourceType,
    ns: string | undefined,
    name: string,
    status: JsonObject,
    manager: string,
  ): void {
    const prev = this.entry(t, ns, name);
    if (!prev) return;
    const updater = { manager, paths: ownedPaths({ status }, true), subresource: "status" };
    this.#commit(t, prev, withStatus(prev.obj, status), prev.owners, { internal: true }, updater);
  }

  #deleteResponse(t: ResourceType, shown: JsonObject): JsonObject {
    // Real registries differ: CRs and namespaces answer with the object, most built-ins with a Status.
    if (t.custom) return shown;
    if (t === NAMESPACE_TYPE) {
      meta(shown).deletionTimestamp = nowTimestamp();
      shown.status = { phase: "Terminating" };
      return shown;
    }
    const m = meta(shown);
    return deletedStatus(t, String(m.name), String(m.uid));
  }

  /** Deleting a namespace or a CRD takes everything that lived in/under it. */
  #cascade(t: ResourceType, e: Entry): void {
    if (t === NAMESPACE_TYPE) {
      for (const child of this.store.inNamespace(String(meta(e.obj).name))) {
        this.store.remove(child, false);
      }
    }
    if (t === CRD_TYPE) {
      const name = String(meta(e.obj).name);
      const removed = this.registry.unregisterCrd(name);
      const first = removed[0];
      if (first) {
        for (const child of this.store.list(first.group, first.kind, undefined)) {
          this.store.remove(child, false);
        }
      }
    }
  }

  /** Validates and copies a request body; fills apiVersion/kind/namespace from the URL. */
  #checkBody(
    t: ResourceType,
    ns: string | undefined,
    urlName: string | undefined,
    body: unknown,
  ): JsonObject {
    if (!isObject(body)) {
      throw badRequest(`the object provided is unrecognized (must be of type ${t.kind})`);
    }
    const obj = clone(body);
    if (obj.kind !== undefined && obj.kind !== t.kind) {
      throw badRequest(
        `${obj.kind} in version "${t.version}" cannot be handled as a ${t.kind}: ` +
          `kind ${obj.kind} does not match the URL's resource ${t.resource}`,
      );
    }
    if (obj.apiVersion !== undefined && !this.#sameGroup(t, String(obj.apiVersion))) {
      throw badRequest(
        `the API version in the data (${obj.apiVersion}) does not match the expected API version (${
          apiVersionOf(t)
        })`,
      );
    }
    obj.apiVersion = apiVersionOf(t);
    obj.kind = t.kind;
    if (!isObject(obj.metadata)) obj.metadata = {};
    const m = meta(obj);
    if (urlName !== undefined) {
      if (m.name === undefined || m.name === "") m.name = urlName;
      if (m.name !== urlName) {
        throw badRequest(
          `the name of the object (${m.name}) does not match the name on the URL (${urlName})`,
        );
      }
    }
    if (t.namespaced) {
      if (m.namespace !== undefined && m.namespace !== "" && m.namespace !== ns) {
        throw badRequest(
          "the namespace of the provided object does not match the namespace sent on the request",
        );
      }
      m.namespace = ns;
    } else delete m.namespace;
    return obj;
  }

  #sameGroup(t: ResourceType, apiVersion: string): boolean {
    const { group, version } = splitApiVersion(apiVersion);
    return group === t.group &&
      (version === t.version || !!this.registry.find(group, version, t.resource));
  }

  #checkName(t: ResourceType, obj: JsonObject): void {
    const name = meta(obj).name;
    if (typeof name !== "string" || name === "") {
      throw invalid(t.kind, t.group, "", [{
        reason: "FieldValueRequired",
        message: "Required value: name or generateName is required",
        field: "metadata.name",
      }]);
    }
    if (name.length > 253 || !NAME_RE.test(name)) {
      throw invalid(t.kind, t.group, name, [{
        reason: "FieldValueInvalid",
        message:
          `Invalid value: "${name}": a lowercase RFC 1123 subdomain must consist of lower case ` +
          "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
        field: "metadata.name",
      }]);
    }
  }

  #checkResourceVersion(t: ResourceType, prev: Entry, rv: unknown): void {
    if (rv === undefined || rv === null || rv === "") return;
    if (String(rv) !== meta(prev.obj).resourceVersion) {
      throw conflict(t, String(meta(prev.obj).name));
    }
  }

  #updater(
    opts: WriteOptions,
    changed: JsonObject,
  ): { manager: string; paths: FieldPath[]; subresource?: string } | undefined {
    if (opts.internal || !opts.manager) return undefined;
    const onlyStatus = opts.subresource === "status";
    return {
      manager: opts.manager,
      paths: ownedPaths(changed, onlyStatus),
      subresource: opts.subresource,
    };
  }

  /** The common write path: server-managed fields, no-op detection, persistence. */
  #commit(
    t: ResourceType,
    prev: Entry | undefined,
    obj: JsonObject,
    owners: Map<string, FieldPath[]>,
    opts: WriteOptions,
    updater: { manager: string; paths: FieldPath[]; subresource?: string } | undefined,
  ): JsonObject {
    const next = clone(obj);
    next.apiVersion = apiVersionOf(t);
    next.kind = t.kind;
    keepStatusRules(t, prev, next, opts);
    normalizeKind(t, prev, next);
    setServerMetadata(t, prev, next, owners, updater);
    if (prev && isNoop(prev.obj, next, updater !== undefined)) return this.present(t, prev.obj);
    if (opts.dryRun) return this.present(t, next);
    const type = prev ? "MODIFIED" : "ADDED";
    this.store.write({ obj: next, owners }, type, !!opts.internal, opts.subresource);
    if (t === CRD_TYPE) this.registry.registerCrd(next);
    return this.present(t, next);
  }
}

/**
 * Unchanged objects are not written (resourceVersion stays). For Update operations the
 * managedFields entry alone does not count: a no-op PUT/PATCH must not look like a change.
 * For Apply it does, so a second manager applying equal values still becomes a co-owner.
 */
function isNoop(prev: JsonObject, next: JsonObject, update: boolean): boolean {
  if (deepEqual(prev, next)) return true;
  if (!update) return false;
  const strip = (o: JsonObject) => {
    const c = clone(o);
    delete meta(c).managedFields;
    return c;
  };
  return deepEqual(strip(prev), strip(next));
}

function withStatus(obj: JsonObject, status: unknown): JsonObject {
  const next = clone(obj);
  if (status === undefined) delete next.status;
  else next.status = clone(status);
  return next;
}

function skeleton(t: ResourceType, ns: string | undefined, name: string): JsonObject {
  const metadata: JsonObject = { name };
  if (t.namespaced) metadata.namespace = ns;
  return { apiVersion: apiVersionOf(t), kind: t.kind, metadata };
}

/**
 * With a status subresource, writes to the main resource cannot change status and writes to
 * /status cannot change anything else — clients (and Flux) rely on that split.
 */
function keepStatusRules(
  t: ResourceType,
  prev: Entry | undefined,
  next: JsonObject,
  opts: WriteOptions,
): void {
  if (!t.statusSubresource || opts.internal) return;
  if (opts.subresource === "status") return;
  if (prev?.obj.status !== undefined) next.status = clone(prev.obj.status);
  else delete next.status;
}

function tracksGeneration(t: ResourceType, obj: JsonObject): boolean {
  return t.custom || (obj.spec !== undefined && t !== NAMESPACE_TYPE);
}

/** What a generation counts: everything but metadata and status. */
function genContent(obj: JsonObject): JsonObject {
  const { metadata: _m, status: _s, ...rest } = obj;
  return rest;
}

function setServerMetadata(
  t: ResourceType,
  prev: Entry | undefined,
  next: JsonObject,
  owners: Map<string, FieldPath[]>,
  updater: { manager: string; paths: FieldPath[]; subresource?: string } | undefined,
): void {
  const m = meta(next);
  const pm = prev ? meta(prev.obj) : undefined;
  m.uid = pm?.uid ?? crypto.randomUUID();
  m.creationTimestamp = pm?.creationTimestamp ?? nowTimestamp();
  if (pm) m.resourceVersion = pm.resourceVersion;
  else delete m.resourceVersion;
  if (tracksGeneration(t, next)) {
    const old = typeof pm?.generation === "number" ? pm.generation : 0;
    const same = prev && deepEqual(genContent(prev.obj), genContent(next));
    m.generation = prev && old > 0 ? (same ? old : old + 1) : 1;
  } else delete m.generation;
  const mf = managedFields(pm?.managedFields, owners, updater, apiVersionOf(t), nowTimestamp());
  if (mf.length) m.managedFields = mf;
  else delete m.managedFields;
}

function checkPreconditions(t: ResourceType, prev: Entry, options: unknown): void {
  if (!isObject(options) || !isObject(options.preconditions)) return;
  const p = options.preconditions;
  const m = meta(prev.obj);
  if (p.resourceVersion !== undefined && String(p.resourceVersion) !== m.resourceVersion) {
    throw conflict(t, String(m.name));
  }
  if (p.uid !== undefined && p.uid !== m.uid) throw conflict(t, String(m.name));
}
