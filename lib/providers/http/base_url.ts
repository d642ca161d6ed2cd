/** A forge API's base URL, checked once before any request carries the token to it. */
import { ProviderError } from "../types.ts";

function invalid(message: string): ProviderError {
  return new ProviderError(message, { status: 0, transient: false });
}

/**
 * The URL, refused when it holds credentials (they would end up in logs), is not http(s), or
 * is plain http:// without `allowInsecureHttp` (the token would travel in clear text).
 * Returned without a trailing slash.
 */
export function checkBaseUrl(service: string, raw: string, allowInsecureHttp: boolean): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw invalid(`${service} URL "${raw}" is not a valid URL (expected e.g. https://host)`);
  }
  if (url.username || url.password) {
    throw invalid(
      `${service} URL for host ${url.host} must not contain credentials; pass the token separately`,
    );
  }
  if (url.protocol === "http:" && !allowInsecureHttp) {
    throw invalid(
      `refusing to send the ${service} token over plain http:// to ${url.host}: use https:// or allow insecure http explicitly`,
    );
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw invalid(`${service} URL must be https:// (got ${url.protocol}//${url.host})`);
  }
  url.pathname = url.pathname.replace(/\/+$/, "");
  url.search = "";
  url.hash = "";
  return url;
}

/**
 * The same rules as `checkBaseUrl`, said at validation about a manifest's `apiUrl` (the words
 * name the manifest's settings): undefined when the URL is usable.
 */
export function apiUrlProblem(raw: string, allowInsecureHttp: boolean): string | undefined {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return `"${raw}" is not a valid URL`;
  }
  if (u.username || u.password) return "must not contain credentials; the token goes in token";
  if (u.protocol === "http:" && !allowInsecureHttp) {
    return "plain http:// sends the token unencrypted; use https:// or set git.allowInsecureHttp: true";
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") return "must be an https:// URL";
  return undefined;
}
