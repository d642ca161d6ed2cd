/**
 * Bitbucket's paged APIs ("Paged APIs" in the Bitbucket Server REST reference, e.g.
 * https://docs.atlassian.com/bitbucket-server/rest/5.16.0/bitbucket-rest.html): a request takes
 * `start` and `limit`; the answer is {size, limit, isLastPage, start, values, nextPageStart}.
 * The server may cap `limit`, and ids in a page need not be contiguous, so the next request
 * must use nextPageStart rather than start + size.
 */
import { unexpectedShape } from "./errors.ts";
import type { Transport } from "./http.ts";
import { reader } from "./json.ts";
import type { ResolvedTarget } from "./target.ts";

export interface PagedRequest {
  path: string;
  action: string;
  subject: string;
  query?: Record<string, string | number>;
}

/** Every value of a paged listing, following nextPageStart until isLastPage, bounded by maxPages. */
export async function collectPages(
  transport: Transport,
  target: ResolvedTarget,
  req: PagedRequest,
): Promise<unknown[]> {
  const read = reader(target, req.action);
  const values: unknown[] = [];
  let start = 0;
  for (let page = 0; page < target.maxPages; page++) {
    const res = await transport.send({
      method: "GET",
      path: req.path,
      query: { ...req.query, start, limit: target.pageSize },
      action: req.action,
      subject: req.subject,
    });
    const body = read.object(res.json, "page");
    const pageValues = body.values;
    if (!Array.isArray(pageValues)) {
      throw unexpectedShape(target, req.action, `page has no "values"`);
    }
    values.push(...pageValues);
    if (body.isLastPage !== false) return values;
    const next = body.nextPageStart;
    // Without a forward-moving nextPageStart the loop would re-read the same page forever.
    if (typeof next !== "number" || !Number.isInteger(next) || next <= start) {
      throw unexpectedShape(
        target,
        req.action,
        `page at ${start} is not the last but has no usable nextPageStart`,
      );
    }
    start = next;
  }
  throw unexpectedShape(
    target,
    req.action,
    `more than ${target.maxPages} pages; refusing to follow further`,
  );
}
