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

export function makeGitHttp(opts: GitHttpOptions): GitHttp {
  const client = opts.caPem ? Deno.createHttpClient({ caCerts: [opts.caPem] }) : undefined;
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
          signal: AbortSignal.timeout(opts.timeoutMs),
        });
      } catch (e) {
        debug(`git: ${req.method ?? "GET"} ${url.origin}${url.pathname} -> no answer`);
        // Deno says "fetch failed" and keeps the reason (refused, reset, TLS…) in `cause`.
        const cause = (e as { cause?: { message?: string } }).cause?.message;
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
