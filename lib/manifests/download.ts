/**
 * Downloading a Flux release file (`flux.manifests` URL, `fluxfleet manifests pull`): bounded in
 * size, retried on transient faults like every other request, and failing with the URL and the
 * cause in words.
 *
 * Redirects are followed by hand: GitHub answers a release download with a redirect to its
 * object storage on another host, which is fine here (the request carries no credentials and no
 * body), but a redirect from https:// to plain http:// is refused (it would drop the integrity
 * TLS gave), naming both URLs.
 */
import { DEFAULT_RETRY, type RetryPolicy, withRetry } from "../util/retry.ts";
import { readBody, TruncatedBodyError } from "../util/bounded_read.ts";
import { DEFAULT_LIMITS, formatSize, LimitExceededError, raiseHint } from "../util/limits.ts";

export interface DownloadOptions {
  /** Bytes allowed (the `manifests` limit). */
  maxBytes?: number;
  retry?: RetryPolicy;
  /** Per attempt. */
  timeoutMs?: number;
  /** Plain http:// (the URL itself; redirects never downgrade). */
  allowInsecureHttp?: boolean;
}

const MAX_REDIRECTS = 10;

/** A failure of one attempt; `transient` ones are retried. */
export class DownloadError extends Error {
  override name = "DownloadError";
  constructor(
    message: string,
    readonly transient: boolean,
    readonly status = 0,
    /** The last attempt failed for want of a network or a server (not a refusal or a 404). */
    readonly unreachable = transient,
  ) {
    super(message);
  }
}

/** Deno says "fetch failed" and keeps the reason (refused, reset, TLS, DNS…) in `cause`. */
export function describeFetchFailure(e: unknown): string {
  const cause = (e as { cause?: { message?: string } })?.cause?.message;
  const msg = (e instanceof Error ? e.message : String(e)) + (cause ? `: ${cause}` : "");
  if (/TimeoutError|timed? ?out|due to timeout/i.test(msg)) return "no answer before the timeout";
  if (/invalid peer certificate|certificate|UnknownIssuer/i.test(msg)) {
    return `TLS verification failed (${msg.split("\n")[0]})`;
  }
  if (/refused/i.test(msg)) return "connection refused";
  if (/dns error|failed to lookup|name or service not known|no such host/i.test(msg)) {
    return "the host name does not resolve (no network, or a wrong host)";
  }
  if (/reset|closed|broken pipe|unexpected eof|error reading a body/i.test(msg)) {
    return "the connection was interrupted";
  }
  return msg.split("\n")[0];
}

async function once(url: string, opts: Required<DownloadOptions>): Promise<Uint8Array> {
  let current = url;
  for (let hop = 0;; hop++) {
    let res: Response;
    try {
      res = await fetch(current, {
        redirect: "manual",
        signal: AbortSignal.timeout(opts.timeoutMs),
      });
    } catch (e) {
      throw new DownloadError(describeFetchFailure(e), true);
    }
    if (res.status >= 300 && res.status < 400 && res.headers.has("location")) {
      await res.body?.cancel();
      const next = new URL(res.headers.get("location")!, current);
      if (new URL(current).protocol === "https:" && next.protocol !== "https:") {
        throw new DownloadError(
          `${current} redirects to ${next.href}, which is not https://: not followed`,
          false,
          res.status,
        );
      }
      if (next.protocol !== "https:" && next.protocol !== "http:") {
        throw new DownloadError(`${current} redirects to ${next.href}: not followed`, false);
      }
      if (hop >= MAX_REDIRECTS) {
        throw new DownloadError(`more than ${MAX_REDIRECTS} redirects (last: ${next.href})`, false);
      }
      current = next.href;
      continue;
    }
    if (!res.ok) {
      await res.body?.cancel();
      const transient = res.status === 429 || res.status >= 500;
      const where = current === url ? "" : ` (redirected to ${current})`;
      throw new DownloadError(`HTTP ${res.status}${where}`, transient, res.status);
    }
    try {
      return await readBody(
        res,
        opts.maxBytes,
        () =>
          new LimitExceededError(
            `the download is larger than ${formatSize(opts.maxBytes)} (the manifests limit); ${
              raiseHint("manifests")
            }`,
          ),
      );
    } catch (e) {
      if (e instanceof LimitExceededError) throw e;
      if (e instanceof TruncatedBodyError) throw new DownloadError(e.message, true);
      throw new DownloadError(describeFetchFailure(e), true);
    }
  }
}

/**
 * The bytes at `url`. Throws `flux.manifests: downloading URL failed: CAUSE` (with the number of
 * attempts when transient faults were retried).
 */
export async function download(url: string, options: DownloadOptions = {}): Promise<Uint8Array> {
  const opts: Required<DownloadOptions> = {
    maxBytes: options.maxBytes ?? DEFAULT_LIMITS.manifests,
    retry: options.retry ?? DEFAULT_RETRY,
    timeoutMs: options.timeoutMs ?? 60_000,
    allowInsecureHttp: options.allowInsecureHttp ?? false,
  };
  if (/^http:\/\//i.test(url) && !opts.allowInsecureHttp) {
    throw new DownloadError(
      `${url} is plain http://: anyone on the way can change what is installed; use https://, or allow plain http:// explicitly (flux.allowInsecureHttp, or --allow-insecure-http) and pin the SHA-256`,
      false,
    );
  }
  try {
    // withRetry says how many attempts were made ("(gave up after 4 attempts)").
    return await withRetry(
      opts.retry,
      (e) => ({ transient: e instanceof DownloadError && e.transient }),
      () => once(url, opts),
    );
  } catch (e) {
    throw new DownloadError(
      `downloading ${url} failed: ${(e as Error).message}`,
      false,
      e instanceof DownloadError ? e.status : 0,
      e instanceof DownloadError && e.transient,
    );
  }
}
