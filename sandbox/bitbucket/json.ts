/**
 * JSON shapes of the Bitbucket Server / Data Center REST API 1.0 as documented (Bitbucket Data
 * Center OpenAPI: RestProject, RestRepository, RestPermittedGroup, RestErrors; "Bitbucket
 * Server - SSH" REST resources for access keys; "Paged APIs" for pages).
 */
import type { KeyRecord, ProjectRecord, RepoRecord } from "./state.ts";

export type Json = Record<string, unknown>;

export interface Links {
  /** Web UI base, e.g. http://127.0.0.1:1234 */
  base: string;
  httpCloneBase: string;
  sshCloneBase?: string;
}

export function errorBody(message: string, exceptionName: string | null): Json {
  return { errors: [{ context: null, message, exceptionName }] };
}

export function projectJson(p: ProjectRecord, links: Links): Json {
  if (p.owner !== null) {
    return {
      key: p.key,
      id: p.id,
      name: p.owner,
      type: "PERSONAL",
      owner: {
        name: p.owner,
        emailAddress: `${p.owner}@example.com`,
        active: true,
        displayName: p.owner,
        id: p.id,
        slug: p.owner,
        type: "NORMAL",
        links: { self: [{ href: `${links.base}/users/${p.owner}` }] },
      },
      links: { self: [{ href: `${links.base}/users/${p.owner}` }] },
    };
  }
  return {
    key: p.key,
    id: p.id,
    name: p.name,
    public: false,
    type: "NORMAL",
    links: { self: [{ href: `${links.base}/projects/${p.key}` }] },
  };
}

export function repoJson(r: RepoRecord, links: Links): Json {
  const clone = [{ href: `${links.httpCloneBase}/${r.project.dir}/${r.slug}.git`, name: "http" }];
  if (links.sshCloneBase !== undefined) {
    clone.push({ href: `${links.sshCloneBase}/${r.project.dir}/${r.slug}.git`, name: "ssh" });
  }
  const browse = r.project.owner !== null
    ? `${links.base}/users/${r.project.owner}/repos/${r.slug}/browse`
    : `${links.base}/projects/${r.project.key}/repos/${r.slug}/browse`;
  return {
    slug: r.slug,
    id: r.id,
    name: r.name,
    hierarchyId: r.hierarchyId,
    scmId: "git",
    state: "AVAILABLE",
    statusMessage: "Available",
    forkable: true,
    project: projectJson(r.project, links),
    public: r.public,
    archived: false,
    links: { clone, self: [{ href: browse }] },
  };
}

export function accessKeyJson(k: KeyRecord, r: RepoRecord, links: Links): Json {
  return {
    key: { id: k.id, text: k.text, label: k.label },
    repository: repoJson(r, links),
    permission: k.permission,
  };
}

/**
 * One page of `items`: `start` (default 0) and `limit` (default 25, capped at `maxLimit`, as
 * servers cap it); nextPageStart only when another page follows.
 */
export function pageJson(items: unknown[], query: URLSearchParams, maxLimit: number): Json {
  const start = Math.max(0, Number.parseInt(query.get("start") ?? "0", 10) || 0);
  const asked = Number.parseInt(query.get("limit") ?? "25", 10) || 25;
  const limit = Math.min(Math.max(1, asked), maxLimit);
  const values = items.slice(start, start + limit);
  const isLastPage = start + values.length >= items.length;
  const page: Json = { size: values.length, limit, isLastPage, values, start };
  if (!isLastPage) page.nextPageStart = start + values.length;
  return page;
}
