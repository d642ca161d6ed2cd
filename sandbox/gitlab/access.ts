/**
 * Who may do what, as GitLab's permission model has it (doc/user/permissions.md): a user's access
 * to a project is the highest of their direct membership, their membership of the project's
 * group or any ancestor (inherited), and, for each group the project is shared with, the lower of
 * the share's level and their membership of that group. Administrators may do everything.
 */
import {
  type AccessLevel,
  lineage,
  type NamespaceRecord,
  type ProjectRecord,
  type UserRecord,
} from "./state.ts";

export const GUEST = 10;
export const REPORTER = 20;
export const DEVELOPER = 30;
export const MAINTAINER = 40;
export const OWNER = 50;

/** Membership of a group, inherited from its ancestors; 0 when none. */
export function groupLevel(user: UserRecord | null, group: NamespaceRecord): number {
  if (!user) return 0;
  const name = user.username.toLowerCase();
  return Math.max(0, ...lineage(group).map((g) => g.members.get(name) ?? 0));
}

/** Membership of the project's own namespace: a group's (inherited), or 50 in one's own. */
export function namespaceLevel(user: UserRecord | null, project: ProjectRecord): number {
  if (!user) return 0;
  const ns = project.namespace;
  if (ns.kind === "user") return ns.owner === user ? 50 : 0;
  return groupLevel(user, ns);
}

/** The access level a user has on a project (0: none). */
export function projectLevel(user: UserRecord | null, project: ProjectRecord): number {
  if (!user) return 0;
  const direct = project.members.get(user.username.toLowerCase()) ?? 0;
  const shared = [...project.sharedWith.values()].map((link) =>
    Math.min(link.access, groupLevel(user, link.group))
  );
  return Math.max(direct, namespaceLevel(user, project), ...shared);
}

/** read_project: public to all, internal to any signed-in user, private to members. */
export function canSeeProject(user: UserRecord | null, project: ProjectRecord): boolean {
  if (project.visibility === "public") return true;
  if (!user) return false;
  if (user.admin || project.visibility === "internal") return true;
  return projectLevel(user, project) >= GUEST;
}

/** admin_project (maintainer): deploy keys, deploy tokens, sharing, project settings. */
export function canAdminProject(user: UserRecord | null, project: ProjectRecord): boolean {
  return !!user && (user.admin || projectLevel(user, project) >= MAINTAINER);
}

/** The owner role on the project (or an administrator): what owner-level group shares need. */
export function canOwnProject(user: UserRecord | null, project: ProjectRecord): boolean {
  return !!user && (user.admin || projectLevel(user, project) >= OWNER);
}

/** download_code: members from reporter up; anyone who can see a public or internal project. */
export function canReadCode(user: UserRecord | null, project: ProjectRecord): boolean {
  if (!canSeeProject(user, project)) return false;
  if (project.visibility !== "private" || user?.admin) return true;
  return projectLevel(user, project) >= REPORTER;
}

/** push_code: developers and up (branch protection is not modelled). */
export function canPushCode(user: UserRecord | null, project: ProjectRecord): boolean {
  return !!user && (user.admin || projectLevel(user, project) >= DEVELOPER);
}

/** read_group: public to all, internal to signed-in users, private to members of it or above. */
export function canSeeGroup(user: UserRecord | null, group: NamespaceRecord): boolean {
  if (group.visibility === "public") return true;
  if (!user) return false;
  if (user.admin || group.visibility === "internal") return true;
  return groupLevel(user, group) > 0;
}

/**
 * A group a project may be shared with by this user: one they belong to (read the group through
 * membership, Projects::GroupLinks::CreateService), or any for an administrator.
 */
export function canShareWith(user: UserRecord, group: NamespaceRecord): boolean {
  return user.admin || groupLevel(user, group) > 0;
}

/** create_projects in a namespace: its owner, or group members from the creation level up. */
export function canCreateProjectIn(user: UserRecord, ns: NamespaceRecord): boolean {
  if (user.admin) return true;
  if (ns.kind === "user") return ns.owner === user;
  return groupLevel(user, ns) >= ns.projectCreationLevel;
}

/** A namespace the user may see through the namespaces API: their own, or groups they belong to. */
export function canSeeNamespace(user: UserRecord, ns: NamespaceRecord): boolean {
  if (user.admin) return true;
  return ns.kind === "user" ? ns.owner === user : groupLevel(user, ns) > 0;
}

export function isAccessLevel(v: unknown): v is AccessLevel {
  return v === 10 || v === 20 || v === 30 || v === 40 || v === 50;
}
