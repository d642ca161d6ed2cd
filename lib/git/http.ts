/**
 * isomorphic-git HTTP transport over Deno's fetch: verified TLS (optional extra CA), HTTPS_PROXY /
 * NO_PROXY honoured by Deno, a timeout per request, and a counter for benchmarks.
 */
import type { GitHttpRequest, GitHttpResponse, HttpClient } from "isomorphic-git";
import { debug } from "../util/debug.ts";

export interface GitHttpOptions {
  caPem?: string;
  allowInsecureHttp: boolean;
  timeoutMs: number;
  /** The deadline of the work the requests serve (`--cluster-timeout`): ends them early. */
  deadline?: () => AbortSignal | undefined;
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

async function* iterate(stream: ReadableStream<Uint8Array>): AsyncIterableIterator<Uint8Array> {
  const reader = stream.getReader();
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    reader.releaseLock();
  }
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
  const http: GitHttp = {
    requests: 0,
    async request(req: GitHttpRequest): Promise<GitHttpResponse> {
      const url = new URL(req.url);
      if (url.protocol === "http:" && !opts.allowInsecureHttp) {
        // Defence in depth: the manifest check already refuses this.
        throw new Error(`refusing plain http:// to ${url.host} without git.allowInsecureHttp`);
      }
      http.requests++;
      const body = req.body ? await collect(req.body) : undefined;
      let res: Response;
      try {
        res = await fetch(req.url, {
          method: req.method ?? "GET",
          headers: req.headers,
          body,
          client,
          signal: withDeadline(AbortSignal.timeout(opts.timeoutMs), opts.deadline?.()),
        });
      } catch (e) {
        debug(`git: ${req.method ?? "GET"} ${url.origin}${url.pathname} -> no answer`);
        // Deno says "fetch failed" and keeps the reason (refused, reset, TLS…) in `cause`.
        const cause = (e as { cause?: { message?: string } }).cause?.message;
        const tls = cause ? describeTlsFailure(cause, client !== undefined) : undefined;
        if (tls) throw new Error(tls);
        throw new Error(cause ? `${(e as Error).message}: ${cause}` : (e as Error).message);
      }
      debug(
        `git: ${req.method ?? "GET"} ${url.origin}${url.pathname}${url.search} -> ${res.status}`,
      );
      return {
        url: res.url,
        method: req.method,
        statusCode: res.status,
        statusMessage: res.statusText,
        headers: Object.fromEntries(res.headers),
        body: res.body ? iterate(res.body) : undefined,
      };
    },
    close: () => client?.close(),
  };
  return http;
}
