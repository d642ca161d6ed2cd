/**
 * The token's rights, checked before anything is pushed (as the issue asks; flux finds out only
 * when a call fails): the api scope, then the role the work needs — Maintainer on an existing
 * project to add deploy keys, deploy tokens or group shares (doc/user/permissions.md), Developer
 * to push, and in a group the role its project_creation_level asks for to create a project.
 * What is missing is named in words.
 */
import { createHash } from "node:crypto";
import type { JsonClient } from "../http/client.ts";
import { ProviderError } from "../types.ts";
import { currentUser, getGroup, type GlGroup, type GlProject, groupAccessLevel } from "./api.ts";
import { tokenSelf } from "./api.ts";
import type { GitLabSettings } from "./settings.ts";
import { projectPath } from "./settings.ts";

export const DEVELOPER = 30;
export const MAINTAINER = 40;
export const OWNER = 50;

const ROLE: Record<number, string> = {
  0: "no role",
  10: "Guest",
  20: "Reporter",
  30: "Developer",
  40: "Maintainer",
  50: "Owner",
};

function roleName(level: number): string {
  return ROLE[level] ?? `access level ${level}`;
}

export interface TokenFacts {
  /** Unknown on servers before GitLab 15.5 (no /personal_access_tokens/self). */
  scopes?: string[];
  userId?: number;
}

/**
 * What the token is, asked once per API host and token for the whole fleet run (each repository
 * would otherwise ask again): kept as a promise, so sessions opened together share one request.
 * Keyed by a digest, so the map holds no secret.
 */
const tokenFacts = new Map<string, Promise<TokenFacts>>();
const users = new Map<string, Promise<{ id: number; username: string; admin: boolean }>>();

function keyOf(client: JsonClient, token: string): string {
  return `${client.base.origin} ${createHash("sha256").update(token).digest("hex")}`;
}

/** Forgets what was learnt about tokens (a new run in the same process, tests, the bench). */
export function forgetTokens(): void {
  tokenFacts.clear();
  users.clear();
}

function once<T>(map: Map<string, Promise<T>>, key: string, ask: () => Promise<T>): Promise<T> {
  let p = map.get(key);
  if (!p) {
    p = ask();
    map.set(key, p);
    // A failure is not kept: the next session asks again (and says it in its own words).
    p.catch(() => map.delete(key));
  }
  return p;
}

export function tokenOf(client: JsonClient, token: string): Promise<TokenFacts> {
  return once(tokenFacts, keyOf(client, token), async () => (await tokenSelf(client)) ?? {});
}

export function userOf(client: JsonClient, token: string) {
  return once(users, keyOf(client, token), () => currentUser(client));
}

function denied(message: string): ProviderError {
  return new ProviderError(message, { status: 403, transient: false });
}

/** What the session will do to an existing project, for the role it needs. */
function work(s: GitLabSettings): { level: number; what: string } {
  if (s.deployTokenAuth) return { level: MAINTAINER, what: "create deploy tokens on" };
  // Only an owner shares a project as owner (gitlab-org/gitlab!133674).
  if (s.teams.some((t) => t.permission === "admin")) {
    return { level: OWNER, what: "share as owner with groups" };
  }
  if (!s.tokenAuth) return { level: MAINTAINER, what: "add deploy keys to" };
  if (s.teams.length > 0) return { level: MAINTAINER, what: "share with groups" };
  return { level: DEVELOPER, what: "push to" };
}

/** The scope check: every call fluxfleet makes that changes something needs `api`. */
export async function checkScopes(client: JsonClient, token: string): Promise<TokenFacts> {
  const facts = await tokenOf(client, token);
  if (facts.scopes && !facts.scopes.includes("api")) {
    throw denied(
      `the token for ${client.ref.host} cannot create projects or add deploy keys: it needs the "api" scope (it has ${
        facts.scopes.length > 0 ? facts.scopes.join(", ") : "none"
      })`,
    );
  }
  return facts;
}

/** The role on an existing project: enough for what the session will do? */
export async function checkProjectRole(
  client: JsonClient,
  token: string,
  s: GitLabSettings,
  project: GlProject,
): Promise<void> {
  const need = work(s);
  if (project.accessLevel >= need.level) return;
  // Administrators have every right without a role on the project.
  const user = await userOf(client, token);
  if (user.admin) return;
  throw denied(
    `the token for ${client.ref.host} (user ${user.username}) cannot ${need.what} project ${
      projectPath(s)
    }: it needs the ${roleName(need.level)} role there (it has ${roleName(project.accessLevel)})`,
  );
}

/**
 * A project that does not exist yet: may the token create it where the manifest says? Returns
 * the group (its id is the new project's namespace_id), or undefined for a personal project.
 */
export async function checkCanCreate(
  client: JsonClient,
  token: string,
  s: GitLabSettings,
  facts: TokenFacts,
): Promise<GlGroup | undefined> {
  const user = await userOf(client, token);
  if (s.personal) {
    // As flux: "the specified owner doesn't match the identity associated with the given token".
    if (user.username.toLowerCase() !== s.namespace.toLowerCase()) {
      throw denied(
        `personal project ${
          projectPath(s)
        } would be created in the token's own namespace, but the token for ${client.ref.host} belongs to user ${user.username}, not ${s.namespace}`,
      );
    }
    return undefined;
  }
  const group = await getGroup(client, s.namespace);
  if (!group) {
    throw new ProviderError(
      `group ${s.namespace} was not found on ${client.ref.host} (404), or the token may not see it: create it first, or set personal: true for a user's project`,
      { status: 404, transient: false },
    );
  }
  if (user.admin) return group;
  const level = await groupAccessLevel(client, group, facts.userId ?? user.id);
  const create = group.projectCreationLevel === "maintainer"
    ? MAINTAINER
    : group.projectCreationLevel === "noone"
    ? Infinity
    : DEVELOPER;
  const need = Math.max(create, work(s).level);
  if (level >= need) return group;
  throw denied(
    `the token for ${client.ref.host} (user ${user.username}) cannot create project ${
      projectPath(s)
    }${work(s).level > create ? ` and ${work(s).what} it` : ""}: it needs the ${
      need === Infinity ? "administrator" : roleName(need)
    } role in group ${group.fullPath} (it has ${roleName(level)})`,
  );
}
