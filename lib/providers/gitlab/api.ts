/**
 * The GitLab REST API v4 calls `flux bootstrap gitlab` makes (fluxcd/go-git-providers gitlab/
 * gitlabclient.go), through the shared forge client (lib/providers/http). Endpoints and shapes
 * per GitLab's REST docs (doc/api/*.md, cited per call). Projects and groups are addressed by
 * their URL-encoded full path ("fleet%2Fplatform%2Fapps"), as the docs allow for every `:id`.
 */
import type { ApiRequest, JsonClient } from "../http/client.ts";
import { collectLinkPages } from "../http/paging.ts";
import { unexpectedShape } from "../http/errors.ts";
import { publicKeyMaterial } from "../types.ts";
import type { Visibility } from "./settings.ts";

export interface GlProject {
  id: number;
  pathWithNamespace: string;
  visibility: Visibility;
  httpUrl: string;
  sshUrl?: string;
  /** The token user's role on the project: the higher of direct and group access (0: none). */
  accessLevel: number;
  /** Groups the project is shared with, by full path. */
  sharedWith: { groupId: number; fullPath: string; level: number }[];
}

export interface GlDeployKey {
  id: number;
  title: string;
  /** "<type> <base64>", so keys compare by their material. */
  publicKey: string;
  canPush: boolean;
}

export interface GlGroup {
  id: number;
  fullPath: string;
  /** Who may create projects: "developer", "maintainer", "noone" (doc/api/groups.md). */
  projectCreationLevel: string;
}

type Obj = Record<string, unknown>;

const PER_PAGE = 100;
/** Upper bound on pages followed for one listing (100 per page). */
const MAX_PAGES = 100;

/** The path parameter `:id` for a project or group named by its full path. */
export function encodePath(fullPath: string): string {
  return encodeURIComponent(fullPath);
}

export function obj(client: JsonClient, action: string, v: unknown, what: string): Obj {
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw unexpectedShape(client.ref, action, `${what} is not an object`);
  }
  return v as Obj;
}

export function num(client: JsonClient, action: string, o: Obj, key: string, what: string): number {
  const v = o[key];
  if (typeof v !== "number" || !Number.isFinite(v)) {
    throw unexpectedShape(client.ref, action, `${what}.${key} is not a number`);
  }
  return v;
}

export function str(client: JsonClient, action: string, o: Obj, key: string, what: string): string {
  const v = o[key];
  if (typeof v !== "string") {
    throw unexpectedShape(client.ref, action, `${what}.${key} is not a string`);
  }
  return v;
}

function levelOf(v: unknown): number {
  const level = (v as Obj | null)?.access_level;
  return typeof level === "number" ? level : 0;
}

function toProject(client: JsonClient, action: string, json: unknown): GlProject {
  const o = obj(client, action, json, "project");
  const visibility = str(client, action, o, "visibility", "project");
  if (visibility !== "private" && visibility !== "internal" && visibility !== "public") {
    throw unexpectedShape(client.ref, action, `project visibility "${visibility}"`);
  }
  const permissions = (o.permissions ?? {}) as Obj;
  const shared = Array.isArray(o.shared_with_groups) ? o.shared_with_groups : [];
  const project: GlProject = {
    id: num(client, action, o, "id", "project"),
    pathWithNamespace: str(client, action, o, "path_with_namespace", "project"),
    visibility,
    httpUrl: str(client, action, o, "http_url_to_repo", "project"),
    accessLevel: Math.max(levelOf(permissions.project_access), levelOf(permissions.group_access)),
    sharedWith: shared.map((s) => {
      const link = obj(client, action, s, "shared_with_groups[]");
      return {
        groupId: num(client, action, link, "group_id", "shared_with_groups[]"),
        fullPath: str(client, action, link, "group_full_path", "shared_with_groups[]"),
        level: num(client, action, link, "group_access_level", "shared_with_groups[]"),
      };
    }),
  };
  if (typeof o.ssh_url_to_repo === "string") project.sshUrl = o.ssh_url_to_repo;
  return project;
}

/**
 * Every item of a list, page by page (doc/api/rest/_index.md "Offset-based pagination": `page`,
 * `per_page` up to 100, a Link header naming the next page), within a bound on pages.
 */
export function listAll(
  client: JsonClient,
  req: Omit<ApiRequest, "method" | "body">,
): Promise<unknown[]> {
  return collectLinkPages(client, {
    ...req,
    query: { ...req.query, per_page: PER_PAGE },
    maxPages: MAX_PAGES,
  });
}

/** An item's required fields, read with words naming the item and the action on a wrong shape. */
export interface ItemFields {
  num(key: string): number;
  str(key: string): string;
}

/**
 * Every item of one of a project's lists (GET /projects/:id/<resource>, paged as listAll),
 * each an object `read` turns into what the session keeps; `what` names one item ("deploy key").
 */
export async function listProjectItems<T>(
  client: JsonClient,
  path: string,
  list: { resource: string; what: string },
  read: (o: Obj, fields: ItemFields) => T,
): Promise<T[]> {
  const { resource, what } = list;
  const action = `list ${what}s of ${path}`;
  const items = await listAll(client, {
    path: `/projects/${encodePath(path)}/${resource}`,
    action,
    subject: `project ${path}`,
  });
  return items.map((v) => {
    const o = obj(client, action, v, what);
    return read(o, {
      num: (key) => num(client, action, o, key, what),
      str: (key) => str(client, action, o, key, what),
    });
  });
}

/**
 * DELETE /projects/:id/<resource>/:id — one of a project's items (a deploy key, a deploy token);
 * `gone`: an item already deleted is what was wanted.
 */
export async function deleteProjectItem(
  client: JsonClient,
  path: string,
  item: { resource: string; what: string; id: number },
  opts: { gone?: boolean } = {},
): Promise<void> {
  const { resource, what, id } = item;
  await client.send({
    method: "DELETE",
    path: `/projects/${encodePath(path)}/${resource}/${id}`,
    action: `delete ${what} ${id} of ${path}`,
    subject: `${what} ${id} of ${path}`,
    ...(opts.gone ? { accept: [404] } : {}),
  });
}

/**
 * GET /personal_access_tokens/self — doc/api/personal_access_tokens.md "Get details on a
 * personal access token": the token's scopes and user_id, with any scope (GitLab 15.5+). 404
 * on older servers: the scopes are then unknown (undefined).
 */
export async function tokenSelf(
  client: JsonClient,
): Promise<{ scopes: string[]; userId: number } | undefined> {
  const action = "check the GitLab token";
  const res = await client.send({
    method: "GET",
    path: "/personal_access_tokens/self",
    action,
    subject: "the token's details",
    accept: [404],
  });
  if (res.status === 404) return undefined;
  const o = obj(client, action, res.json, "token");
  const scopes = Array.isArray(o.scopes) ? o.scopes.filter((s) => typeof s === "string") : [];
  return { scopes, userId: num(client, action, o, "user_id", "token") };
}

/** GET /user — doc/api/users.md "Get the current user": id, username, is_admin. */
export async function currentUser(
  client: JsonClient,
): Promise<{ id: number; username: string; admin: boolean }> {
  const action = "look up the token's user";
  const res = await client.send({ method: "GET", path: "/user", action, subject: "the user" });
  const o = obj(client, action, res.json, "user");
  return {
    id: num(client, action, o, "id", "user"),
    username: str(client, action, o, "username", "user"),
    admin: o.is_admin === true,
  };
}

/**
 * GET /projects/:id — doc/api/projects.md "Get a single project": 404 when it does not exist or
 * the token may not see it (absent here, not a failure). `permissions` holds the caller's
 * project_access and group_access.
 */
export async function getProject(client: JsonClient, path: string): Promise<GlProject | undefined> {
  const action = `look up project ${path}`;
  const res = await client.send({
    method: "GET",
    path: `/projects/${encodePath(path)}`,
    action,
    subject: `project ${path}`,
    accept: [404],
  });
  return res.status === 404 ? undefined : toProject(client, action, res.json);
}

/** GET /groups/:id — doc/api/groups.md "Get a single group"; undefined on 404. */
export async function getGroup(client: JsonClient, path: string): Promise<GlGroup | undefined> {
  const action = `look up group ${path}`;
  const res = await client.send({
    method: "GET",
    path: `/groups/${encodePath(path)}`,
    query: { with_projects: "false" },
    action,
    subject: `group ${path}`,
    accept: [404],
  });
  if (res.status === 404) return undefined;
  const o = obj(client, action, res.json, "group");
  return {
    id: num(client, action, o, "id", "group"),
    fullPath: str(client, action, o, "full_path", "group"),
    projectCreationLevel: typeof o.project_creation_level === "string"
      ? o.project_creation_level
      : "developer",
  };
}

/**
 * GET /groups/:id/members/all/:user_id — doc/api/members.md "Get a member of a group or
 * project, including inherited and invited members": the user's access_level; 0 when not a
 * member (404).
 */
export async function groupAccessLevel(
  client: JsonClient,
  group: GlGroup,
  userId: number,
): Promise<number> {
  const action = `look up the token's role in group ${group.fullPath}`;
  const res = await client.send({
    method: "GET",
    path: `/groups/${group.id}/members/all/${userId}`,
    action,
    subject: `group ${group.fullPath}`,
    accept: [404],
  });
  return res.status === 404 ? 0 : levelOf(res.json);
}

/**
 * POST /projects — doc/api/projects.md "Create a project": name, path, namespace_id (none: the
 * user's namespace), visibility, default_branch. 201 the project; 400 a name or path taken.
 */
export async function createProject(
  client: JsonClient,
  opts: { path: string; name: string; namespaceId?: number; visibility: Visibility },
): Promise<GlProject> {
  const action = `create project ${opts.path}`;
  const res = await client.send({
    method: "POST",
    path: "/projects",
    body: {
      name: opts.name,
      path: opts.name,
      ...(opts.namespaceId !== undefined ? { namespace_id: opts.namespaceId } : {}),
      visibility: opts.visibility,
    },
    action,
    subject: `project ${opts.path}`,
  });
  return toProject(client, action, res.json);
}

/** PUT /projects/:id — doc/api/projects.md "Edit a project": visibility. */
export async function setVisibility(
  client: JsonClient,
  path: string,
  visibility: Visibility,
): Promise<void> {
  await client.send({
    method: "PUT",
    path: `/projects/${encodePath(path)}`,
    body: { visibility },
    action: `make project ${path} ${visibility}`,
    subject: `project ${path}`,
  });
}

/** GET /projects/:id/deploy_keys — doc/api/deploy_keys.md "List deploy keys for project". */
export function listDeployKeys(client: JsonClient, path: string): Promise<GlDeployKey[]> {
  return listProjectItems(
    client,
    path,
    { resource: "deploy_keys", what: "deploy key" },
    (o, f) => ({
      id: f.num("id"),
      title: typeof o.title === "string" ? o.title : "",
      publicKey: publicKeyMaterial(f.str("key")),
      canPush: o.can_push === true,
    }),
  );
}

/**
 * POST /projects/:id/deploy_keys — doc/api/deploy_keys.md "Add deploy key for a project": title,
 * key, can_push. A key already on the project is answered as it is (its can_push unchanged):
 * callers delete a key first to change it.
 */
export async function addDeployKey(
  client: JsonClient,
  path: string,
  key: { title: string; publicKey: string; canPush: boolean },
): Promise<void> {
  await client.send({
    method: "POST",
    path: `/projects/${encodePath(path)}/deploy_keys`,
    body: { title: key.title, key: key.publicKey.trim(), can_push: key.canPush },
    action: `add deploy key "${key.title}" to ${path}`,
    subject: `a deploy key with this public key on ${path}`,
  });
}

/** DELETE /projects/:id/deploy_keys/:key_id — doc/api/deploy_keys.md "Delete deploy key". */
export function deleteDeployKey(
  client: JsonClient,
  path: string,
  id: number,
  opts: { gone?: boolean } = {},
): Promise<void> {
  return deleteProjectItem(client, path, { resource: "deploy_keys", what: "deploy key", id }, opts);
}

/**
 * POST /projects/:id/share — doc/api/projects.md "Share a project with a group": group_id,
 * group_access. 409 when already shared.
 */
export async function shareProject(
  client: JsonClient,
  path: string,
  group: GlGroup,
  level: number,
): Promise<void> {
  await client.send({
    method: "POST",
    path: `/projects/${encodePath(path)}/share`,
    body: { group_id: group.id, group_access: level },
    action: `share project ${path} with group ${group.fullPath}`,
    subject: `group ${group.fullPath}`,
  });
}

/** DELETE /projects/:id/share/:group_id — doc/api/projects.md "Delete a shared project link within a group". */
export async function unshareProject(
  client: JsonClient,
  path: string,
  groupId: number,
): Promise<void> {
  await client.send({
    method: "DELETE",
    path: `/projects/${encodePath(path)}/share/${groupId}`,
    action: `stop sharing project ${path} with group ${groupId}`,
    subject: `the share with group ${groupId}`,
  });
}
