/**
 * Offset pagination as GitLab answers lists (doc/api/rest/_index.md "Offset-based pagination";
 * lib/gitlab/pagination/offset_header_builder.rb): `page` (default 1) and `per_page` (default
 * 20, at most 100), headers X-Per-Page, X-Page, X-Next-Page, X-Prev-Page (empty when none),
 * X-Total, X-Total-Pages and a Link header with prev/next/first/last URLs that repeat the
 * request's other query parameters. gitbeaker follows rel="next" (getManyMore in
 * @gitbeaker/core dist/index.mjs); go-gitlab follows X-Next-Page (go-git-providers
 * gitlab/util.go allDeployKeyPages).
 */
export const DEFAULT_PER_PAGE = 20;
export const MAX_PER_PAGE = 100;

export interface Page<T> {
  items: T[];
  headers: Record<string, string>;
}

function positive(text: string | null, fallback: number): number | undefined {
  if (text === null || text === "") return fallback;
  if (!/^\d{1,9}$/.test(text)) return undefined;
  return Math.max(1, Number(text));
}

/** One page of `items` for the request `url`, links built on `base`; an error body when bad. */
export function paginate<T>(
  items: T[],
  url: URL,
  base: string,
): Page<T> | { status: 400; body: Record<string, unknown> } {
  const page = positive(url.searchParams.get("page"), 1);
  const asked = positive(url.searchParams.get("per_page"), DEFAULT_PER_PAGE);
  if (page === undefined) return { status: 400, body: { error: "page is invalid" } };
  if (asked === undefined) return { status: 400, body: { error: "per_page is invalid" } };
  const perPage = Math.min(asked, MAX_PER_PAGE);
  const totalPages = Math.max(1, Math.ceil(items.length / perPage));
  const next = page < totalPages ? page + 1 : null;
  const prev = page > 1 ? Math.min(page - 1, totalPages) : null;
  const href = (p: number) => {
    const q = new URLSearchParams();
    for (const [k, v] of url.searchParams) if (k !== "page" && k !== "per_page") q.append(k, v);
    q.set("page", String(p));
    q.set("per_page", String(asked));
    q.sort(); // Rails' to_query orders the keys
    return `${base}${url.pathname}?${q}`;
  };
  const links: string[] = [];
  if (prev !== null) links.push(`<${href(prev)}>; rel="prev"`);
  if (next !== null) links.push(`<${href(next)}>; rel="next"`);
  links.push(`<${href(1)}>; rel="first"`, `<${href(totalPages)}>; rel="last"`);
  return {
    items: items.slice((page - 1) * perPage, page * perPage),
    headers: {
      "x-per-page": String(perPage),
      "x-page": String(page),
      "x-next-page": next === null ? "" : String(next),
      "x-prev-page": prev === null ? "" : String(prev),
      "x-total": String(items.length),
      "x-total-pages": String(totalPages),
      link: links.join(", "),
    },
  };
}
