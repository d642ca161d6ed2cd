/**
 * Who is asking and where things live:
 *   GET /api/v4/user                          (doc/api/users.md "Get the current user";
 *                                              gitbeaker Users.showCurrentUser; go-git-providers
 *                                              GetUser, used by `flux bootstrap gitlab --personal`)
 *   GET /api/v4/personal_access_tokens/self   (doc/api/personal_access_tokens.md; gitbeaker
 *                                              PersonalAccessTokens.show(): the token's scopes)
 *   GET /api/v4/groups/:id                    (doc/api/groups.md "Get a single group"; gitbeaker
 *                                              Groups.show; go-git-providers GetGroup, by
 *                                              URL-encoded full path or by id)
 *   GET /api/v4/namespaces/:id                (doc/api/namespaces.md "Get details on a
 *                                              namespace"; gitbeaker Namespaces.show)
 */
import { canSeeGroup, canSeeNamespace, canSeeProject } from "./access.ts";
import { type Call, notFound, type Reply, reply, type RouteContext } from "./context.ts";
import { groupJson, namespaceJson, simpleProjectJson, tokenJson, userJson } from "./json.ts";
import { findNamespace } from "./state.ts";

export function currentUser(ctx: RouteContext, call: Call): Reply {
  return reply(200, userJson(call.user!, ctx.links, true));
}

export function tokenSelf(_ctx: RouteContext, call: Call): Reply {
  return reply(200, tokenJson(call.token!));
}

export function showGroup(ctx: RouteContext, call: Call): Reply {
  const group = findNamespace(ctx.state, call.path.id);
  if (!group || group.kind !== "group" || !canSeeGroup(call.user, group)) return notFound("Group");
  // Like GitLab, the answer lists the group's own projects the caller may see (at most 100).
  const projects = ctx.state.projects
    .filter((p) => p.namespace === group && canSeeProject(call.user, p))
    .slice(0, 100)
    .map((p) => simpleProjectJson(p, ctx.links));
  return reply(200, groupJson(group, ctx.links, projects));
}

export function showNamespace(ctx: RouteContext, call: Call): Reply {
  const ns = findNamespace(ctx.state, call.path.id);
  if (!ns || !canSeeNamespace(call.user!, ns)) return notFound("Namespace");
  return reply(200, namespaceJson(ns, ctx.links));
}
