/**
 * A thin Kubernetes REST client over Deno's fetch.
 *
 * Why not @kubernetes/client-node's API classes: they run on node-fetch + https.Agent, lose the
 * `Status` body in some error paths and make request counting and timeouts awkward. Kubeconfigs
 * are read by ./kubeconfig.ts; users with exec/OIDC credential plugins still go through the
 * library's KubeConfig (applyToHTTPSOptions), imported only for them.
 */
import type { KubeObject } from "../manifests/types.ts";
import { KubeApiError, kubeError, type KubeStatus } from "./errors.ts";
import { DEFAULT_RETRY, type RetryPolicy, withRetry } from "../util/retry.ts";
import { debug } from "../util/debug.ts";
import { serverText } from "../util/redact.ts";
import { readBody, TruncatedBodyError } from "../util/bounded_read.ts";
import { DEFAULT_LIMITS, formatSize, LimitExceededError, raiseHint } from "../util/limits.ts";
import { type KubeTarget, resolveKubeContext, simpleConnection } from "./kubeconfig.ts";
import { acquireHttpClient, pluginConnection } from "./connection.ts";

export const FIELD_MANAGER = "fluxfleet";

export type { KubeTarget };

export interface KubeClient {
  context: string;
  server: string;
  /** GET an object; undefined when it does not exist (404). */
  get(path: string): Promise<Record<string, unknown> | undefined>;
  /** Server-side apply (field manager `fluxfleet`, force) of one object; returns the result. */
  apply(obj: KubeObject): Promise<Record<string, unknown>>;
  /** REST path of an object (discovery for kinds it does not know). */
  objectPath(obj: Pick<KubeObject, "apiVersion" | "kind" | "metadata">): Promise<string>;
  /** Forget cached discovery, e.g. after CRDs were applied. */
  resetDiscovery(): void;
  /** DELETE; false when it was already gone (404). */
  delete(path: string): Promise<boolean>;
  /** JSON merge patch (used to clear finalizers). */
  mergePatch(path: string, patch: unknown): Promise<Record<string, unknown>>;
  /** Collection path of a kind in all namespaces, e.g. for listing custom resources. */
  collectionPath(apiVersion: string, kind: string): Promise<string | undefined>;
  close(): void;
}

interface ResourceInfo {
  plural: string;
  namespaced: boolean;
}

/** Kinds fluxfleet reads on every run: known paths save discovery round trips. */
const WELL_KNOWN: Record<string, ResourceInfo> = {
  "v1/Namespace": { plural: "namespaces", namespaced: false },
  "v1/Secret": { plural: "secrets", namespaced: true },
  "source.toolkit.fluxcd.io/v1/GitRepository": { plural: "gitrepositories", namespaced: true },
  "kustomize.toolkit.fluxcd.io/v1/Kustomization": { plural: "kustomizations", namespaced: true },
  "apiextensions.k8s.io/v1/CustomResourceDefinition": {
    plural: "customresourcedefinitions",
    namespaced: false,
  },
};

/** Re-exported for callers that check a target before contacting anything. */
export { resolveKubeContext };

export interface KubeClientOptions {
  /** Per-request timeout. */
  timeoutMs?: number;
  retry?: RetryPolicy;
  /** The deadline of the work the requests serve (`--cluster-timeout`): ends them early. */
  deadline?: () => AbortSignal | undefined;
  /** Bytes one answer may have (the kube-response limit). */
  maxResponseBytes?: number;
}

export async function createKubeClient(
  target: KubeTarget,
  opts: KubeClientOptions = {},
): Promise<KubeClient> {
  const conn = simpleConnection(target) ?? await pluginConnection(target);
  const { context, server, ca, cert, key } = conn;
  if (/^http:\/\//i.test(server) && !target.allowInsecureHttp) {
    // Bearer tokens and the source secret would cross the network in clear text.
    throw new Error(
      `kube.context "${context}": the API server ${server} is plain http://, which would send the credentials and secrets unencrypted; use https://, or set kube.allowInsecureHttp: true to allow it`,
    );
  }
  const { client, release } = acquireHttpClient(ca, cert, key);
  const headers: Record<string, string> = { Accept: "application/json", ...conn.headers };
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const retry = opts.retry ?? DEFAULT_RETRY;
  const maxResponseBytes = opts.maxResponseBytes ?? DEFAULT_LIMITS.kubeResponse;
  const discovery = new Map<string, Map<string, ResourceInfo>>();

  /**
   * One HTTP exchange; throws when the server cannot be reached or its answer cannot be used:
   * a redirect (never followed: the API server does not redirect, and following one would carry
   * the token and the Secret's body elsewhere), an answer over the kube-response limit, or a
   * 2xx answer that is not complete JSON (a cut connection, not "the object exists").
   */
  async function send(method: string, path: string, body?: string, contentType?: string) {
    let res: Response;
    let raw: string;
    const started = performance.now();
    const url = server + path;
    const took = () => Math.round(performance.now() - started);
    try {
      res = await fetch(url, {
        method,
        headers: contentType ? { ...headers, "Content-Type": contentType } : headers,
        body,
        client,
        signal: withDeadline(AbortSignal.timeout(timeoutMs), opts.deadline?.()),
        redirect: "manual",
      });
    } catch (e) {
      debug(`kube ${context}: ${method} ${path} -> no answer (${took()} ms)`);
      throw new KubeApiError(
        0,
        "ConnectionFailed",
        `cannot reach the cluster API of context "${context}" at ${server}: ${connectionReason(e)}`,
      );
    }
    if (res.status >= 300 && res.status < 400) {
      await res.body?.cancel().catch(() => {});
      debug(`kube ${context}: ${method} ${path} -> ${res.status} (${took()} ms)`);
      throw redirectError(context, method, url, res);
    }
    try {
      // The body is part of the exchange: a reset or timeout while reading it is a connection
      // fault.
      const bytes = await readBody(res, maxResponseBytes, () =>
        new LimitExceededError(
          `the cluster API of context "${context}" at ${server} answered ${method} ${path} with more than ${
            formatSize(maxResponseBytes)
          } (the kube-response limit); ${raiseHint("kubeResponse")}`,
        ));
      raw = new TextDecoder().decode(bytes);
      debug(`kube ${context}: ${method} ${path} -> ${res.status} (${took()} ms)`);
    } catch (e) {
      if (e instanceof LimitExceededError) throw e;
      debug(`kube ${context}: ${method} ${path} -> ${res.status}, answer cut off (${took()} ms)`);
      throw new KubeApiError(
        0,
        "ConnectionFailed",
        `the answer of the cluster API of context "${context}" at ${server} to ${method} ${path} was cut off: ${
          e instanceof TruncatedBodyError
            ? e.message.replace(/^the answer was cut off: /, "")
            : connectionReason(e)
        }`,
      );
    }
    let json: unknown;
    let complete = false;
    try {
      json = raw ? JSON.parse(raw) : undefined;
      // A Kubernetes answer is always an object.
      complete = typeof json === "object" && json !== null && !Array.isArray(json);
    } catch {
      // Not a Status (a proxy's page, a hostile answer): redacted before it is cut (serverText).
      json = { message: serverText(raw, 200) };
    }
    if (res.ok && !complete) {
      // A 2xx whose body ends early (no Content-Length, connection closed) parses as nothing or
      // fails to parse: it is a failed exchange, retried as one, never "the object exists".
      throw new KubeApiError(
        0,
        "IncompleteAnswer",
        `the cluster API of context "${context}" at ${server} answered ${method} ${path} with ${res.status} but an incomplete JSON body (${raw.length} bytes): the connection was probably cut`,
      );
    }
    return { status: res.status, json, retryAfter: res.headers.get("retry-after") };
  }

  /** Transient faults (connection, 429, 5xx) are retried with backoff; the rest are returned. */
  function request(
    method: string,
    path: string,
    body?: string,
    contentType?: string,
  ): Promise<{ status: number; json: unknown }> {
    return withRetry(
      retry,
      (e) => ({
        transient: e instanceof KubeApiError && e.transient,
        retryAfterMs: e instanceof KubeApiError ? e.retryAfterMs : undefined,
      }),
      async () => {
        const r = await send(method, path, body, contentType);
        if (r.status === 429 || r.status >= 500) {
          const seconds = Number(r.retryAfter);
          const retryAfterMs = Number.isFinite(seconds) && r.retryAfter
            ? seconds * 1000
            : undefined;
          throw kubeError(context, method, path, r.status, r.json as KubeStatus, retryAfterMs);
        }
        return r;
      },
      { what: `${method} ${path}` },
    );
  }

  async function call(method: string, path: string, body?: string, contentType?: string) {
    const r = await request(method, path, body, contentType);
    if (r.status >= 200 && r.status < 300) return r.json as Record<string, unknown>;
    throw kubeError(context, method, path, r.status, r.json as KubeStatus);
  }

  async function resources(apiVersion: string): Promise<Map<string, ResourceInfo>> {
    const cached = discovery.get(apiVersion);
    if (cached) return cached;
    const path = apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
    const r = await request("GET", path);
    const map = new Map<string, ResourceInfo>();
    if (r.status === 200) {
      const list = r.json as { resources?: { name: string; kind: string; namespaced: boolean }[] };
      for (const res of list.resources ?? []) {
        if (!res.name.includes("/")) {
          map.set(res.kind, { plural: res.name, namespaced: res.namespaced });
        }
      }
      discovery.set(apiVersion, map);
    } else if (r.status !== 404) {
      throw kubeError(context, "GET", path, r.status, r.json as KubeStatus);
    }
    return map;
  }

  async function objectPath(obj: Pick<KubeObject, "apiVersion" | "kind" | "metadata">) {
    const info = WELL_KNOWN[`${obj.apiVersion}/${obj.kind}`] ??
      (await resources(obj.apiVersion)).get(obj.kind);
    if (!info) {
      throw new Error(
        `the cluster (context "${context}") does not serve ${obj.kind} in ${obj.apiVersion} (is its CRD installed?)`,
      );
    }
    const base = obj.apiVersion.includes("/")
      ? `/apis/${obj.apiVersion}`
      : `/api/${obj.apiVersion}`;
    const ns = info.namespaced ? `/namespaces/${obj.metadata.namespace ?? "default"}` : "";
    return `${base}${ns}/${info.plural}/${encodeURIComponent(obj.metadata.name)}`;
  }

  return {
    context,
    server,
    async get(path) {
      const r = await request("GET", path);
      if (r.status === 404) return undefined;
      if (r.status >= 200 && r.status < 300) return r.json as Record<string, unknown>;
      throw kubeError(context, "GET", path, r.status, r.json as KubeStatus);
    },
    async apply(obj) {
      const path = await objectPath(obj);
      return await call(
        "PATCH",
        `${path}?fieldManager=${FIELD_MANAGER}&force=true`,
        JSON.stringify(obj),
        "application/apply-patch+yaml",
      );
    },
    objectPath,
    resetDiscovery: () => discovery.clear(),
    async delete(path) {
      const r = await request("DELETE", path);
      if (r.status === 404) return false;
      if (r.status >= 200 && r.status < 300) return true;
      throw kubeError(context, "DELETE", path, r.status, r.json as KubeStatus);
    },
    mergePatch: (path, patch) =>
      call("PATCH", path, JSON.stringify(patch), "application/merge-patch+json"),
    async collectionPath(apiVersion, kind) {
      const info = (await resources(apiVersion)).get(kind);
      if (!info) return undefined;
      const base = apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
      return `${base}/${info.plural}`;
    },
    close: release,
  };
}

function withDeadline(timeout: AbortSignal, deadline: AbortSignal | undefined): AbortSignal {
  return deadline ? AbortSignal.any([timeout, deadline]) : timeout;
}

/** A redirect in words, naming the URL asked for and where it pointed. */
function redirectError(context: string, method: string, url: string, res: Response): KubeApiError {
  const location = res.headers.get("location");
  let target = "nowhere (no Location)";
  if (location) {
    try {
      target = new URL(location, url).href;
    } catch {
      target = JSON.stringify(location.slice(0, 200));
    }
  }
  return new KubeApiError(
    res.status,
    "Redirect",
    `the cluster API of context "${context}" answered ${method} ${url} with a redirect (${res.status}) to ${target}: not followed, a Kubernetes API server does not redirect (the credentials and the request body would go to another address); check the kubeconfig's server`,
  );
}

function connectionReason(e: unknown): string {
  // Deno says "fetch failed" and keeps the reason (refused, reset, TLS…) in `cause`.
  const cause = (e as { cause?: { message?: string } })?.cause?.message;
  const msg = (e instanceof Error ? e.message : String(e)) + (cause ? `: ${cause}` : "");
  if (/timed? ?out|TimeoutError|due to timeout|signal/i.test(msg)) {
    return "no answer before the timeout";
  }
  if (/certificate|UnknownIssuer|tls/i.test(msg)) {
    return `TLS verification failed (${
      msg.split("\n")[0]
    }); check the kubeconfig certificate-authority`;
  }
  if (/refused/i.test(msg)) return "connection refused";
  return msg.split("\n")[0];
}
