/**
 * One place that talks HTTP to Bitbucket: Bearer auth (Bitbucket HTTP access tokens,
 * https://confluence.atlassian.com/bitbucketserver/http-access-tokens-939515499.html),
 * timeouts, an optional private CA, a request log, and bounded retries of transient faults.
 */
import { withRetry } from "../../util/retry.ts";
import { ProviderError } from "../types.ts";
import { failureFromNetwork, failureFromResponse, parseRetryAfter } from "./errors.ts";
import type { ResolvedTarget } from "./target.ts";
import { readBody } from "../../util/bounded_read.ts";
import { formatSize, PROVIDER_RESPONSE_BYTES } from "../../util/limits.ts";

export type Method = "GET" | "POST" | "PUT" | "DELETE";

export interface RequestRecord {
  method: string;
  /** Path and query below the host, e.g. /rest/api/1.0/projects/FLEET?limit=1 */
  path: string;
  /** 0 when no answer arrived. */
  status: number;
}

export interface ApiRequest {
  method: Method;
  /** Already-encoded path below the base URL, starting with "/rest/". */
  path: string;
  query?: Record<string, string | number>;
  body?: unknown;
  /** For messages: "create repository FLEET/apps". */
  action: string;
  /** For 404/409 messages: "repository FLEET/apps". */
  subject: string;
  /** Non-2xx statuses the caller interprets itself instead of failing. */
  accept?: number[];
}

export interface ApiResponse {
  status: number;
  json: unknown;
}

export interface Transport {
  send(req: ApiRequest): Promise<ApiResponse>;
  readonly requests: RequestRecord[];
  /** The user Bitbucket says the token belongs to (X-AUSERNAME), once a response told us. */
  user(): string | null;
  close(): void;
}

/**
 * A POST that failed with 5xx may still have been carried out (a repository created, a key
 * added); repeating it could duplicate work, so POSTs are retried only when the server says it
 * did not process them: 429 (rate limited) and 503 (unavailable). Other methods here are
 * idempotent (GET, PUT of a permission or visibility, DELETE of a key id).
 */
function retryable(method: Method, e: ProviderError): boolean {
  if (!e.transient) return false;
  return method !== "POST" || e.status === 429 || e.status === 503;
}

function buildUrl(target: ResolvedTarget, req: ApiRequest): URL {
  const url = new URL(`${target.base}${req.path}`);
  for (const [k, v] of Object.entries(req.query ?? {})) url.searchParams.set(k, String(v));
  return url;
}

async function readJson(res: Response, tooLarge: () => Error): Promise<unknown> {
  const text = new TextDecoder().decode(await readBody(res, PROVIDER_RESPONSE_BYTES, tooLarge));
  if (text.trim() === "") return null;
  try {
    return JSON.parse(text);
  } catch {
    // Proxies answer errors in HTML; the status alone still tells what happened.
    return null;
  }
}

export function createTransport(target: ResolvedTarget): Transport {
  const requests: RequestRecord[] = [];
  const client = target.caPem ? Deno.createHttpClient({ caCerts: [target.caPem] }) : undefined;
  let user: string | null = null;

  async function once(req: ApiRequest): Promise<ApiResponse> {
    const url = buildUrl(target, req);
    const record: RequestRecord = {
      method: req.method,
      path: url.pathname + url.search,
      status: 0,
    };
    requests.push(record);
    const headers: Record<string, string> = {
      authorization: `Bearer ${target.token}`,
      accept: "application/json",
    };
    if (req.body !== undefined) headers["content-type"] = "application/json";
    let res: Response;
    let json: unknown;
    try {
      const signal = AbortSignal.timeout(target.timeoutMs);
      res = await fetch(url, {
        method: req.method,
        headers,
        body: req.body === undefined ? undefined : JSON.stringify(req.body),
        signal,
        client,
        // Never let the token follow a redirect to wherever it points; report it instead.
        redirect: "manual",
      });
      json = await readJson(res, () =>
        new ProviderError(
          `${req.action}: Bitbucket at ${target.host} answered with more than ${
            formatSize(PROVIDER_RESPONSE_BYTES)
          }: not read further`,
          { status: 0, transient: false },
        ));
    } catch (err) {
      if (err instanceof ProviderError) throw err;
      throw failureFromNetwork(target, req.action, err);
    }
    record.status = res.status;
    const who = res.headers.get("x-ausername");
    if (who) user = who;
    if (res.ok || (req.accept ?? []).includes(res.status)) return { status: res.status, json };
    throw failureFromResponse({
      target,
      action: req.action,
      subject: req.subject,
      status: res.status,
      body: json,
      user: who,
      retryAfterMs: parseRetryAfter(res.headers.get("retry-after")),
      location: res.headers.get("location"),
      url: url.href,
    });
  }

  /** withRetry says how many attempts an error outlived ("gave up after N attempts"). */
  function send(req: ApiRequest): Promise<ApiResponse> {
    return withRetry(
      target.retry,
      (e) =>
        e instanceof ProviderError && retryable(req.method, e)
          ? { transient: true, retryAfterMs: e.retryAfterMs }
          : { transient: false },
      () => once(req),
      { what: req.action },
    );
  }

  return {
    send,
    requests,
    user: () => user,
    close: () => client?.close(),
  };
}
