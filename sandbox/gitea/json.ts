/**
 * The JSON Gitea answers, typed by the npm package gitea-js 1.23.0, which is generated from
 * Gitea's swagger description (/swagger.v1.json; definitions User, Organization, Repository,
 * Permission, DeployKey, Team, ServerVersion): `deno check` refuses a field name or type the
 * description does not have. Values follow Gitea's services/convert (ToUser, ToOrganization,
 * ToRepo, ToDeployKey, ToTeam). Errors are {message, url} with url the swagger page
 * (services/context/api.go APIError).
 */
import type { DeployKey, Organization, Repository, ServerVersion, Team, User } from "gitea-js";
import type {
  DeployKeyRecord,
  OrgRecord,
  OwnerRecord,
  RepoRecord,
  TeamRecord,
  UserRecord,
} from "../forge/model.ts";
import { type AccessMode, permissionObject } from "./access.ts";

export interface Urls {
  /** The host: http://127.0.0.1:P (Gitea's ROOT_URL). */
  web: string;
  /** <web>/api/v1 */
  api: string;
  /** ssh://git@127.0.0.1:PORT when an sshd serves the repositories. */
  ssh?: string;
}

export function user(u: OwnerRecord, urls: Urls, self = false): User {
  const admin = u.kind === "User" && u.siteAdmin;
  return {
    id: u.id,
    login: u.login,
    login_name: "",
    source_id: 0,
    full_name: "",
    email: self || u.kind === "Organization" ? `${u.login.toLowerCase()}@noreply.localhost` : "",
    avatar_url: `${urls.web}/avatars/${u.id}`,
    html_url: `${urls.web}/${u.login}`,
    language: "",
    is_admin: self ? admin : false,
    last_login: u.createdAt,
    created: u.createdAt,
    restricted: false,
    active: true,
    prohibit_login: false,
    location: "",
    website: "",
    description: "",
    visibility: "public",
    followers_count: 0,
    following_count: 0,
    starred_repos_count: 0,
  };
}

export function organization(o: OrgRecord, urls: Urls): Organization {
  return {
    id: o.id,
    name: o.login,
    username: o.login,
    full_name: "",
    email: "",
    avatar_url: `${urls.web}/avatars/${o.id}`,
    description: "",
    website: "",
    location: "",
    visibility: "public",
    repo_admin_change_team_access: o.repoAdminChangeTeamAccess,
  };
}

export function cloneUrls(r: RepoRecord, urls: Urls): { clone_url: string; ssh_url: string } {
  const path = `${r.owner.login}/${r.name}.git`;
  return {
    clone_url: `${urls.web}/${path}`,
    ssh_url: urls.ssh ? `${urls.ssh}/${path}` : `git@${new URL(urls.web).hostname}:${path}`,
  };
}

export function repository(
  r: RepoRecord,
  mode: AccessMode,
  urls: Urls,
  empty: boolean,
): Repository {
  return {
    id: r.id,
    owner: user(r.owner, urls),
    name: r.name,
    full_name: `${r.owner.login}/${r.name}`,
    description: r.description,
    empty,
    private: r.private,
    fork: false,
    template: false,
    mirror: false,
    size: 0,
    language: "",
    languages_url: `${urls.api}/repos/${r.owner.login}/${r.name}/languages`,
    html_url: `${urls.web}/${r.owner.login}/${r.name}`,
    url: `${urls.api}/repos/${r.owner.login}/${r.name}`,
    link: "",
    ...cloneUrls(r, urls),
    original_url: "",
    website: "",
    stars_count: 0,
    forks_count: 0,
    watchers_count: 0,
    open_issues_count: 0,
    open_pr_counter: 0,
    release_counter: 0,
    default_branch: r.defaultBranch,
    archived: false,
    created_at: r.createdAt,
    updated_at: r.updatedAt,
    archived_at: "1970-01-01T00:00:00Z",
    permissions: permissionObject(mode),
    has_issues: true,
    has_wiki: true,
    has_pull_requests: true,
    has_projects: true,
    has_releases: true,
    has_packages: true,
    has_actions: true,
    ignore_whitespace_conflicts: false,
    allow_merge_commits: true,
    allow_rebase: true,
    allow_rebase_explicit: true,
    allow_squash_merge: true,
    allow_fast_forward_only_merge: true,
    allow_rebase_update: true,
    default_delete_branch_after_merge: false,
    default_merge_style: "merge",
    default_allow_maintainer_edit: false,
    avatar_url: "",
    internal: false,
    mirror_interval: "",
    object_format_name: "sha1",
    mirror_updated: "0001-01-01T00:00:00Z",
    topics: [],
    licenses: [],
  };
}

export function deployKey(
  k: DeployKeyRecord,
  keyId: number,
  r: RepoRecord,
  urls: Urls,
  withRepository?: { mode: AccessMode; empty: boolean },
): DeployKey {
  return {
    id: k.id,
    key_id: keyId,
    key: k.key,
    url: `${urls.api}/repos/${r.owner.login}/${r.name}/keys/${k.id}`,
    title: k.title,
    fingerprint: k.fingerprint,
    created_at: k.createdAt,
    read_only: k.readOnly,
    // Gitea adds the repository for site admins and the repository owner (appendPrivateInformation).
    ...(withRepository
      ? { repository: repository(r, withRepository.mode, urls, withRepository.empty) }
      : {}),
  };
}

/** Gitea's units of a team (ToTeam): every repository unit at the team's mode. */
const UNITS = [
  "repo.code",
  "repo.issues",
  "repo.ext_issues",
  "repo.wiki",
  "repo.ext_wiki",
  "repo.pulls",
  "repo.releases",
  "repo.projects",
  "repo.packages",
  "repo.actions",
];

export function team(t: TeamRecord, org: OrgRecord | undefined, urls: Urls): Team {
  const permission = t.permission as NonNullable<Team["permission"]>;
  return {
    id: t.id,
    name: t.name,
    description: "",
    ...(org ? { organization: organization(org, urls) } : {}),
    includes_all_repositories: t.includesAllRepositories,
    permission,
    units: UNITS,
    units_map: Object.fromEntries(UNITS.map((u) => [u, permission])),
    can_create_org_repo: permission === "owner" || permission === "admin",
  };
}

export function serverVersion(version: string): ServerVersion {
  return { version };
}

export function apiError(message: string, urls: Urls): { message: string; url: string } {
  return { message, url: `${urls.web}/api/swagger` };
}

export type { UserRecord };
