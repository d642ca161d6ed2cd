/**
 * The JSON API client every forge provider with a REST API talks through: the
 * token in one header, a timeout per request, bounded retries of transient faults, the run's
 * shared rate limiter for this host and token, bounded answers, same-origin redirects only, and
 * every request recorded (tests and the bench count them). Failures are ProviderErrors in
 * words; the provider supplies the words for its statuses (`describe`).
 */
import { doingUnder, sleepUnless } from "../../util/deadline_stop.ts";
import { withRetry } from "../../util/retry.ts";
import { readBody } from "../../util/bounded_read.ts";
import { formatSize, PROVIDER_RESPONSE_BYTES } from "../../util/limits.ts";
import { ProviderError } from "../types.ts";
import { checkBaseUrl } from "./base_url.ts";
import {
  type FailureContext,
  failureError,
  failureFromNetwork,
  parseRetryAfter,
  redirectRefused,
  scrub,
  type ServiceRef,
  unexpectedShape,
} from "./errors.ts";
import {
  describeWait,
  exhaustedWait,
  type RateLimiter,
  type RateWait,
  refusalWait,
  sharedLimiter,
} from "./rate_limit.ts";

export type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

export interface RequestRecord {
  method: string;
  /** Path and query below the host, e.g. /repos/acme/fleet/keys?per_page=100 */
  path: string;
  /** 0 when no answer arrived. */
  status: number;
}

export interface ApiRequest {
  method: Method;
  /** Already-encoded path below the base URL, starting with "/". */
  path: string;
  query?: Record<string, string | number>;
  body?: unknown;
  /** For messages: "create repository acme/fleet". */
  action: string;
  /** For 404/409 messages: "repository acme/fleet". */
  subject: string;
  /** Non-2xx statuses the caller interprets itself instead of failing. */
  accept?: number[];
}

export interface ApiResponse {
  status: number;
  json: unknown;
  headers: Headers;
}

export interface RetryOptions {
  /** Total attempts, including the first. */
  attempts: number;
  initialDelayMs: number;
  maxDelayMs: number;
}

export interface ClientOptions {
  /** The forge's name, as messages name its API. */
  service: string;
  /** The API's base URL (origin and path prefix). */
  baseUrl: string;
  allowInsecureHttp: boolean;
  token: string;
  /** The Authorization header's value ("Bearer <token>", "token <token>"). */
  authorization: string;
  /** Further headers sent with every request (an API version, say). */
  headers?: Record<string, string>;
  timeoutMs: number;
  retry: RetryOptions;
  /** Extra CA (PEM) trusted for the API, for servers behind a private CA. */
  caPem?: string;
  /** Largest answer read; default PROVIDER_RESPONSE_BYTES. */
  maxResponseBytes?: number;
  /** The limiter; default the run's, shared by every client of this origin and token. */
  limiter?: RateLimiter;
  /** A rate-limit wait longer than this is an error instead (default 15 minutes). */
  maxRateWaitMs?: number;
  /** Told before a request waits for the rate limit (the progress line shows it). */
  onWait?(message: string): void;
  /**
   * The cluster's (or repository's) deadline (`--cluster-timeout`): once it aborts, the request
   * in flight and a rate-limit wait stop, and no retry starts.
   */
  deadline?(): AbortSignal | undefined;
  /** The words for a failed answer (statuses the provider knows better than statusWords). */
  describe(ctx: FailureContext): string;
  /** Sees every answer's headers (a user name the server reports, say). */
  onAnswer?(headers: Headers): void;
}

export interface JsonClient {
  send(req: ApiRequest): Promise<ApiResponse>;
  /** A GET of an absolute URL on the same origin (a next page a Link header named). */
  sendUrl(url: URL, req: Omit<ApiRequest, "path" | "query">): Promise<ApiResponse>;
  readonly ref: ServiceRef;
  /** The API's base URL, without a trailing slash. */
  readonly base: URL;
  /** Every HTTP request made, in order (retries and redirects included). */
  readonly requests: RequestRecord[];
  close(): void;
}

export const DEFAULT_MAX_RATE_WAIT_MS = 15 * 60_000;
/** A request is refused by a rate limit at most this often before it gives up. */
const MAX_RATE_WAITS = 3;
const MAX_REDIRECTS = 3;

/**
 * A POST that failed with 5xx may still have been carried out (a repository created, a key
 * added); repeating it could duplicate work, so POSTs are retried only when the server says it
 * did not process them: 429 (rate limited) and 503 (unavailable). Other methods are idempotent
 * here (GET, PUT of a grant, PATCH of settings, DELETE of a key id).
 */
function retryable(method: Method, e: ProviderError): boolean {
  if (!e.transient) return false;
  return method !== "POST" || e.status === 429 || e.status === 503;
}

function parseJson(text: string): unknown {
  if (text.trim() === "") return null;
  try {
    return JSON.parse(text);
  } catch {
    // Proxies answer errors in HTML; the status alone still tells what happened.
    return null;
  }
}

/** A same-origin redirect is followed: for GET always, for other methods only 307/308. */
function followable(method: Method, status: number): boolean {
  return [301, 302, 303, 307, 308].includes(status) &&
    (method === "GET" || status === 307 || status === 308);
}

function clock(ms: number): string {
  const at = new Date(Date.now() + ms);
  // A server may name a reset no date can hold (years away, or not a number).
  if (!Number.isFinite(at.getTime()) || ms > 366 * 24 * 3600_000) return "far in the future";
  const day = ms >= 24 * 3600_000 ? `${at.toISOString().slice(0, 10)} ` : "";
  return `${day}${at.toISOString().slice(11, 19)} UTC`;
}

export function createJsonClient(opts: ClientOptions): JsonClient {
  const base = checkBaseUrl(opts.service, opts.baseUrl, opts.allowInsecureHttp);
  const ref: ServiceRef = {
    service: opts.service,
    host: base.host,
    token: opts.token,
    timeoutMs: opts.timeoutMs,
  };
  const requests: RequestRecord[] = [];
  const client = opts.caPem ? Deno.createHttpClient({ caCerts: [opts.caPem] }) : undefined;
  const limiter = opts.limiter ?? sharedLimiter(base.origin, opts.token);
  const maxBytes = opts.maxResponseBytes ?? PROVIDER_RESPONSE_BYTES;
  const maxRateWait = opts.maxRateWaitMs ?? DEFAULT_MAX_RATE_WAIT_MS;
  const tellWait = (w: RateWait) => opts.onWait?.(describeWait(opts.service, base.host, w));
  const deadline = () => opts.deadline?.();
  /** What a request stopped by the deadline was doing: the service, its host, the request. */
  const stopWords = (action: string, doing: string) =>
    scrub(`${action}: ${doing} ${opts.service} at ${base.host} was stopped`, opts.token);
  const stopped = (action: string, doing: string) =>
    new ProviderError(stopWords(action, doing), { status: 0, transient: false });

  function urlOf(req: ApiRequest): URL {
    const url = new URL(`${base.href.replace(/\/$/, "")}${req.path}`);
    for (const [k, v] of Object.entries(req.query ?? {})) url.searchParams.set(k, String(v));
    return url;
  }

  /** One exchange, no redirect followed: the answer with its body read (bounded). */
  async function exchange(
    url: URL,
    req: Omit<ApiRequest, "path">,
  ): Promise<{ res: Response; text: string }> {
    const record: RequestRecord = {
      method: req.method,
      path: url.pathname + url.search,
      status: 0,
    };
    requests.push(record);
    const headers: Record<string, string> = {
      ...opts.headers,
      authorization: opts.authorization,
      accept: opts.headers?.accept ?? "application/json",
    };
    if (req.body !== undefined) headers["content-type"] = "application/json";
    const timeout = AbortSignal.timeout(opts.timeoutMs);
    const stop = deadline();
    const done = doingUnder(stop, stopWords(req.action, "waiting for the answer of"));
    try {
      const res = await fetch(url, {
        method: req.method,
        headers,
        body: req.body === undefined ? undefined : JSON.stringify(req.body),
        signal: stop ? AbortSignal.any([timeout, stop]) : timeout,
        client,
        // Never let the token follow a redirect on fetch's terms; `send` decides.
        redirect: "manual",
      });
      record.status = res.status;
      const bytes = await readBody(res, maxBytes, () =>
        new ProviderError(
          scrub(
            `${req.action}: ${opts.service} at ${base.host} answered with more than ${
              formatSize(maxBytes)
            }: not read further`,
            opts.token,
          ),
          { status: 0, transient: false },
        ));
      return { res, text: new TextDecoder().decode(bytes) };
    } catch (err) {
      if (err instanceof ProviderError) throw err;
      if (stop?.aborted) throw stopped(req.action, "waiting for the answer of");
      throw failureFromNetwork(ref, req.action, err);
    } finally {
      done();
    }
  }

  /** One attempt: waits for the rate limit, follows same-origin redirects, reads the JSON. */
  async function once(first: URL, req: Omit<ApiRequest, "path">): Promise<ApiResponse> {
    let url = first;
    let redirects = 0;
    for (let refusals = 0;;) {
      // Another session learnt that the limit is used up for longer than a run waits (before
      // this request, or while it waited).
      const refuseLongWait = (): void => {
        const blocked = limiter.remainingMs();
        if (!(blocked > maxRateWait)) return;
        throw new ProviderError(
          scrub(
            `${req.action}: ${opts.service}'s rate limit for this token on ${base.host} is used up until ${
              clock(blocked)
            }: re-run after that, or use another token`,
            opts.token,
          ),
          { status: 429, transient: false },
        );
      };
      refuseLongWait();
      if (deadline()?.aborted) throw stopped(req.action, "the request to");
      const waiting = doingUnder(
        deadline(),
        stopWords(req.action, "waiting for the rate limit of"),
      );
      await limiter.ready(tellWait, maxRateWait, deadline()).finally(waiting);
      if (deadline()?.aborted) throw stopped(req.action, "waiting for the rate limit of");
      refuseLongWait();
      const { res, text } = await exchange(url, req);
      opts.onAnswer?.(res.headers);
      const exhausted = exhaustedWait(res.headers);
      if (exhausted) limiter.block(exhausted);
      if (res.status >= 300 && res.status < 400) {
        const location = res.headers.get("location");
        const next = location === null ? undefined : new URL(location, url);
        if (
          !next || next.origin !== base.origin || !followable(req.method, res.status) ||
          ++redirects > MAX_REDIRECTS
        ) {
          throw redirectRefused(ref, req.action, res.status, url.href, location);
        }
        url = next;
        continue;
      }
      const json = parseJson(text);
      if (res.ok || (req.accept ?? []).includes(res.status)) {
        return { status: res.status, json, headers: res.headers };
      }
      const ctx: FailureContext = {
        ref,
        action: req.action,
        subject: req.subject,
        status: res.status,
        body: json,
        headers: res.headers,
      };
      const refusal = refusalWait(res.status, res.headers, text);
      if (refusal) {
        if (refusal.ms > maxRateWait || ++refusals > MAX_RATE_WAITS) {
          // Not transient: a retry would only wait in the limiter until the limit's end.
          throw new ProviderError(
            failureError(
              ctx,
              `${req.action}: ${opts.service}'s rate limit for this token on ${base.host} is used up until ${
                clock(refusal.ms)
              } (${res.status}, ${refusal.source}): re-run after that, or use another token`,
            ).message,
            { status: res.status, transient: false },
          );
        }
        limiter.block(refusal);
        continue;
      }
      throw failureError(
        ctx,
        opts.describe(ctx),
        parseRetryAfter(res.headers.get("retry-after")),
      );
    }
  }

  /** withRetry says how many attempts an error outlived ("gave up after N attempts"). */
  function retried(url: URL, req: Omit<ApiRequest, "path">): Promise<ApiResponse> {
    // No retry starts after the deadline, and the pause before one ends with it.
    const policy = {
      ...opts.retry,
      get signal() {
        return deadline();
      },
    };
    return withRetry(
      policy,
      (e) =>
        e instanceof ProviderError && retryable(req.method, e)
          ? { transient: true, retryAfterMs: e.retryAfterMs }
          : { transient: false },
      () => once(url, req),
      { what: req.action, sleep: (ms) => sleepUnless(ms, deadline()) },
    );
  }

  return {
    send: (req) => retried(urlOf(req), req),
    sendUrl(url, req) {
      if (url.origin !== base.origin) {
        // A link to elsewhere would take the token along.
        throw unexpectedShape(
          ref,
          req.action,
          `a link leads away from ${base.origin}: not followed`,
        );
      }
      return retried(url, req);
    },
    ref,
    base,
    requests,
    close: () => client?.close(),
  };
}
