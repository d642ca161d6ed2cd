/**
 * JSON shapes of the GitLab REST API v4 as documented (GitLab doc/api/projects.md "Get a single
 * project", groups.md, namespaces.md, users.md "List current user", personal_access_tokens.md,
 * deploy_keys.md, deploy_tokens.md, project_group_links / "Share project with group") and typed
 * by @gitbeaker/core 43.8.0 (ProjectSchema, GroupSchema, NamespaceSchema, DeployKeySchema,
 * DeployTokenSchema, PersonalAccessTokenSchema in dist/index.d.ts).
 */
import { namespaceLevel } from "./access.ts";
import {
  type DeployKeyRecord,
  type DeployTokenRecord,
  fullNameOf,
  fullPathOf,
  type GroupLink,
  type NamespaceRecord,
  type ProjectRecord,
  type TokenRecord,
  type UserRecord,
} from "./state.ts";

export type Json = Record<string, unknown>;

export interface Links {
  /** Web (and API) base, e.g. http://127.0.0.1:1234 */
  base: string;
  /** http_url_to_repo = `${httpCloneBase}/<full path>.git` */
  httpCloneBase: string;
  /**
   * ssh_url_to_repo: "ssh://git@host:port" gives `ssh://git@host:port/<full path>.git` (GitLab's
   * form for a non-standard SSH port); "git@host" gives the scp-like `git@host:<full path>.git`.
   */
  sshCloneBase?: string;
}

export function userJson(u: UserRecord, links: Links, self = false): Json {
  const base: Json = {
    id: u.id,
    username: u.username,
    name: u.name,
    state: "active",
    locked: false,
    avatar_url: null,
    web_url: `${links.base}/${u.username}`,
    created_at: u.createdAt,
  };
  if (!self) return base;
  return {
    ...base,
    bio: "",
    bot: false,
    public_email: null,
    email: `${u.username}@example.com`,
    is_admin: u.admin,
    can_create_group: true,
    can_create_project: true,
    two_factor_enabled: false,
    external: false,
    private_profile: false,
    namespace_id: u.namespace.id,
    projects_limit: 100000,
  };
}

export function tokenJson(t: TokenRecord): Json {
  return {
    id: t.id,
    name: t.name,
    revoked: false,
    created_at: t.createdAt,
    description: null,
    scopes: t.scopes,
    user_id: t.user.id,
    last_used_at: new Date().toISOString(),
    active: true,
    expires_at: null,
  };
}

export function namespaceJson(ns: NamespaceRecord, links: Links): Json {
  return {
    id: ns.id,
    name: ns.name,
    path: ns.path,
    kind: ns.kind,
    full_path: ns.fullPath,
    parent_id: ns.parent?.id ?? null,
    avatar_url: null,
    web_url: `${links.base}/${ns.kind === "group" ? "groups/" : ""}${ns.fullPath}`,
  };
}

export function groupJson(g: NamespaceRecord, links: Links, projects: Json[]): Json {
  return {
    id: g.id,
    web_url: `${links.base}/groups/${g.fullPath}`,
    name: g.name,
    path: g.path,
    description: "",
    visibility: g.visibility,
    share_with_group_lock: false,
    require_two_factor_authentication: false,
    two_factor_grace_period: 48,
    project_creation_level: g.projectCreationLevel === 30 ? "developer" : "maintainer",
    subgroup_creation_level: "maintainer",
    lfs_enabled: true,
    default_branch_protection: 2,
    avatar_url: null,
    request_access_enabled: true,
    full_name: fullNameOf(g),
    full_path: g.fullPath,
    created_at: g.createdAt,
    parent_id: g.parent?.id ?? null,
    shared_with_groups: [],
    projects,
    shared_projects: [],
  };
}

function sshUrl(links: Links, path: string): string | null {
  if (links.sshCloneBase === undefined) return null;
  const base = links.sshCloneBase.replace(/\/+$/, "");
  return base.startsWith("ssh://") ? `${base}/${path}.git` : `${base}:${path}.git`;
}

function linkJson(link: GroupLink): Json {
  return {
    group_id: link.group.id,
    group_name: link.group.name,
    group_full_path: link.group.fullPath,
    group_access_level: link.access,
    expires_at: link.expiresAt,
  };
}

function accessJson(level: number): Json | null {
  return level > 0 ? { access_level: level, notification_level: 3 } : null;
}

/** The project fields every listing shows (Entities::BasicProjectDetails). */
export function simpleProjectJson(p: ProjectRecord, links: Links): Json {
  const path = fullPathOf(p);
  return {
    id: p.id,
    description: p.description,
    name: p.name,
    name_with_namespace: `${fullNameOf(p.namespace)} / ${p.name}`,
    path: p.path,
    path_with_namespace: path,
    created_at: p.createdAt,
    default_branch: p.defaultBranch,
    tag_list: [],
    topics: [],
    ssh_url_to_repo: sshUrl(links, path),
    http_url_to_repo: `${links.httpCloneBase}/${path}.git`,
    web_url: `${links.base}/${path}`,
    avatar_url: null,
    forks_count: 0,
    star_count: 0,
    last_activity_at: p.createdAt,
    namespace: namespaceJson(p.namespace, links),
    visibility: p.visibility,
  };
}

/**
 * A project as `GET /projects/:id` shows it to `viewer` (Entities::ProjectWithAccess):
 * `permissions` tells the viewer's own direct and group access, which a provider can check
 * before it acts. `emptyRepo` comes from the repository itself.
 */
export function projectJson(
  p: ProjectRecord,
  links: Links,
  viewer: UserRecord | null,
  emptyRepo: boolean,
): Json {
  const path = fullPathOf(p);
  const body: Json = {
    ...simpleProjectJson(p, links),
    readme_url: emptyRepo ? null : `${links.base}/${path}/-/blob/${p.defaultBranch}/README.md`,
    empty_repo: emptyRepo,
    archived: false,
    creator_id: p.creator.id,
    shared_with_groups: [...p.sharedWith.values()].map(linkJson),
    _links: {
      self: `${links.base}/api/v4/projects/${p.id}`,
      repo_branches: `${links.base}/api/v4/projects/${p.id}/repository/branches`,
      members: `${links.base}/api/v4/projects/${p.id}/members`,
    },
  };
  // Entities::Project exposes the owner (Entities::UserBasic) of a personal project only;
  // go-git-providers reads its username (gitlab/client_repositories_user.go Create).
  if (p.namespace.owner) body.owner = userJson(p.namespace.owner, links);
  if (viewer) {
    // Entities::ProjectWithAccess: the viewer's direct membership (the owner of a personal
    // namespace is a member of its projects) and their membership of the project's group,
    // inherited from its ancestors. Access through a group share shows in neither.
    const direct = p.members.get(viewer.username.toLowerCase()) ??
      (p.namespace.owner === viewer ? 50 : 0);
    const inherited = p.namespace.kind === "group" ? namespaceLevel(viewer, p) : 0;
    body.permissions = { project_access: accessJson(direct), group_access: accessJson(inherited) };
  }
  return body;
}

/** A deploy key as enabled on a project (Entities::DeployKeysProject: the key plus can_push). */
export function deployKeyJson(k: DeployKeyRecord, canPush: boolean): Json {
  return {
    id: k.id,
    title: k.title,
    created_at: k.createdAt,
    expires_at: null,
    key: k.text,
    usage_type: "auth_and_signing",
    fingerprint: k.key.fingerprint,
    fingerprint_sha256: k.key.fingerprintSha256,
    can_push: canPush,
  };
}

/** Entities::DeployToken; `withToken` only in the answer to its creation (DeployTokenWithToken). */
export function deployTokenJson(t: DeployTokenRecord, withToken = false): Json {
  const body: Json = {
    id: t.id,
    name: t.name,
    username: t.username,
    expires_at: t.expiresAt,
    scopes: t.scopes,
    revoked: t.revoked,
    expired: t.expiresAt !== null && Date.parse(t.expiresAt) <= Date.now(),
  };
  if (withToken) body.token = t.value;
  return body;
}

export function groupLinkJson(p: ProjectRecord, link: GroupLink): Json {
  return {
    id: link.id,
    project_id: p.id,
    group_id: link.group.id,
    group_access: link.access,
    expires_at: link.expiresAt,
  };
}
