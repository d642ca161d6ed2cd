/**
 * Who may do what on a Gitea repository (models/perm/access): site administrators and owners
 * (the owner of a personal repository, members of an organization's Owners team) have it all;
 * teams give their members the team's mode on the repositories they hold; anyone may read a
 * public repository. Organization membership alone gives nothing on a private repository.
 * The `permissions` object of a repository answer is {admin, push, pull}.
 */
import type { ForgeStore, RepoRecord } from "../forge/model.ts";

export const MODES = ["none", "read", "write", "admin", "owner"] as const;
export type AccessMode = typeof MODES[number];

export function isMode(v: unknown): v is AccessMode {
  return typeof v === "string" && (MODES as readonly string[]).includes(v);
}

export function atLeast(mode: AccessMode, wanted: AccessMode): boolean {
  return MODES.indexOf(mode) >= MODES.indexOf(wanted);
}

function higher(a: AccessMode, b: AccessMode): AccessMode {
  return atLeast(a, b) ? a : b;
}

export function accessMode(store: ForgeStore, repo: RepoRecord, login: string | null): AccessMode {
  let mode: AccessMode = repo.private ? "none" : "read";
  if (login === null) return mode;
  if (store.user(login)?.siteAdmin) return "owner";
  const me = login.toLowerCase();
  const owner = repo.owner;
  if (owner.kind === "User") return owner.login.toLowerCase() === me ? "owner" : mode;
  if (owner.owners.has(me)) return "owner";
  for (const [teamId, granted] of repo.teams) {
    const team = owner.teams.find((t) => t.id === teamId);
    if (team?.members.has(me) && isMode(granted)) mode = higher(mode, granted);
  }
  return mode;
}

export function permissionObject(
  mode: AccessMode,
): { admin: boolean; push: boolean; pull: boolean } {
  return {
    admin: atLeast(mode, "admin"),
    push: atLeast(mode, "write"),
    pull: atLeast(mode, "read"),
  };
}
