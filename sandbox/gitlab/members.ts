/**
 * A user's effective role, the pre-check a provider makes before it creates a project in a group
 * or administers one (doc/api/members.md "Get a member of a group or project, including
 * inherited and invited members"; gitbeaker GroupMembers.show / ProjectMembers.show with
 * includeInherited):
 *   GET /api/v4/groups/:id/members/all/:user_id     200 | 404
 *   GET /api/v4/projects/:id/members/all/:user_id   200 | 404
 * A group member's role is inherited from ancestor groups; a project member's also comes through
 * the groups the project is shared with (at the lower of the two levels). Not a member: 404
 * {"message":"404 Not found"} (members.find_by! in lib/api/members.rb).
 */
import { canSeeGroup, groupLevel, projectLevel } from "./access.ts";
import {
  type Call,
  isReply,
  notFound,
  recordNotFound,
  type Reply,
  reply,
  type RouteContext,
  userProject,
} from "./context.ts";
import { type Json, userJson } from "./json.ts";
import { findNamespace, type State, type UserRecord } from "./state.ts";

function userById(state: State, id: string): UserRecord | undefined {
  if (!/^\d{1,15}$/.test(id)) return undefined;
  return [...state.users.values()].find((u) => u.id === Number(id));
}

function memberJson(ctx: RouteContext, user: UserRecord, level: number): Json {
  return {
    ...userJson(user, ctx.links),
    access_level: level,
    expires_at: null,
    membership_state: "active",
  };
}

export function groupMember(ctx: RouteContext, call: Call): Reply {
  const group = findNamespace(ctx.state, call.path.id);
  if (!group || group.kind !== "group" || !canSeeGroup(call.user, group)) return notFound("Group");
  const user = userById(ctx.state, call.path.user_id);
  const level = user ? groupLevel(user, group) : 0;
  return level > 0 ? reply(200, memberJson(ctx, user!, level)) : recordNotFound();
}

export function projectMember(ctx: RouteContext, call: Call): Reply {
  const project = userProject(ctx, call);
  if (isReply(project)) return project;
  const user = userById(ctx.state, call.path.user_id);
  const level = user ? projectLevel(user, project) : 0;
  return level > 0 ? reply(200, memberJson(ctx, user!, level)) : recordNotFound();
}
