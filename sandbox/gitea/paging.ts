/**
 * Gitea's paging headers (services/context/api.go SetLinkHeader, base.go SetTotalCountHeader):
 * X-Total-Count on every paged listing, and on some of them a Link header with next, last, first
 * and prev (in that order, comma-separated) built from the request URL. Which listings set Link
 * follows Gitea's handlers: the deploy keys listing (repo/key.go ListDeployKeys) sets only
 * X-Total-Count, so a client that waits for a Link "next" reads one page of keys.
 */
import { linkHeader, type Page, withQuery } from "../forge/paging.ts";
import type { Call } from "./call.ts";

export function giteaPageHeaders(
  call: Call,
  page: Page<unknown>,
  total: number,
  withLink: boolean,
): Record<string, string> {
  const headers: Record<string, string> = {
    "x-total-count": String(total),
    "access-control-expose-headers": withLink ? "X-Total-Count, Link" : "X-Total-Count",
  };
  if (!withLink) return headers;
  const target = new URL(call.url.pathname + call.url.search, call.urls.web);
  const link = linkHeader(
    page,
    (n) => withQuery(target, { page: String(n) }),
    ["next", "last", "first", "prev"],
    ",",
  );
  if (link) headers.link = link;
  return headers;
}
