/**
 * isomorphic-git HTTP transport over Deno's fetch: verified TLS (optional extra CA), HTTPS_PROXY /
 * NO_PROXY honoured by Deno, a timeout per request, and a counter for benchmarks.
 *
 * Every answer is bounded by the git-pack limit: its bytes are counted as isomorphic-git reads
 * them (it holds a whole pack in memory) and the download stops past the limit.
 *
 * Redirects are decided here, not by fetch: one that leaves the origin of the request (the one
 * git.url names) or goes from https:// to http:// is an error naming both URLs, since the
 * Authorization header (the token) and a push's body would follow it. One inside the same origin
 * is followed, as git does (at most MAX_REDIRECTS; a 301/302/303 only for GET).
 */
import type { GitHttpRequest, GitHttpResponse, HttpClient } from "isomorphic-git";
import { debug } from "../../../util/debug.ts";
import { boundedChunks } from "../../../util/bounded_read.ts";
import { DEFAULT_LIMITS, formatSize, LimitExceededError, raiseHint } from "../../../util/limits.ts";

export interface GitHttpOptions {
  caPem?: string;
  allowInsecureHttp: boolean;
  timeoutMs: number;
  /** The deadline of the work the requests serve (`--cluster-timeout`): ends them early. */
  deadline?: () => AbortSignal | undefined;
  /** Bytes one answer may have (the git-pack limit). */
  maxResponseBytes?: number;
}

const MAX_REDIRECTS = 5;

/** A redirect fluxfleet does not follow; permanent (retrying gets the same redirect). */
export class RedirectRefusedError extends Error {
  override name = "RedirectRefusedError";
  readonly transient = false;
}

/**
 * Where a redirect from `from` to `location` may go: the next URL, or a RedirectRefusedError
 * naming both URLs when it leaves `origin` or https://.
 */
export function redirectTarget(
  method: string,
  status: number,
  from: URL,
  location: string | null,
  origin: string,
): URL {
  const what = `the git server answered ${method} ${from.href} with a redirect (${status})`;
  if (!location) throw new RedirectRefusedError(`${what} without a Location`);
  let to: URL;
  try {
    to = new URL(location, from);
  } catch {
    throw new RedirectRefusedError(`${what} to an invalid URL ${JSON.stringify(location)}`);
  }
  if (from.protocol === "https:" && to.protocol !== "https:") {
    throw new RedirectRefusedError(
      `${what} to ${to.href}, which leaves https://: not followed (the token would travel unencrypted); set git.url to the repository's real https:// address`,
    );
  }
  if (to.origin !== origin) {
    throw new RedirectRefusedError(
      `${what} to ${to.href}, another server than ${origin} (git.url): not followed (the token would go there); set git.url to the repository's real address`,
    );
  }
  if ((status === 301 || status === 302 || status === 303) && method !== "GET") {
    throw new RedirectRefusedError(
      `${what} to ${to.href}: a ${method} is not re-sent after a ${status}; set git.url to the repository's real address`,
    );
  }
  return to;
}

export interface GitHttp extends HttpClient {
  requests: number;
  close(): void;
}

async function collect(
  body: AsyncIterableIterator<Uint8Array>,
): Promise<Uint8Array<ArrayBuffer>> {
  const parts: Uint8Array[] = [];
  let size = 0;
  for await (const p of body) {
    parts.push(p);
    size += p.length;
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The extra CA as an HTTP client; a file without a usable certificate is an error, not ignored. */
function caClient(caPem: string | undefined): Deno.HttpClient | undefined {
  if (!caPem) return undefined;
  // Deno skips text that is no PEM certificate, so a key or an empty file would trust nothing.
  if (!caPem.includes("-----BEGIN CERTIFICATE-----")) {
    throw new Error("git.caFile holds no PEM certificate (-----BEGIN CERTIFICATE-----)");
  }
  try {
    return Deno.createHttpClient({ caCerts: [caPem] });
  } catch (e) {
    throw new Error(`git.caFile: cannot load the CA certificate: ${(e as Error).message}`);
  }
}

/**
 * Deno's fetch reports a rejected certificate as rustls does ("…: invalid peer certificate:
 * UnknownIssuer"); in words, without the request URL the caller names anyway.
 */
function describeTlsFailure(cause: string, withCaFile: boolean): string | undefined {
  const reason = /invalid peer certificate: (\w+)/.exec(cause)?.[1];
  if (!reason) return undefined;
  if (reason === "UnknownIssuer") {
    return "the server's certificate is not trusted: unknown issuer, " +
      (withCaFile
        ? "neither the CA in git.caFile nor a system CA signed it; check that git.caFile holds " +
          "the CA that issued the server's certificate"
        : "no CA of the system trust store signed it; for a private CA, set git.caFile to the CA's " +
          "PEM file");
  }
  return `the server's certificate was rejected (${reason})`;
}

function withDeadline(timeout: AbortSignal, deadline: AbortSignal | undefined): AbortSignal {
  return deadline ? AbortSignal.any([timeout, deadline]) : timeout;
}

export function makeGitHttp(opts: GitHttpOptions): GitHttp {
  const client = caClient(opts.caPem);
  const maxBytes = opts.maxResponseBytes ?? DEFAULT_LIMITS.gitPack;
  const http: GitHttp = {
    requests: 0,
    async request(req: GitHttpRequest): Promise<GitHttpResponse> {
      let url = new URL(req.url);
      const origin = url.origin;
      if (url.protocol === "http:" && !opts.allowInsecureHttp) {
        // Defence in depth: the manifest check already refuses this.
        throw new Error(`refusing plain http:// to ${url.host} without git.allowInsecureHttp`);
      }
      const method = req.method ?? "GET";
      const body = req.body ? await collect(req.body) : undefined;
      let res: Response;
      for (let hop = 0;; hop++) {
        http.requests++;
        try {
          res = await fetch(url, {
            method,
            headers: req.headers,
            body,
            client,
            signal: withDeadline(AbortSignal.timeout(opts.timeoutMs), opts.deadline?.()),
            redirect: "manual",
          });
        } catch (e) {
          debug(`git: ${method} ${url.origin}${url.pathname} -> no answer`);
          // Deno says "fetch failed" and keeps the reason (refused, reset, TLS…) in `cause`.
          const cause = (e as { cause?: { message?: string } }).cause?.message;
          const tls = cause ? describeTlsFailure(cause, client !== undefined) : undefined;
          if (tls) throw new Error(tls);
          throw new Error(cause ? `${(e as Error).message}: ${cause}` : (e as Error).message);
        }
        debug(`git: ${method} ${url.origin}${url.pathname}${url.search} -> ${res.status}`);
        if (res.status < 300 || res.status >= 400 || res.status === 304) break;
        await res.body?.cancel().catch(() => {});
        const next = redirectTarget(method, res.status, url, res.headers.get("location"), origin);
        if (hop >= MAX_REDIRECTS) {
          throw new RedirectRefusedError(
            `the git server redirected ${req.url} more than ${MAX_REDIRECTS} times (last to ${next.href})`,
          );
        }
        url = next;
      }
      const answered = url;
      const tooLarge = () =>
        new LimitExceededError(
          `the git server ${origin} sent more than ${
            formatSize(maxBytes)
          } in one answer (${method} ${answered.pathname}; the git-pack limit); ${
            raiseHint("gitPack")
          }`,
        );
      const length = Number(res.headers.get("content-length"));
      if (Number.isFinite(length) && length > maxBytes) {
        await res.body?.cancel().catch(() => {});
        throw tooLarge();
      }
      return {
        url: res.url || url.href,
        method: req.method,
        statusCode: res.status,
        statusMessage: res.statusText,
        headers: Object.fromEntries(res.headers),
        body: res.body ? boundedChunks(res.body, maxBytes, tooLarge) : undefined,
      };
    },
    close: () => client?.close(),
  };
  return http;
}
