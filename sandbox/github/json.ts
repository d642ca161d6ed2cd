/**
 * The JSON GitHub answers, typed by GitHub's published OpenAPI description as the npm package
 * @octokit/openapi-types carries it (components["schemas"]: "private-user", "simple-user",
 * "organization-full", "full-repository", "deploy-key", "team", "team-full", "team-repository",
 * "rate-limit-overview", "basic-error", "validation-error"): `deno check` fails when an answer
 * lacks a field the description requires or has one of the wrong type. (@octokit/openapi-types
 * 29.0.1: types only, generated from github/rest-api-description by the octokit organization;
 * nothing of it runs.)
 *
 * URLs follow api.github.com (or https://HOST/api/v3 for GitHub Enterprise Server, the `servers`
 * entry of the GHES description) for the API, and the host itself for the web and git.
 */
import type { components } from "@octokit/openapi-types";
import type {
  DeployKeyRecord,
  OrgRecord,
  OwnerRecord,
  RepoRecord,
  TeamRecord,
  UserRecord,
} from "../forge/model.ts";
import type { PrimaryState } from "../forge/ledger.ts";
import { permissionsObject, type Role } from "./access.ts";

type S = components["schemas"];

export interface Urls {
  /** API base the request used: http://127.0.0.1:P or http://127.0.0.1:P/api/v3. */
  api: string;
  /** The host: web pages and git over HTTPS. */
  web: string;
  /** ssh://git@127.0.0.1:PORT when an sshd serves the repositories. */
  ssh?: string;
}

const DOCS = "https://docs.github.com/rest";

/** Legacy global node ids: base64 of "<len>:<Type><id>", e.g. MDEwOlJlcG9zaXRvcnkx. */
function nodeId(type: string, id: number): string {
  return btoa(`${String(type.length).padStart(2, "0")}:${type}${id}`);
}

export function simpleUser(u: OwnerRecord, urls: Urls): S["simple-user"] {
  const api = `${urls.api}/users/${u.login}`;
  return {
    login: u.login,
    id: u.id,
    node_id: nodeId(u.kind, u.id),
    avatar_url: `${urls.web}/avatars/u/${u.id}`,
    gravatar_id: "",
    url: api,
    html_url: `${urls.web}/${u.login}`,
    followers_url: `${api}/followers`,
    following_url: `${api}/following{/other_user}`,
    gists_url: `${api}/gists{/gist_id}`,
    starred_url: `${api}/starred{/owner}{/repo}`,
    subscriptions_url: `${api}/subscriptions`,
    organizations_url: `${api}/orgs`,
    repos_url: `${api}/repos`,
    events_url: `${api}/events{/privacy}`,
    received_events_url: `${api}/received_events`,
    type: u.kind,
    site_admin: u.kind === "User" && u.siteAdmin,
    user_view_type: "public",
  };
}

export function privateUser(
  u: UserRecord,
  urls: Urls,
  repos: { public: number; private: number },
): S["private-user"] {
  return {
    ...simpleUser(u, urls),
    name: u.login,
    company: null,
    blog: "",
    location: null,
    email: null,
    hireable: null,
    bio: null,
    public_repos: repos.public,
    public_gists: 0,
    followers: 0,
    following: 0,
    created_at: u.createdAt,
    updated_at: u.createdAt,
    private_gists: 0,
    total_private_repos: repos.private,
    owned_private_repos: repos.private,
    disk_usage: 0,
    collaborators: 0,
    two_factor_authentication: true,
  };
}

export function organizationFull(
  o: OrgRecord,
  urls: Urls,
  repos: { public: number; private: number },
): S["organization-full"] {
  const api = `${urls.api}/orgs/${o.login}`;
  return {
    login: o.login,
    id: o.id,
    node_id: nodeId("Organization", o.id),
    url: api,
    repos_url: `${api}/repos`,
    events_url: `${api}/events`,
    hooks_url: `${api}/hooks`,
    issues_url: `${api}/issues`,
    members_url: `${api}/members{/member}`,
    public_members_url: `${api}/public_members{/member}`,
    avatar_url: `${urls.web}/avatars/u/${o.id}`,
    description: null,
    has_organization_projects: true,
    has_repository_projects: true,
    public_repos: repos.public,
    public_gists: 0,
    followers: 0,
    following: 0,
    html_url: `${urls.web}/${o.login}`,
    type: "Organization",
    total_private_repos: repos.private,
    owned_private_repos: repos.private,
    default_repository_permission: "read",
    members_can_create_repositories: o.membersCanCreateRepositories,
    created_at: o.createdAt,
    updated_at: o.createdAt,
    archived_at: null,
  };
}

/** The many *_url fields every repository answer carries. */
function repoUrls(r: RepoRecord, urls: Urls) {
  const a = `${urls.api}/repos/${r.owner.login}/${r.name}`;
  return {
    url: a,
    archive_url: `${a}/{archive_format}{/ref}`,
    assignees_url: `${a}/assignees{/user}`,
    blobs_url: `${a}/git/blobs{/sha}`,
    branches_url: `${a}/branches{/branch}`,
    collaborators_url: `${a}/collaborators{/collaborator}`,
    comments_url: `${a}/comments{/number}`,
    commits_url: `${a}/commits{/sha}`,
    compare_url: `${a}/compare/{base}...{head}`,
    contents_url: `${a}/contents/{+path}`,
    contributors_url: `${a}/contributors`,
    deployments_url: `${a}/deployments`,
    downloads_url: `${a}/downloads`,
    events_url: `${a}/events`,
    forks_url: `${a}/forks`,
    git_commits_url: `${a}/git/commits{/sha}`,
    git_refs_url: `${a}/git/refs{/sha}`,
    git_tags_url: `${a}/git/tags{/sha}`,
    issue_comment_url: `${a}/issues/comments{/number}`,
    issue_events_url: `${a}/issues/events{/number}`,
    issues_url: `${a}/issues{/number}`,
    keys_url: `${a}/keys{/key_id}`,
    labels_url: `${a}/labels{/name}`,
    languages_url: `${a}/languages`,
    merges_url: `${a}/merges`,
    milestones_url: `${a}/milestones{/number}`,
    notifications_url: `${a}/notifications{?since,all,participating}`,
    pulls_url: `${a}/pulls{/number}`,
    releases_url: `${a}/releases{/id}`,
    stargazers_url: `${a}/stargazers`,
    statuses_url: `${a}/statuses/{sha}`,
    subscribers_url: `${a}/subscribers`,
    subscription_url: `${a}/subscription`,
    tags_url: `${a}/tags`,
    teams_url: `${a}/teams`,
    trees_url: `${a}/git/trees{/sha}`,
    hooks_url: `${a}/hooks`,
  };
}

/** Where the repository is cloned from: HTTPS on the host, SSH on the sandbox sshd. */
export function cloneUrls(r: RepoRecord, urls: Urls) {
  const path = `${r.owner.login}/${r.name}.git`;
  const host = new URL(urls.web).host;
  return {
    clone_url: `${urls.web}/${path}`,
    // Without an sshd, the scp-like form GitHub gives; it names no reachable server.
    ssh_url: urls.ssh ? `${urls.ssh}/${path}` : `git@${host}:${path}`,
    git_url: `git://${host}/${path}`,
    svn_url: `${urls.web}/${r.owner.login}/${r.name}`,
  };
}

/** What every repository answer shares, whatever its schema. */
function repoCore(r: RepoRecord, urls: Urls) {
  return {
    id: r.id,
    node_id: nodeId("Repository", r.id),
    name: r.name,
    full_name: `${r.owner.login}/${r.name}`,
    owner: simpleUser(r.owner, urls),
    private: r.private,
    html_url: `${urls.web}/${r.owner.login}/${r.name}`,
    description: r.description === "" ? null : r.description,
    fork: false,
    ...repoUrls(r, urls),
    ...cloneUrls(r, urls),
    mirror_url: null,
    homepage: null,
    language: null,
    forks_count: 0,
    stargazers_count: 0,
    watchers_count: 0,
    // GitHub recomputes size lazily; a fresh repository reports 0.
    size: 0,
    default_branch: r.defaultBranch,
    open_issues_count: 0,
    is_template: false,
    topics: [],
    has_issues: true,
    has_projects: true,
    has_wiki: true,
    has_pages: false,
    has_downloads: true,
    archived: false,
    disabled: false,
    visibility: r.private ? "private" : "public",
    pushed_at: r.updatedAt,
    created_at: r.createdAt,
    updated_at: r.updatedAt,
    allow_forking: true,
    web_commit_signoff_required: false,
    license: null,
    forks: 0,
    open_issues: 0,
    watchers: 0,
  };
}

export function fullRepository(
  r: RepoRecord,
  role: Role | undefined,
  urls: Urls,
): S["full-repository"] {
  return {
    ...repoCore(r, urls),
    has_discussions: false,
    ...(role === undefined ? {} : { permissions: permissionsObject(role) }),
    subscribers_count: 0,
    network_count: 0,
    ...(r.owner.kind === "Organization" ? { organization: simpleUser(r.owner, urls) } : {}),
  };
}

/** A repository as a team sees it (teams/check-permissions-for-repo-in-org, repository media type). */
export function teamRepository(r: RepoRecord, role: Role, urls: Urls): S["team-repository"] {
  return {
    ...repoCore(r, urls),
    permissions: permissionsObject(role),
    role_name: role,
  };
}

export function deployKey(k: DeployKeyRecord, r: RepoRecord, urls: Urls): S["deploy-key"] {
  return {
    id: k.id,
    key: k.key,
    url: `${urls.api}/repos/${r.owner.login}/${r.name}/keys/${k.id}`,
    title: k.title,
    verified: true,
    created_at: k.createdAt,
    read_only: k.readOnly,
    added_by: k.addedBy,
    last_used: null,
    enabled: true,
  };
}

/** A team; `granted` is its role on one repository (GET /repos/{owner}/{repo}/teams). */
export function team(t: TeamRecord, org: OrgRecord, urls: Urls, granted?: Role): S["team"] {
  const api = `${urls.api}/organizations/${org.id}/team/${t.id}`;
  return {
    id: t.id,
    node_id: nodeId("Team", t.id),
    url: api,
    html_url: `${urls.web}/orgs/${org.login}/teams/${t.slug}`,
    name: t.name,
    slug: t.slug,
    description: null,
    privacy: "closed",
    notification_setting: "notifications_enabled",
    permission: granted ?? t.permission,
    ...(granted ? { permissions: permissionsObject(granted) } : {}),
    members_url: `${api}/members{/member}`,
    repositories_url: `${api}/repos`,
    type: "organization",
    organization_id: org.id,
    parent: null,
  };
}

export function teamFull(t: TeamRecord, org: OrgRecord, urls: Urls, repos: number): S["team-full"] {
  const base = team(t, org, urls);
  return {
    id: base.id,
    node_id: base.node_id,
    url: base.url,
    html_url: base.html_url,
    name: base.name,
    slug: base.slug,
    description: null,
    privacy: "closed",
    notification_setting: "notifications_enabled",
    permission: t.permission,
    members_url: base.members_url,
    repositories_url: base.repositories_url,
    parent: null,
    members_count: t.members.size,
    repos_count: repos,
    created_at: org.createdAt,
    updated_at: org.createdAt,
    organization: {
      ...organizationFull(org, urls, { public: 0, private: 0 }),
      name: org.login,
    },
    type: "organization",
    organization_id: org.id,
  };
}

export function rateLimitOverview(s: PrimaryState): S["rate-limit-overview"] {
  const core = { limit: s.limit, remaining: s.remaining, reset: s.reset, used: s.used };
  const search = { limit: 30, remaining: 30, reset: s.reset, used: 0 };
  return { resources: { core, search }, rate: core };
}

/** GitHub's error answer ("basic-error"); `docs` is the endpoint's documentation_url. */
export function basicError(message: string, docs: string, status: number): S["basic-error"] {
  return { message, documentation_url: docs, status: String(status) };
}

export type FieldError = NonNullable<S["validation-error"]["errors"]>[number];

/** A 422 "validation-error" with its errors[] (resource, field, code, message). */
export function validationError(
  message: string,
  docs: string,
  errors: FieldError[],
): S["validation-error"] & { status: string } {
  return { message, errors, documentation_url: docs, status: "422" };
}

export function docsOrDefault(docs: string | undefined): string {
  return docs ?? DOCS;
}
