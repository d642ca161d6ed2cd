/**
 * Who may do what on a GitHub repository (docs "Repository roles for an organization",
 * "Permission levels for a personal account repository"): the owner of a personal repository and
 * the owners of an organization are admins; a team grant gives its members that role; members of
 * the organization get the base permission (read); anyone may read a public repository.
 * The `permissions` object of a repository answer spells the role out cumulatively.
 */
import type { OrgRecord, RepoRecord } from "../forge/model.ts";

export const ROLES = ["pull", "triage", "push", "maintain", "admin"] as const;
export type Role = typeof ROLES[number];

export function isRole(v: unknown): v is Role {
  return typeof v === "string" && (ROLES as readonly string[]).includes(v);
}

export function atLeast(role: Role | undefined, wanted: Role): boolean {
  return role !== undefined && ROLES.indexOf(role) >= ROLES.indexOf(wanted);
}

function higher(a: Role | undefined, b: Role | undefined): Role | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return ROLES.indexOf(a) >= ROLES.indexOf(b) ? a : b;
}

/** The user's role on the repository; undefined when they cannot even see it. */
export function repoRole(repo: RepoRecord, login: string | null): Role | undefined {
  let role: Role | undefined = repo.private ? undefined : "pull";
  if (login === null) return role;
  const me = login.toLowerCase();
  const owner = repo.owner;
  if (owner.kind === "User") return owner.login.toLowerCase() === me ? "admin" : role;
  if (owner.owners.has(me)) return "admin";
  if (owner.members.has(me)) role = higher(role, "pull");
  for (const [teamId, granted] of repo.teams) {
    const team = owner.teams.find((t) => t.id === teamId);
    if (team?.members.has(me) && isRole(granted)) role = higher(role, granted);
  }
  return role;
}

export function permissionsObject(role: Role | undefined): {
  admin: boolean;
  maintain: boolean;
  push: boolean;
  triage: boolean;
  pull: boolean;
} {
  return {
    admin: atLeast(role, "admin"),
    maintain: atLeast(role, "maintain"),
    push: atLeast(role, "push"),
    triage: atLeast(role, "triage"),
    pull: atLeast(role, "pull"),
  };
}

/** Owners always; members when the organization lets members create repositories. */
export function mayCreateInOrg(org: OrgRecord, login: string): boolean {
  const me = login.toLowerCase();
  return org.owners.has(me) || (org.members.has(me) && org.membersCanCreateRepositories);
}

export function isOrgMember(org: OrgRecord, login: string | null): boolean {
  return login !== null && org.members.has(login.toLowerCase());
}
