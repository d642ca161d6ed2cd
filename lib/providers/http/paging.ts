/**
 * Link-header paging (RFC 8288), as forges answer their list endpoints (each provider cites its
 * API's page): each page names the next one in
 * `Link: <url>; rel="next"`. A listing is followed to its end, within a bound on pages; a next
 * link that leaves the API's origin, or names a page already read, is an error.
 */
import type { ApiRequest, JsonClient } from "./client.ts";
import { unexpectedShape } from "./errors.ts";

/**
 * What one listing may hold in total, whatever its pages: a page is bounded (the client's answer
 * limit) but a hostile server could fill every page up to the page bound. Deploy keys, teams and
 * shares of one repository are far fewer.
 */
export const MAX_LISTED_ITEMS = 10_000;
/** The listing's items as JSON text, in total. */
export const MAX_LISTED_CHARS = 32 * 1024 * 1024;

/** Adds a page's items to the listing, within the listing's total bounds. */
function keep(
  client: JsonClient,
  action: string,
  listing: { values: unknown[]; chars: number },
  page: unknown[],
): void {
  listing.chars += JSON.stringify(page).length;
  if (listing.values.length + page.length > MAX_LISTED_ITEMS || listing.chars > MAX_LISTED_CHARS) {
    throw unexpectedShape(
      client.ref,
      action,
      `the listing holds more than ${MAX_LISTED_ITEMS} items or ${
        MAX_LISTED_CHARS / 1024 / 1024
      } MiB; refusing to read further`,
    );
  }
  listing.values.push(...page);
}

/** The URL of `rel` in a Link header, if there is one. */
export function linkTarget(header: string | null, rel: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(/,(?=\s*<)/)) {
    const m = /^\s*<([^>]*)>(.*)$/.exec(part);
    if (!m) continue;
    const rels = /;\s*rel\s*=\s*"?([^";]+)"?/i.exec(m[2])?.[1].toLowerCase().split(/\s+/) ?? [];
    if (rels.includes(rel)) return m[1];
  }
  return undefined;
}

export interface LinkPagedRequest extends Omit<ApiRequest, "method" | "body"> {
  /** Upper bound on pages followed. */
  maxPages: number;
  /** The page's items from its JSON (default: the answer is an array). */
  items?(json: unknown): unknown[] | undefined;
}

/** Every item of a listing, across its pages. */
export async function collectLinkPages(
  client: JsonClient,
  req: LinkPagedRequest,
): Promise<unknown[]> {
  const items = req.items ?? ((json: unknown) => Array.isArray(json) ? json : undefined);
  const listing = { values: [] as unknown[], chars: 0 };
  const seen = new Set<string>();
  let res = await client.send({ ...req, method: "GET" });
  for (let page = 1;; page++) {
    const pageItems = items(res.json);
    if (!pageItems) throw unexpectedShape(client.ref, req.action, "a page is not a list");
    keep(client, req.action, listing, pageItems);
    const next = linkTarget(res.headers.get("link"), "next");
    if (next === undefined) return listing.values;
    if (page >= req.maxPages) {
      throw unexpectedShape(
        client.ref,
        req.action,
        `more than ${req.maxPages} pages; refusing to follow further`,
      );
    }
    let url: URL;
    try {
      url = new URL(next, client.base);
    } catch {
      throw unexpectedShape(client.ref, req.action, `a next-page link is not a URL`);
    }
    // A server naming the same page again would keep the loop going until the bound.
    if (seen.has(url.href)) {
      throw unexpectedShape(client.ref, req.action, "a next-page link names a page already read");
    }
    seen.add(url.href);
    res = await client.sendUrl(url, { method: "GET", action: req.action, subject: req.subject });
  }
}

export interface NumberedPagedRequest extends Omit<ApiRequest, "method" | "body"> {
  maxPages: number;
  /** The page size asked for (the server may cap it lower). */
  size: number;
  /** The query parameter of the page size ("limit", "per_page"). */
  sizeParam: string;
}

/**
 * Every item of a listing paged by number (`page` = 1, 2, …) that names its length in
 * X-Total-Count instead of linking the next page (some forges' deploy keys). A Link rel=next,
 * when a server sends one, is followed instead. Without either, a page shorter than asked for
 * is the last.
 */
export async function collectNumberedPages(
  client: JsonClient,
  req: NumberedPagedRequest,
): Promise<unknown[]> {
  const listing = { values: [] as unknown[], chars: 0 };
  const values = listing.values;
  for (let page = 1; page <= req.maxPages; page++) {
    const res = await client.send({
      ...req,
      method: "GET",
      query: { ...req.query, page, [req.sizeParam]: req.size },
    });
    if (!Array.isArray(res.json)) {
      throw unexpectedShape(client.ref, req.action, "a page is not a list");
    }
    keep(client, req.action, listing, res.json);
    const totalHeader = res.headers.get("x-total-count");
    const total = totalHeader !== null && /^\d+$/.test(totalHeader.trim())
      ? Number(totalHeader)
      : undefined;
    const linked = linkTarget(res.headers.get("link"), "next") !== undefined;
    const more = res.json.length > 0 &&
      (total !== undefined ? values.length < total : linked || res.json.length >= req.size);
    if (!more) return values;
  }
  throw unexpectedShape(
    client.ref,
    req.action,
    `more than ${req.maxPages} pages; refusing to follow further`,
  );
}
