/**
 * The REST resources the fluxfleet Bitbucket client uses, answered to the documented contract
 * (Bitbucket Data Center REST reference and "Bitbucket Server - SSH" REST resources):
 *   GET  /rest/api/1.0/projects/{key}
 *   GET  /rest/api/1.0/projects/{key}/permissions/groups                      (PROJECT_ADMIN)
 *   POST /rest/api/1.0/projects/{key}/repos                                   (PROJECT_ADMIN) 201 | 400 | 409
 *   GET  /rest/api/1.0/projects/{key}/repos/{slug}                            200 | 404
 *   PUT  /rest/api/1.0/projects/{key}/repos/{slug}                            (REPO_ADMIN) 201
 *   GET  /rest/api/1.0/projects/{key}/repos/{slug}/permissions/groups         (REPO_ADMIN) paged
 *   PUT  /rest/api/1.0/projects/{key}/repos/{slug}/permissions/groups?permission=&name=  204
 *   GET  /rest/keys/1.0/projects/{key}/repos/{slug}/ssh                       (REPO_ADMIN) paged
 *   POST /rest/keys/1.0/projects/{key}/repos/{slug}/ssh                       (REPO_ADMIN) 200 | 400 | 409
 *   DELETE /rest/keys/1.0/projects/{key}/repos/{slug}/ssh/{id}                (REPO_ADMIN) 204
 * "latest" is accepted as the version, like the real server.
 */
import {
  accessKeyJson,
  errorBody,
  type Json,
  type Links,
  pageJson,
  projectJson,
  repoJson,
} from "./json.ts";
import {
  findProject,
  findRepo,
  initBareRepo,
  newRepoRecord,
  parseKeyLine,
  type ProjectRecord,
  type RepoRecord,
  slugify,
  type State,
  validRepoName,
} from "./state.ts";

export interface AccessKeyHooks {
  authorize(publicKey: string, opts: { readOnly: boolean }): Promise<void>;
  revoke(publicKey: string): Promise<void>;
}

export interface RouteContext {
  state: State;
  links: Links;
  users: Record<string, { token: string; admin: boolean }>;
  groups: Set<string>;
  pageSize: number;
  /** Status for "authenticated but not allowed": 403, or 401 as many Bitbucket versions answer. */
  deniedStatus: 401 | 403;
  accessKeys?: AccessKeyHooks;
}

export interface Call {
  method: string;
  /** Decoded path segments after "/rest/". */
  segments: string[];
  query: URLSearchParams;
  user: string;
  json(): Promise<unknown>;
}

export interface Reply {
  status: number;
  body?: Json;
}

const REPO_PERMISSIONS = ["REPO_READ", "REPO_WRITE", "REPO_ADMIN"];
const KEY_PERMISSIONS = ["REPO_READ", "REPO_WRITE"];

const reply = (status: number, body?: Json): Reply => ({ status, body });
const fail = (status: number, message: string, exceptionName: string | null): Reply =>
  reply(status, errorBody(message, exceptionName));

function notFound(): Reply {
  return fail(404, "The requested resource could not be found.", null);
}

function methodNotAllowed(method: string): Reply {
  return fail(405, `Method ${method} is not supported by this resource.`, null);
}

function denied(ctx: RouteContext): Reply {
  return fail(
    ctx.deniedStatus,
    "You are not permitted to access this resource",
    "com.atlassian.bitbucket.AuthorisationException",
  );
}

/** Global admins administer everything; every user administers their own personal project. */
function isAdmin(ctx: RouteContext, user: string, project: ProjectRecord): boolean {
  return ctx.users[user]?.admin === true || project.owner?.toLowerCase() === user.toLowerCase();
}

function obj(v: unknown): Json {
  return typeof v === "object" && v !== null && !Array.isArray(v) ? v as Json : {};
}

async function createRepo(ctx: RouteContext, call: Call, project: ProjectRecord): Promise<Reply> {
  const body = obj(await call.json().catch(() => null));
  const name = typeof body.name === "string" ? body.name : "";
  if (!validRepoName(name)) {
    return fail(
      400,
      "Repository name must start with a letter or number and contain only letters, numbers, spaces, '.', '-' or '_'.",
      "com.atlassian.bitbucket.validation.ArgumentValidationException",
    );
  }
  if (body.scmId !== undefined && body.scmId !== "git") {
    return fail(
      400,
      `The SCM "${String(body.scmId)}" is not supported.`,
      "com.atlassian.bitbucket.scm.UnsupportedScmException",
    );
  }
  if (findRepo(ctx.state, project, slugify(name))) {
    return fail(
      409,
      "This repository URL is already taken.",
      "com.atlassian.bitbucket.repository.DuplicateRepositoryNameException",
    );
  }
  const branch = typeof body.defaultBranch === "string" && body.defaultBranch !== ""
    ? body.defaultBranch
    : "main";
  const repo = newRepoRecord(ctx.state, project, name, body.public === true, branch);
  // Reserve the slug before awaiting git, so concurrent creates of one name get 409.
  const key = `${project.dir}/${repo.slug}`;
  ctx.state.repos.set(key, repo);
  try {
    await initBareRepo(repo);
  } catch (e) {
    ctx.state.repos.delete(key);
    throw e;
  }
  return reply(201, repoJson(repo, ctx.links));
}

async function updateRepo(ctx: RouteContext, call: Call, repo: RepoRecord): Promise<Reply> {
  const body = obj(await call.json().catch(() => null));
  // Fields not sent stay as they are; only visibility is modelled.
  if (typeof body.public === "boolean") repo.public = body.public;
  return reply(201, repoJson(repo, ctx.links));
}

function listGroups(ctx: RouteContext, call: Call, repo: RepoRecord): Reply {
  const values = [...repo.groups].map(([name, permission]) => ({ group: { name }, permission }));
  return reply(200, pageJson(values, call.query, ctx.pageSize));
}

function grantGroups(ctx: RouteContext, call: Call, repo: RepoRecord): Reply {
  const permission = call.query.get("permission") ?? "";
  const names = call.query.getAll("name");
  if (!REPO_PERMISSIONS.includes(permission) || names.length === 0) {
    return fail(
      400,
      "A valid permission and at least one group name are required.",
      "com.atlassian.bitbucket.validation.ArgumentValidationException",
    );
  }
  const missing = names.find((n) => !ctx.groups.has(n));
  if (missing !== undefined) {
    return fail(
      404,
      `No such group ${missing}.`,
      "com.atlassian.bitbucket.user.NoSuchGroupException",
    );
  }
  for (const n of names) repo.groups.set(n, permission);
  return reply(204);
}

async function addKey(ctx: RouteContext, call: Call, repo: RepoRecord): Promise<Reply> {
  const body = obj(await call.json().catch(() => null));
  const key = obj(body.key);
  const text = typeof key.text === "string" ? key.text : "";
  const parsed = parseKeyLine(text);
  const permission = typeof body.permission === "string" ? body.permission : "";
  if (!parsed) {
    return fail(
      400,
      "The SSH key is not a valid OpenSSH public key.",
      "com.atlassian.bitbucket.validation.ArgumentValidationException",
    );
  }
  if (!KEY_PERMISSIONS.includes(permission)) {
    return fail(
      400,
      `Invalid access key permission "${permission}".`,
      "com.atlassian.bitbucket.validation.ArgumentValidationException",
    );
  }
  if (repo.keys.some((k) => parseKeyLine(k.text)?.material === parsed.material)) {
    return fail(
      409,
      "This SSH key is already an access key for the repository.",
      "com.atlassian.bitbucket.ssh.DuplicateAccessKeyException",
    );
  }
  const label = typeof key.label === "string" && key.label !== "" ? key.label : parsed.comment;
  const record = { id: ctx.state.nextKeyId++, label, text: text.trim(), permission };
  // The key must work on the SSH side before the API says it was added.
  await ctx.accessKeys?.authorize(record.text, { readOnly: permission === "REPO_READ" });
  repo.keys.push(record);
  return reply(200, accessKeyJson(record, repo, ctx.links));
}

async function deleteKey(ctx: RouteContext, repo: RepoRecord, idText: string): Promise<Reply> {
  const index = repo.keys.findIndex((k) => String(k.id) === idText);
  // Deleting a key that is already gone succeeds, so a retried DELETE is harmless.
  if (index >= 0) {
    const [gone] = repo.keys.splice(index, 1);
    await ctx.accessKeys?.revoke(gone.text);
  }
  return reply(204);
}

function repoRoutes(
  ctx: RouteContext,
  call: Call,
  project: ProjectRecord,
  rest: string[],
): Promise<Reply> | Reply {
  const repo = findRepo(ctx.state, project, rest[0]);
  if (!repo) {
    return fail(
      404,
      `Repository ${project.key}/${rest[0]} does not exist.`,
      "com.atlassian.bitbucket.repository.NoSuchRepositoryException",
    );
  }
  const admin = isAdmin(ctx, call.user, project);
  const tail = rest.slice(1).join("/");
  if (tail === "") {
    if (call.method === "GET") return reply(200, repoJson(repo, ctx.links));
    if (call.method === "PUT") return admin ? updateRepo(ctx, call, repo) : denied(ctx);
    return methodNotAllowed(call.method);
  }
  if (tail === "permissions/groups") {
    if (call.method !== "GET" && call.method !== "PUT") return methodNotAllowed(call.method);
    if (!admin) return denied(ctx);
    return call.method === "GET" ? listGroups(ctx, call, repo) : grantGroups(ctx, call, repo);
  }
  return notFound();
}

function keyRoutes(
  ctx: RouteContext,
  call: Call,
  project: ProjectRecord,
  rest: string[],
): Promise<Reply> | Reply {
  if (rest[0] !== "repos" || rest.length < 3 || rest[2] !== "ssh" || rest.length > 4) {
    return notFound();
  }
  const repo = findRepo(ctx.state, project, rest[1]);
  if (!repo) {
    return fail(
      404,
      `Repository ${project.key}/${rest[1]} does not exist.`,
      "com.atlassian.bitbucket.repository.NoSuchRepositoryException",
    );
  }
  if (!isAdmin(ctx, call.user, project)) return denied(ctx);
  if (rest.length === 4) {
    return call.method === "DELETE" ? deleteKey(ctx, repo, rest[3]) : methodNotAllowed(call.method);
  }
  if (call.method === "GET") {
    const values = repo.keys.map((k) => accessKeyJson(k, repo, ctx.links));
    return reply(200, pageJson(values, call.query, ctx.pageSize));
  }
  return call.method === "POST" ? addKey(ctx, call, repo) : methodNotAllowed(call.method);
}

function projectRoutes(
  ctx: RouteContext,
  call: Call,
  project: ProjectRecord,
  rest: string[],
): Promise<Reply> | Reply {
  const admin = isAdmin(ctx, call.user, project);
  if (rest.length === 0) {
    return call.method === "GET"
      ? reply(200, projectJson(project, ctx.links))
      : methodNotAllowed(call.method);
  }
  if (rest.join("/") === "permissions/groups") {
    if (call.method !== "GET") return methodNotAllowed(call.method);
    // Project-level grants are not modelled: admins see an empty page.
    return admin ? reply(200, pageJson([], call.query, ctx.pageSize)) : denied(ctx);
  }
  if (rest[0] !== "repos") return notFound();
  if (rest.length === 1) {
    if (call.method !== "POST") return methodNotAllowed(call.method);
    return admin ? createRepo(ctx, call, project) : denied(ctx);
  }
  return repoRoutes(ctx, call, project, rest.slice(1));
}

export function route(ctx: RouteContext, call: Call): Promise<Reply> | Reply {
  const [area, version, projects, key, ...rest] = call.segments;
  if ((area !== "api" && area !== "keys") || (version !== "1.0" && version !== "latest")) {
    return notFound();
  }
  if (projects !== "projects" || key === undefined || key === "") return notFound();
  const project = findProject(ctx.state, key);
  if (!project) {
    return fail(
      404,
      `Project ${key} does not exist.`,
      "com.atlassian.bitbucket.project.NoSuchProjectException",
    );
  }
  return area === "api"
    ? projectRoutes(ctx, call, project, rest)
    : keyRoutes(ctx, call, project, rest);
}
