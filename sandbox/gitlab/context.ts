/**
 * What every GitLab sandbox route handler gets (the call, the state, the links) and the error
 * answers GitLab gives, in its shapes (lib/api/helpers.rb): {"message": "404 Project Not Found"},
 * {"message": "403 Forbidden"}, {"message": "401 Unauthorized"}, model validation errors as
 * {"message": {"name": ["has already been taken"]}} (render_validation_error!, 400), and a missing
 * record as {"message": "404 Not found"} (ActiveRecord::RecordNotFound rescued in lib/api/api.rb).
 */
import { canSeeProject } from "./access.ts";
import type { Json, Links } from "./json.ts";
import type { Params } from "./params.ts";
import {
  findProject,
  type ProjectRecord,
  type State,
  type TokenRecord,
  type UserRecord,
} from "./state.ts";

/** Told about deploy keys as they change, so a real sshd can enforce them. */
export interface AccessKeyHooks {
  /**
   * The key may log in, to the repositories of the projects holding it ("group/sub/app.git",
   * relative to the git root), each read-only unless its deploy key may push (sshd.ts
   * `authorize(key, { repos })`). `readOnly`: no project lets it push, for an sshd that knows
   * keys but not repositories.
   */
  authorize(
    publicKey: string,
    opts: { readOnly: boolean; repos: { path: string; readOnly: boolean }[] },
  ): Promise<void>;
  /** No project holds the key any more. */
  revoke(publicKey: string): Promise<void>;
}

export interface RouteContext {
  state: State;
  links: Links;
  accessKeys?: AccessKeyHooks;
}

export interface Call {
  method: string;
  url: URL;
  /** Decoded path segments after /api/v4 ("group%2Fproject" is one segment). */
  segments: string[];
  /** Path parameters by name (":id" -> "id"). */
  path: Record<string, string>;
  params: Params;
  user: UserRecord | null;
  token: TokenRecord | null;
}

export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export const reply = (status: number, body?: unknown, headers?: Record<string, string>): Reply => ({
  status,
  body,
  headers,
});

export const message = (status: number, text: string | Json): Reply =>
  reply(status, { message: text });

/** not_found!(resource): "404 Project Not Found"; without a resource "404 Not Found". */
export const notFound = (resource?: string): Reply =>
  message(404, resource ? `404 ${resource} Not Found` : "404 Not Found");

/** A record looked up with find/find_by! that is not there. */
export const recordNotFound = (): Reply => message(404, "404 Not found");

export const forbidden = (): Reply => message(403, "403 Forbidden");

export const unauthorized = (): Reply => message(401, "401 Unauthorized");

/** render_validation_error!: 400 with the model's errors by attribute. */
export const invalid = (errors: Record<string, string[]>): Reply => message(400, errors);

/** user_project: the project named by :id if the caller may see it, else 404 (never 403). */
export function userProject(ctx: RouteContext, call: Call): ProjectRecord | Reply {
  const project = findProject(ctx.state, call.path.id);
  if (!project || !canSeeProject(call.user, project)) return notFound("Project");
  return project;
}

export function isReply(v: unknown): v is Reply {
  return typeof v === "object" && v !== null && typeof (v as Reply).status === "number";
}
