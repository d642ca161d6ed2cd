/**
 * Numbered pages, as GitHub (`page`, `per_page`) and Gitea (`page`, `limit`) both page their
 * listings, and the RFC 8288 `Link` header that tells a client where the other pages are.
 */

export interface PageRequest {
  /** 1-based. */
  page: number;
  size: number;
}

export interface Page<T> {
  items: T[];
  page: number;
  size: number;
  /** Number of the last page (1 when there is nothing). */
  last: number;
}

/**
 * Reads the page number and size from `query`: a missing, zero or unreadable number takes the
 * default, a size above `max` is cut to `max` (both sites cap rather than refuse).
 */
export function pageRequest(
  query: URLSearchParams,
  sizeParam: string,
  defaults: { size: number; max: number },
): PageRequest {
  const int = (name: string) => {
    const n = Number.parseInt(query.get(name) ?? "", 10);
    return Number.isFinite(n) && n > 0 ? n : undefined;
  };
  return {
    page: int("page") ?? 1,
    size: Math.min(int(sizeParam) ?? defaults.size, defaults.max),
  };
}

export function pageOf<T>(items: T[], req: PageRequest): Page<T> {
  const start = (req.page - 1) * req.size;
  return {
    items: items.slice(start, start + req.size),
    page: req.page,
    size: req.size,
    last: Math.max(1, Math.ceil(items.length / req.size)),
  };
}

export type LinkRel = "next" | "last" | "first" | "prev";

/**
 * The Link header for `page`, its targets made by `urlOf(pageNumber)`, relations in `order`
 * (GitHub writes prev, next, last, first; Gitea next, last, first, prev). Undefined when there is
 * a single page.
 */
export function linkHeader(
  page: Page<unknown>,
  urlOf: (n: number) => string,
  order: LinkRel[],
  separator: string,
): string | undefined {
  const targets: Record<LinkRel, number | undefined> = {
    next: page.page < page.last ? page.page + 1 : undefined,
    last: page.page < page.last ? page.last : undefined,
    first: page.page > 1 ? 1 : undefined,
    prev: page.page > 1 ? Math.min(page.page - 1, page.last) : undefined,
  };
  const parts = order.filter((rel) => targets[rel] !== undefined)
    .map((rel) => `<${urlOf(targets[rel]!)}>; rel="${rel}"`);
  return parts.length > 0 ? parts.join(separator) : undefined;
}

/** `url` with page (and any other parameters) set, the rest of its query kept. */
export function withQuery(url: URL, params: Record<string, string>): string {
  const u = new URL(url.href);
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  return u.href;
}
