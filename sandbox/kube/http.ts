/**
 * HTTP routing for the sandbox: authentication, discovery, OpenAPI and the REST verbs on
 * objects. Every request is recorded on arrival, before any injected delay, and its record
 * completed with the status once answered, for tests to assert on (a test that kills a client at a
 * step boundary sees the held request as soon as it arrives).
 * Faults (a Status error, a dropped answer, a delay) can be injected into the next matching
 * requests, before authentication, as an overloaded or flaky apiserver (or its proxy) would.
 */

import YAML from "yaml";
import {
  apiGroup,
  apiGroupList,
  apiResourceList,
  apiVersions,
  openApiGroupVersion,
  openApiIndex,
  serverVersion,
} from "./discovery.ts";
import type { Objects, PatchKind } from "./objects.ts";
import { decodeProtobufObject, PROTOBUF_TYPE } from "./protobuf.ts";
import { CRD_TYPE, type Registry, type ResourceType } from "./registry.ts";
import { fieldSelector, labelSelector, type Predicate } from "./selectors.ts";
import {
  ApiError,
  badRequest,
  forbidden,
  type JsonObject,
  methodNotAllowed,
  unauthorized,
  unknownPath,
  unsupportedMediaType,
} from "./status.ts";
import { printerColumns, toTable, wantsTable } from "./table.ts";
import type { Watches } from "./watch.ts";

export interface RequestRecord {
  method: string;
  path: string;
  query: string;
  contentType: string | null;
  /**
   * The status answered; 0 when the answer was dropped by an injected `reset`, and while the
   * request is not answered yet (`answered` false).
   */
  status: number;
  /** False from the request's arrival until its answer (e.g. while an injected delay holds it). */
  answered: boolean;
  /** When the request arrived (Date.now()), before any injected delay. */
  at: number;
  /** Set when an injected fault hit this request ("mid-body": the answer was cut off). */
  fault?: "status" | "reset" | "mid-body" | "delay";
  /** The request body as text, only when the sandbox was started with `recordBodies`. */
  body?: string;
}

/**
 * A fault for the next matching requests (`times`, default 1). Matching: `method` (any case)
 * and/or `pathIncludes` (a substring of the URL path, without the query); both absent match
 * every request. Effects, in order: wait `delayMs` (cut short only by the sandbox closing), then
 * either answer a `Status` with `status` (429 TooManyRequests with `Retry-After` when
 * `retryAfterSeconds` is set, 500 InternalError, 503 ServiceUnavailable, …), or with `reset`
 * answer nothing: the response stream is errored before any byte of it is sent, which HTTP/2
 * clients (Deno's fetch, kubectl) see as a reset stream, i.e. a failed request without a status.
 * (An HTTP/1.1-only client would get the status line first and then a broken body.)
 * `reset: "mid-body"` handles the request, sends the status, headers and part of the body, then
 * resets the stream: the client's fetch resolves, reading the body fails. A fault with only
 * `delayMs` delays the request, then handles it normally. `message` replaces the Status
 * message of a `status` fault (what a server may echo back: tests of output sanitising).
 * `location` adds a Location header to the injected status (a redirect, which a real API server
 * never answers).
 */
export interface KubeFault {
  status?: number;
  message?: string;
  retryAfterSeconds?: number;
  location?: string;
  reset?: boolean | "mid-body";
  delayMs?: number;
  times?: number;
  method?: string;
  pathIncludes?: string;
}

/** The queue of injected faults; the first fault (in insertion order) that matches is used. */
export class Faults {
  readonly #pending: (KubeFault & { left: number })[] = [];
  readonly #closed = new AbortController();

  add(fault: KubeFault): void {
    const times = fault.times ?? 1;
    if (!Number.isInteger(times) || times < 1) {
      throw new RangeError(`fault.times must be an integer ≥ 1, got ${times}`);
    }
    const redirect = fault.location !== undefined && fault.status !== undefined &&
      fault.status >= 300 && fault.status <= 399;
    if (fault.status !== undefined && !redirect && !(fault.status >= 400 && fault.status <= 599)) {
      throw new RangeError(
        `fault.status must be an HTTP error status (or a redirect with location), got ${fault.status}`,
      );
    }
    if (fault.status !== undefined && fault.reset) {
      throw new RangeError("a fault is either a status or a reset, not both");
    }
    if (fault.status === undefined && !fault.reset && !fault.delayMs) {
      throw new RangeError("a fault needs status, reset or delayMs");
    }
    this.#pending.push({ ...fault, left: times });
  }

  /** Takes one use of the first fault matching this request, if any. */
  take(method: string, path: string): KubeFault | undefined {
    const i = this.#pending.findIndex((f) =>
      (f.method === undefined || f.method.toUpperCase() === method.toUpperCase()) &&
      (f.pathIncludes === undefined || path.includes(f.pathIncludes))
    );
    if (i < 0) return undefined;
    const fault = this.#pending[i];
    if (--fault.left <= 0) this.#pending.splice(i, 1);
    return fault;
  }

  /**
   * Waits `ms`; ends early once `close()` was called. (Not on the client going away: reading
   * `Request.signal` makes Deno.serve print a warning, and a real apiserver carries on too.)
   */
  wait(ms: number): Promise<void> {
    const signal = this.#closed.signal;
    if (signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener("abort", done);
    });
  }

  /** Drops pending faults and ends running delays, so a server shutdown is not held up. */
  close(): void {
    this.#pending.length = 0;
    this.#closed.abort();
  }
}

export interface HttpContext {
  objects: Objects;
  registry: Registry;
  watches: Watches;
  token: string;
  forbiddenToken: string | undefined;
  /** host:port, for APIVersions.serverAddressByClientCIDRs. */
  serverAddress: string;
  /** What GET /version reports ("v1.33.0"). */
  kubernetesVersion: string;
  record(r: RequestRecord): void;
  /** Injected faults (none when absent). */
  faults?: Faults;
  /** Keep each request's body in its record (off by default: bodies can be large). */
  recordBodies?: boolean;
}

/** The user name RBAC-style 403 messages name for the forbidden token. */
export const FORBIDDEN_USER = "system:serviceaccount:default:sandbox-forbidden";

const PATCH_TYPES: Record<string, PatchKind | "apply"> = {
  "application/merge-patch+json": "merge",
  "application/json-patch+json": "json",
  "application/strategic-merge-patch+json": "strategic",
  "application/apply-patch+yaml": "apply",
};

export function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json" },
  });
}

function errorResponse(err: unknown): Response {
  if (err instanceof ApiError) return json(err.code, err.toStatus());
  const message = err instanceof Error ? err.message : String(err);
  return json(500, new ApiError(500, "InternalError", message).toStatus());
}

/** Reason and message of the `Status` an injected fault answers, as kube-apiserver words them. */
const FAULT_STATUS: Record<number, [string, string]> = {
  400: ["BadRequest", "injected fault: bad request"],
  401: ["Unauthorized", "Unauthorized"],
  403: ["Forbidden", "injected fault: forbidden"],
  404: ["NotFound", "injected fault: not found"],
  409: ["Conflict", "injected fault: the object has been modified"],
  422: ["Invalid", "injected fault: invalid"],
  429: ["TooManyRequests", "Too many requests, please try again later."],
  500: ["InternalError", "Internal error occurred: injected fault"],
  503: ["ServiceUnavailable", "the server is currently unable to handle the request"],
  504: [
    "Timeout",
    "the server was unable to return a response in the time allotted, but may still be processing the request",
  ],
};

function faultResponse(fault: KubeFault & { status: number }): Response {
  const [reason, message] = FAULT_STATUS[fault.status] ??
    [fault.status >= 500 ? "InternalError" : "Unknown", `injected fault (${fault.status})`];
  const res = json(
    fault.status,
    new ApiError(fault.status, reason, fault.message ?? message).toStatus(),
  );
  if (fault.retryAfterSeconds !== undefined) {
    res.headers.set("retry-after", String(fault.retryAfterSeconds));
  }
  if (fault.location !== undefined) res.headers.set("location", fault.location);
  return res;
}

/**
 * A response that fails before its first byte: Deno.serve then resets the HTTP/2 stream
 * (RST_STREAM) without sending any header, so the client's fetch rejects with no status.
 */
function droppedResponse(): Response {
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      // Deno.serve logs the stream's error; a string keeps that to one line without a stack.
      controller.error("kube sandbox: injected fault: answer dropped (reset)");
    },
  });
  return new Response(body, { status: 200 });
}

/** The real answer's status and headers and the first half of its first chunk, then a reset. */
async function cutOffResponse(res: Response): Promise<Response> {
  const reader = res.body?.getReader();
  const first = reader ? await reader.read() : { done: true, value: undefined };
  await reader?.cancel().catch(() => {});
  const bytes = first.value ?? new Uint8Array();
  const part = bytes.subarray(0, Math.max(1, bytes.length >> 1));
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(part);
    },
    async pull(controller) {
      // Let the headers and the first part go out before the stream is reset.
      await new Promise((r) => setTimeout(r, 20));
      controller.error("kube sandbox: injected fault: answer cut off (mid-body reset)");
    },
  });
  return new Response(body, { status: res.status, headers: res.headers });
}

/**
 * The body as text, and a request that can still be read. (Not `Request.clone()`: it reads
 * `Request.signal`, which makes Deno.serve print a warning.)
 */
async function withBodyText(req: Request): Promise<{ req: Request; body?: string }> {
  if (!req.body || req.method === "GET" || req.method === "HEAD") return { req };
  const bytes = new Uint8Array(await req.arrayBuffer());
  const copy = new Request(req.url, { method: req.method, headers: req.headers, body: bytes });
  return { req: copy, body: new TextDecoder().decode(bytes) };
}

export async function handleRequest(ctx: HttpContext, incoming: Request): Promise<Response> {
  const at = Date.now();
  const { req, body } = ctx.recordBodies ? await withBodyText(incoming) : { req: incoming };
  const url = new URL(req.url);
  const arrived: RequestRecord = {
    method: req.method,
    path: url.pathname,
    query: url.search.replace(/^\?/, ""),
    contentType: req.headers.get("content-type"),
    status: 0,
    answered: false,
    at,
    ...(body !== undefined ? { body } : {}),
  };
  ctx.record(arrived);
  const record = (status: number, fault?: RequestRecord["fault"]) => {
    arrived.status = status;
    arrived.answered = true;
    if (fault) arrived.fault = fault;
  };
  const fault = ctx.faults?.take(req.method, url.pathname);
  if (fault?.delayMs) await ctx.faults?.wait(fault.delayMs);
  if (fault?.reset === true) {
    record(0, "reset");
    return droppedResponse();
  }
  if (fault?.status !== undefined) {
    record(fault.status, "status");
    return faultResponse({ ...fault, status: fault.status });
  }
  let response: Response;
  try {
    response = await route(ctx, req, url);
  } catch (err) {
    response = errorResponse(err);
  }
  if (fault?.reset === "mid-body") {
    record(response.status, "mid-body");
    return await cutOffResponse(response);
  }
  record(response.status, fault ? "delay" : undefined);
  return response;
}

type Caller = "user" | "forbidden";

/** Bearer token only; anything else is 401 like an apiserver with anonymous auth off. */
function authenticate(ctx: HttpContext, req: Request): Caller {
  const header = req.headers.get("authorization") ?? "";
  const token = header.startsWith("Bearer ") ? header.slice(7).trim() : "";
  if (token && token === ctx.token) return "user";
  if (token && ctx.forbiddenToken && token === ctx.forbiddenToken) return "forbidden";
  throw unauthorized();
}

function route(ctx: HttpContext, req: Request, url: URL): Promise<Response> | Response {
  const caller = authenticate(ctx, req);
  const segs = url.pathname.split("/").filter((s) => s !== "");
  const path = "/" + segs.join("/");
  if (path === "/version") return json(200, serverVersion(ctx.kubernetesVersion));
  if (["/healthz", "/livez", "/readyz"].includes(path)) {
    return new Response("ok", { headers: { "content-type": "text/plain" } });
  }
  if (segs[0] === "openapi") return openApi(ctx, segs);
  if (segs[0] === "api") return coreApi(ctx, req, url, segs, caller);
  if (segs[0] === "apis") return groupApi(ctx, req, url, segs, caller);
  throw unknownPath();
}

function openApi(ctx: HttpContext, segs: string[]): Response {
  if (segs[1] !== "v3") throw unknownPath();
  if (segs.length === 2) return json(200, openApiIndex(ctx.registry));
  const doc = openApiGroupVersion(ctx.registry, segs.slice(2).join("/"));
  if (!doc) throw unknownPath();
  return json(200, doc);
}

function coreApi(
  ctx: HttpContext,
  req: Request,
  url: URL,
  segs: string[],
  caller: Caller,
): Promise<Response> | Response {
  if (segs.length === 1) return json(200, apiVersions(ctx.serverAddress));
  if (segs[1] !== "v1") throw unknownPath();
  if (segs.length === 2) return json(200, apiResourceList(ctx.registry, "", "v1"));
  return resourceRequest(ctx, req, url, "", "v1", segs.slice(2), caller);
}

function groupApi(
  ctx: HttpContext,
  req: Request,
  url: URL,
  segs: string[],
  caller: Caller,
): Promise<Response> | Response {
  if (segs.length === 1) return json(200, apiGroupList(ctx.registry));
  const group = segs[1];
  if (!ctx.registry.groups().includes(group)) throw unknownPath();
  if (segs.length === 2) return json(200, apiGroup(ctx.registry, group));
  const version = segs[2];
  if (!ctx.registry.groupVersions(group).includes(version)) throw unknownPath();
  if (segs.length === 3) return json(200, apiResourceList(ctx.registry, group, version));
  return resourceRequest(ctx, req, url, group, version, segs.slice(3), caller);
}

interface Target {
  namespace: string | undefined;
  resource: string;
  name: string | undefined;
  subresource: string | undefined;
}

/**
 * `namespaces/{ns}/{resource}[/{name}[/{sub}]]` or `{resource}[/{name}[/{sub}]]`; note
 * `namespaces/{name}/status` is the Namespace status subresource, not a resource called status.
 */
function parseTarget(rest: string[]): Target {
  const namespaceSub = rest.length === 3 && ["status", "finalize"].includes(rest[2]);
  if (rest[0] === "namespaces" && rest.length >= 3 && !namespaceSub) {
    if (rest.length > 5) throw unknownPath();
    return { namespace: rest[1], resource: rest[2], name: rest[3], subresource: rest[4] };
  }
  if (rest.length > 3) throw unknownPath();
  return { namespace: undefined, resource: rest[0], name: rest[1], subresource: rest[2] };
}

function verbOf(method: string, target: Target, watch: boolean): string {
  switch (method) {
    case "GET":
      return watch ? "watch" : target.name ? "get" : "list";
    case "POST":
      return "create";
    case "PUT":
      return "update";
    case "PATCH":
      return "patch";
    case "DELETE":
      return target.name ? "delete" : "deletecollection";
    default:
      return method.toLowerCase();
  }
}

function resolveType(
  ctx: HttpContext,
  group: string,
  version: string,
  target: Target,
): ResourceType {
  const t = ctx.registry.find(group, version, target.resource);
  if (!t) throw unknownPath();
  if (target.namespace !== undefined && !t.namespaced) throw unknownPath();
  if (
    target.subresource !== undefined && !(target.subresource === "status" && t.statusSubresource)
  ) {
    throw unknownPath();
  }
  return t;
}

function resourceRequest(
  ctx: HttpContext,
  req: Request,
  url: URL,
  group: string,
  version: string,
  rest: string[],
  caller: Caller,
): Promise<Response> | Response {
  const target = parseTarget(rest);
  const t = resolveType(ctx, group, version, target);
  const q = url.searchParams;
  const watch = q.get("watch") === "true" || q.get("watch") === "1";
  if (caller === "forbidden") {
    throw forbidden(
      FORBIDDEN_USER,
      verbOf(req.method, target, watch),
      t,
      target.name,
      target.namespace,
    );
  }
  switch (req.method) {
    case "GET":
      return read(ctx, req, url, t, target, watch);
    case "POST":
      return create(ctx, req, url, t, target);
    case "PUT":
      return replace(ctx, req, url, t, target);
    case "PATCH":
      return patch(ctx, req, url, t, target);
    case "DELETE":
      return remove(ctx, req, url, t, target);
    default:
      throw methodNotAllowed();
  }
}

function selectors(q: URLSearchParams, name: string | undefined): Predicate {
  const labels = labelSelector(q.get("labelSelector"));
  const fields = fieldSelector(q.get("fieldSelector"));
  return (o) =>
    labels(o) && fields(o) &&
    (name === undefined || (o.metadata as JsonObject | undefined)?.name === name);
}

function read(
  ctx: HttpContext,
  req: Request,
  url: URL,
  t: ResourceType,
  target: Target,
  watch: boolean,
): Response {
  const q = url.searchParams;
  const table = wantsTable(req.headers.get("accept"));
  if (watch) {
    const timeout = q.get("timeoutSeconds");
    return ctx.watches.open({
      t,
      namespace: target.namespace,
      match: selectors(q, target.name),
      resourceVersion: q.get("resourceVersion"),
      sendInitialEvents: q.get("sendInitialEvents") === "true",
      timeoutSeconds: timeout ? Number(timeout) : undefined,
      render: table ? (o) => tableOf(ctx, t, [o], q) : undefined,
    });
  }
  if (target.name !== undefined && t.namespaced && target.namespace === undefined) {
    throw unknownPath();
  }
  if (target.name !== undefined) {
    const obj = ctx.objects.get(t, target.namespace, target.name);
    return json(200, table ? tableOf(ctx, t, [obj], q) : obj);
  }
  const list = ctx.objects.list(t, target.namespace, selectors(q, undefined));
  return json(200, table ? tableOf(ctx, t, list.items as JsonObject[], q) : list);
}

function tableOf(
  ctx: HttpContext,
  t: ResourceType,
  items: JsonObject[],
  q: URLSearchParams,
): JsonObject {
  const crd = t.custom
    ? ctx.objects.store.get(CRD_TYPE.group, CRD_TYPE.kind, undefined, `${t.resource}.${t.group}`)
      ?.obj
    : undefined;
  const rv = String(ctx.objects.store.resourceVersion);
  return toTable(items, rv, printerColumns(t, crd), q.get("includeObject"));
}

/** JSON, YAML when the client says so, or protobuf from typed clients (kubectl create ns). */
async function readBody(req: Request): Promise<unknown> {
  const type = req.headers.get("content-type") ?? "";
  if (type.startsWith(PROTOBUF_TYPE)) {
    return decodeProtobufObject(new Uint8Array(await req.arrayBuffer()));
  }
  const text = await req.text();
  try {
    return type.includes("yaml") ? YAML.parse(text) : JSON.parse(text);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw badRequest(`the object provided is unrecognized: ${why}`);
  }
}

/** apiserver falls back to the User-Agent's program name when no fieldManager is given. */
function managerOf(req: Request, q: URLSearchParams): string {
  const explicit = q.get("fieldManager");
  if (explicit) return explicit;
  const agent = req.headers.get("user-agent") ?? "unknown";
  return agent.split("/")[0] || "unknown";
}

function dryRun(q: URLSearchParams): boolean {
  return q.getAll("dryRun").includes("All");
}

function requireName(target: Target): string {
  if (target.name === undefined) throw methodNotAllowed();
  return target.name;
}

function requireScope(t: ResourceType, target: Target): void {
  if (t.namespaced && target.namespace === undefined) throw methodNotAllowed();
}

async function create(
  ctx: HttpContext,
  req: Request,
  url: URL,
  t: ResourceType,
  target: Target,
): Promise<Response> {
  if (target.name !== undefined) throw methodNotAllowed();
  requireScope(t, target);
  const body = await readBody(req);
  const obj = ctx.objects.create(t, target.namespace, body, {
    manager: managerOf(req, url.searchParams),
    dryRun: dryRun(url.searchParams),
  });
  return json(201, obj);
}

async function replace(
  ctx: HttpContext,
  req: Request,
  url: URL,
  t: ResourceType,
  target: Target,
): Promise<Response> {
  const name = requireName(target);
  requireScope(t, target);
  const body = await readBody(req);
  const obj = ctx.objects.replace(t, target.namespace, name, body, {
    manager: managerOf(req, url.searchParams),
    dryRun: dryRun(url.searchParams),
    subresource: target.subresource === "status" ? "status" : undefined,
  });
  return json(200, obj);
}

function patchKind(req: Request): PatchKind | "apply" {
  const type = (req.headers.get("content-type") ?? "").split(";")[0].trim().toLowerCase();
  const kind = PATCH_TYPES[type];
  if (!kind) throw unsupportedMediaType(Object.keys(PATCH_TYPES));
  return kind;
}

/** apiserver validates PatchOptions first: apply needs a manager, force is apply-only. */
function checkPatchOptions(kind: PatchKind | "apply", q: URLSearchParams): void {
  const cause = (field: string, reason: string, message: string) =>
    new ApiError(422, "Invalid", `PatchOptions.meta.k8s.io "" is invalid: ${field}: ${message}`, {
      group: "meta.k8s.io",
      kind: "PatchOptions",
      causes: [{ reason, message, field }],
    });
  if (kind === "apply" && !q.get("fieldManager")) {
    throw cause(
      "fieldManager",
      "FieldValueRequired",
      "Required value: is required for apply patch",
    );
  }
  if (kind !== "apply" && q.has("force")) {
    throw cause(
      "force",
      "FieldValueForbidden",
      "Forbidden: may not be specified for non-apply patch",
    );
  }
}

async function patch(
  ctx: HttpContext,
  req: Request,
  url: URL,
  t: ResourceType,
  target: Target,
): Promise<Response> {
  const name = requireName(target);
  requireScope(t, target);
  const q = url.searchParams;
  const kind = patchKind(req);
  checkPatchOptions(kind, q);
  const text = await req.text();
  const subresource = target.subresource === "status" ? "status" : undefined;
  if (kind === "apply") {
    const body = parsePatchBody(text, true);
    const { obj, created } = ctx.objects.apply(t, target.namespace, name, body, {
      manager: String(q.get("fieldManager")),
      force: q.get("force") === "true",
      dryRun: dryRun(q),
      subresource,
    });
    return json(created ? 201 : 200, obj);
  }
  const obj = ctx.objects.patch(t, target.namespace, name, kind, parsePatchBody(text, false), {
    manager: managerOf(req, q),
    dryRun: dryRun(q),
    subresource,
  });
  return json(200, obj);
}

function parsePatchBody(text: string, yaml: boolean): unknown {
  try {
    return yaml ? YAML.parse(text) : JSON.parse(text);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw badRequest(`error decoding patch: ${why}`);
  }
}

async function remove(
  ctx: HttpContext,
  req: Request,
  url: URL,
  t: ResourceType,
  target: Target,
): Promise<Response> {
  const q = url.searchParams;
  if (target.name === undefined) {
    return json(200, ctx.objects.deleteCollection(t, target.namespace, selectors(q, undefined)));
  }
  requireScope(t, target);
  const text = await req.text();
  let options: unknown = undefined;
  if (text.trim()) options = parsePatchBody(text, false);
  return json(200, ctx.objects.delete(t, target.namespace, target.name, options, dryRun(q)));
}
