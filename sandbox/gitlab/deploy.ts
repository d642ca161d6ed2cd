/**
 * Deploy keys and deploy tokens of a project; every route needs the maintainer role
 * (authorize_admin_project: 403) on a project the caller can see (404 otherwise).
 *   GET    /api/v4/projects/:id/deploy_keys            paged   (DeployKeys.all)
 *   POST   /api/v4/projects/:id/deploy_keys            201 | 400 (DeployKeys.create: title, key,
 *                                                        can_push)
 *   GET    /api/v4/projects/:id/deploy_keys/:key_id    200 | 404 (DeployKeys.show)
 *   DELETE /api/v4/projects/:id/deploy_keys/:key_id    204 | 404 (DeployKeys.remove)
 *   GET    /api/v4/projects/:id/deploy_tokens          paged   (DeployTokens.all)
 *   POST   /api/v4/projects/:id/deploy_tokens          201 | 400 (DeployTokens.create: name,
 *                                                        scopes, username, expires_at)
 *   GET    /api/v4/projects/:id/deploy_tokens/:token_id 200 | 404 (DeployTokens.show)
 *   DELETE /api/v4/projects/:id/deploy_tokens/:token_id 204 | 404 (DeployTokens.remove)
 * Contract: GitLab doc/api/deploy_keys.md, doc/api/deploy_tokens.md, lib/api/deploy_keys.rb and
 * lib/api/deploy_tokens.rb; go-git-providers gitlab/gitlabclient.go (ListKeys, CreateKey,
 * DeleteKey, ListTokens, CreateToken with scopes [read_repository], DeleteToken).
 */
import { canAdminProject } from "./access.ts";
import {
  type Call,
  forbidden,
  invalid,
  isReply,
  message,
  notFound,
  type Reply,
  reply,
  type RouteContext,
  userProject,
} from "./context.ts";
import { deployKeyJson, deployTokenJson } from "./json.ts";
import { parsePublicKey } from "./keys.ts";
import { paginate } from "./paging.ts";
import {
  DEPLOY_TOKEN_SCOPES,
  type DeployKeyRecord,
  fullPathOf,
  type ProjectRecord,
} from "./state.ts";

function adminProject(ctx: RouteContext, call: Call): ProjectRecord | Reply {
  const project = userProject(ctx, call);
  if (isReply(project)) return project;
  return canAdminProject(call.user, project) ? project : forbidden();
}

function listReply<T>(ctx: RouteContext, call: Call, items: T[]): Reply {
  const page = paginate(items, call.url, ctx.links.base);
  return "items" in page ? reply(200, page.items, page.headers) : page;
}

function idParam(call: Call, name: string): number | Reply {
  const v = call.path[name];
  return /^\d{1,15}$/.test(v) ? Number(v) : reply(400, { error: `${name} is invalid` });
}

/**
 * Tells sshd what the key may do now: the repository of every project holding it, read-only
 * unless that project's deploy key may push. Called right after the state changed, before any
 * other await, so concurrent changes reach sshd in the order they were made.
 */
function syncKey(ctx: RouteContext, key: DeployKeyRecord): Promise<void> {
  const hooks = ctx.accessKeys;
  if (!hooks) return Promise.resolve();
  const repos = ctx.state.projects.flatMap((p) =>
    p.deployKeys.filter((d) => d.key === key).map((d) => ({
      path: `${fullPathOf(p)}.git`,
      readOnly: !d.canPush,
    }))
  );
  if (repos.length === 0) return hooks.revoke(key.text);
  return hooks.authorize(key.text, { readOnly: repos.every((r) => r.readOnly), repos });
}

export function listDeployKeys(ctx: RouteContext, call: Call): Reply {
  const project = adminProject(ctx, call);
  if (isReply(project)) return project;
  return listReply(ctx, call, project.deployKeys.map((d) => deployKeyJson(d.key, d.canPush)));
}

export function showDeployKey(ctx: RouteContext, call: Call): Reply {
  const project = adminProject(ctx, call);
  if (isReply(project)) return project;
  const id = idParam(call, "key_id");
  if (isReply(id)) return id;
  const found = project.deployKeys.find((d) => d.key.id === id);
  return found
    ? reply(200, deployKeyJson(found.key, found.canPush))
    : message(404, "404 Not found");
}

export async function addDeployKey(ctx: RouteContext, call: Call): Promise<Reply> {
  const project = adminProject(ctx, call);
  if (isReply(project)) return project;
  const p = call.params;
  const text = p.string("key", true)?.trim();
  const title = p.string("title", true);
  const canPush = p.boolean("can_push") ?? false;
  const failed = p.failure();
  if (failed) return failed;
  // An exact key line already on this project: answered as it is (lib/api/deploy_keys.rb).
  const here = project.deployKeys.find((d) => d.key.text === text);
  if (here) return reply(201, deployKeyJson(here.key, here.canPush));
  const parsed = parsePublicKey(text!);
  if (!parsed) {
    return invalid({
      "deploy_key.key": ["is invalid"],
      "deploy_key.fingerprint_sha256": ["cannot be generated"],
    });
  }
  if (title!.trim() === "") return invalid({ "deploy_key.title": ["can't be blank"] });
  let key = ctx.state.deployKeys.get(parsed.material);
  if (key) {
    // The same key line on another project the caller maintains is joined to this one; any
    // other use of the key material (another comment, someone else's project) is a new key
    // whose fingerprint is taken.
    const accessible = key.text === text &&
      ctx.state.projects.some((o) =>
        o.deployKeys.some((d) => d.key === key) && canAdminProject(call.user, o)
      );
    if (!accessible) {
      return invalid({ "deploy_key.fingerprint_sha256": ["has already been taken"] });
    }
  } else {
    key = {
      id: ctx.state.nextId.key++,
      title: title!,
      text: text!,
      key: parsed,
      createdAt: new Date().toISOString(),
    };
    ctx.state.deployKeys.set(parsed.material, key);
  }
  const grant = { key, canPush };
  project.deployKeys.push(grant);
  try {
    // The key must work on the SSH side before the API says it was added.
    await syncKey(ctx, key);
  } catch (e) {
    project.deployKeys.splice(project.deployKeys.indexOf(grant), 1);
    if (!ctx.state.projects.some((o) => o.deployKeys.some((d) => d.key === key))) {
      ctx.state.deployKeys.delete(parsed.material);
    }
    await syncKey(ctx, key).catch(() => {});
    throw e;
  }
  return reply(201, deployKeyJson(key, canPush));
}

export async function removeDeployKey(ctx: RouteContext, call: Call): Promise<Reply> {
  const project = adminProject(ctx, call);
  if (isReply(project)) return project;
  const id = idParam(call, "key_id");
  if (isReply(id)) return id;
  const index = project.deployKeys.findIndex((d) => d.key.id === id);
  if (index < 0) return notFound("Deploy key");
  const [gone] = project.deployKeys.splice(index, 1);
  // "If the deploy key is used only for this project, it's deleted from the system."
  if (!ctx.state.projects.some((o) => o.deployKeys.some((d) => d.key === gone.key))) {
    ctx.state.deployKeys.delete(gone.key.key.material);
  }
  await syncKey(ctx, gone.key);
  return reply(204);
}

export function listDeployTokens(ctx: RouteContext, call: Call): Reply {
  const project = adminProject(ctx, call);
  if (isReply(project)) return project;
  const active = call.params.boolean("active");
  const failed = call.params.failure();
  if (failed) return failed;
  const tokens = project.deployTokens
    .map((t) => deployTokenJson(t))
    .filter((t) => active === undefined || active === (!t.revoked && !t.expired));
  return listReply(ctx, call, tokens);
}

export function showDeployToken(ctx: RouteContext, call: Call): Reply {
  const project = adminProject(ctx, call);
  if (isReply(project)) return project;
  const id = idParam(call, "token_id");
  if (isReply(id)) return id;
  const found = project.deployTokens.find((t) => t.id === id);
  return found ? reply(200, deployTokenJson(found)) : message(404, "404 Not found");
}

const TOKEN_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";

/** A new deploy token value, "gldt-" and 20 random characters, as GitLab makes them. */
function newTokenValue(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(20));
  return `gldt-${Array.from(bytes, (b) => TOKEN_CHARS[b & 63]).join("")}`;
}

export function createDeployToken(ctx: RouteContext, call: Call): Reply {
  const project = adminProject(ctx, call);
  if (isReply(project)) return project;
  const p = call.params;
  const name = p.string("name", true);
  const scopes = p.stringList("scopes", DEPLOY_TOKEN_SCOPES, true);
  const username = p.string("username");
  const expiresAt = p.string("expires_at");
  if (expiresAt !== undefined && expiresAt !== "" && Number.isNaN(Date.parse(expiresAt))) {
    return reply(400, { error: "expires_at is invalid" });
  }
  const failed = p.failure();
  if (failed) return failed;
  if (scopes!.length === 0) return message(400, "Scopes can't be blank");
  if (username !== undefined && username !== "" && !/^[a-zA-Z0-9.+_-]+$/.test(username)) {
    return message(400, "Username can contain only letters, digits, '_', '-', '+', and '.'");
  }
  const id = ctx.state.nextId.token++;
  const token = {
    id,
    name: name!,
    username: username || `gitlab+deploy-token-${id}`,
    value: newTokenValue(),
    scopes: [...new Set(scopes)],
    expiresAt: expiresAt ? new Date(expiresAt).toISOString() : null,
    revoked: false,
  };
  project.deployTokens.push(token);
  // The token value is in this answer only (Entities::DeployTokenWithToken).
  return reply(201, deployTokenJson(token, true));
}

export function removeDeployToken(ctx: RouteContext, call: Call): Reply {
  const project = adminProject(ctx, call);
  if (isReply(project)) return project;
  const id = idParam(call, "token_id");
  if (isReply(id)) return id;
  const index = project.deployTokens.findIndex((t) => t.id === id);
  if (index < 0) return message(404, "404 Not found");
  project.deployTokens.splice(index, 1);
  return reply(204);
}
