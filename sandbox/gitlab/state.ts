/**
 * What the GitLab sandbox knows: users and their personal access tokens, namespaces (groups,
 * subgroups and each user's own), projects with their deploy keys, deploy tokens and group
 * shares. Paths are matched case-insensitively, as GitLab does (go-git-providers lower-cases the
 * group part of a project path before it asks: gitlab/gitlabclient.go GetGroupProject).
 */
import type { PublicKey } from "./keys.ts";

export type Visibility = "private" | "internal" | "public";
export const VISIBILITIES: readonly Visibility[] = ["private", "internal", "public"];

/** GitLab's access levels (lib/gitlab/access.rb): guest, reporter, developer, maintainer, owner. */
export type AccessLevel = 10 | 20 | 30 | 40 | 50;
export const ACCESS_LEVELS: readonly AccessLevel[] = [10, 20, 30, 40, 50];

/** Personal access token scopes (lib/gitlab/auth.rb API_SCOPES, REPOSITORY_SCOPES). */
export type TokenScope =
  | "api"
  | "read_api"
  | "read_user"
  | "read_repository"
  | "write_repository";

/** Deploy token scopes the API accepts (DeployToken::AVAILABLE_SCOPES, doc/api/deploy_tokens.md). */
export const DEPLOY_TOKEN_SCOPES = [
  "read_repository",
  "read_registry",
  "write_registry",
  "read_package_registry",
  "write_package_registry",
  "read_virtual_registry",
  "write_virtual_registry",
] as const;

export interface GitLabUserOptions {
  username: string;
  name?: string;
  /** Instance administrator: may do everything. */
  admin?: boolean;
  /** Personal access tokens; `name` is how request counts and records name the token. */
  tokens: { token: string; name?: string; scopes?: TokenScope[] }[];
}

export interface GitLabGroupOptions {
  /** Full path, "fleet" or "fleet/platform"; parents missing from the list are made private. */
  path: string;
  name?: string;
  /** Default private, as GitLab's instance default. */
  visibility?: Visibility;
  /** Direct members: user name -> access level (inherited by subgroups and their projects). */
  members?: Record<string, AccessLevel>;
  /** Who may create projects here: developers (GitLab's default) or maintainers and owners. */
  projectCreationLevel?: "developer" | "maintainer";
}

export interface UserRecord {
  id: number;
  username: string;
  name: string;
  admin: boolean;
  namespace: NamespaceRecord;
  createdAt: string;
}

export interface TokenRecord {
  id: number;
  name: string;
  value: string;
  user: UserRecord;
  scopes: TokenScope[];
  createdAt: string;
}

export interface NamespaceRecord {
  id: number;
  kind: "group" | "user";
  name: string;
  path: string;
  fullPath: string;
  parent: NamespaceRecord | null;
  visibility: Visibility;
  /** Direct members (groups only): lower-case user name -> level. */
  members: Map<string, AccessLevel>;
  /** The user of a personal namespace. */
  owner: UserRecord | null;
  projectCreationLevel: 30 | 40;
  createdAt: string;
}

export interface DeployKeyRecord {
  id: number;
  title: string;
  /** The key line as first added (trimmed). */
  text: string;
  key: PublicKey;
  createdAt: string;
}

export interface DeployTokenRecord {
  id: number;
  name: string;
  username: string;
  value: string;
  scopes: string[];
  expiresAt: string | null;
  revoked: boolean;
}

export interface GroupLink {
  id: number;
  group: NamespaceRecord;
  access: AccessLevel;
  expiresAt: string | null;
}

export interface ProjectRecord {
  id: number;
  name: string;
  path: string;
  description: string;
  namespace: NamespaceRecord;
  visibility: Visibility;
  defaultBranch: string;
  gitDir: string;
  creator: UserRecord;
  createdAt: string;
  /** Direct members: lower-case user name -> level (the owner of a personal namespace). */
  members: Map<string, AccessLevel>;
  deployKeys: { key: DeployKeyRecord; canPush: boolean }[];
  deployTokens: DeployTokenRecord[];
  /** Keyed by group id. */
  sharedWith: Map<number, GroupLink>;
}

export interface State {
  gitRoot: string;
  users: Map<string, UserRecord>;
  tokens: TokenRecord[];
  namespaces: NamespaceRecord[];
  projects: ProjectRecord[];
  /** Every deploy key the instance knows, by key material: one key may serve several projects. */
  deployKeys: Map<string, DeployKeyRecord>;
  nextId: {
    user: number;
    namespace: number;
    project: number;
    key: number;
    token: number;
    link: number;
  };
}

const now = (): string => new Date().toISOString();

export function fullPathOf(project: ProjectRecord): string {
  return `${project.namespace.fullPath}/${project.path}`;
}

function addGroup(state: State, fullPath: string, opts: GitLabGroupOptions | undefined) {
  const parts = fullPath.split("/");
  const path = parts[parts.length - 1];
  const parentPath = parts.slice(0, -1).join("/");
  const parent = parentPath === "" ? null : findNamespace(state, parentPath) ?? null;
  const group: NamespaceRecord = {
    id: state.nextId.namespace++,
    kind: "group",
    name: opts?.name ?? path,
    path,
    fullPath,
    parent,
    visibility: opts?.visibility ?? "private",
    members: new Map(
      Object.entries(opts?.members ?? {}).map(([u, level]) => [u.toLowerCase(), level]),
    ),
    owner: null,
    projectCreationLevel: opts?.projectCreationLevel === "maintainer" ? 40 : 30,
    createdAt: now(),
  };
  state.namespaces.push(group);
}

const SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

export function createState(
  gitRoot: string,
  users: GitLabUserOptions[],
  groups: GitLabGroupOptions[],
): State {
  const state: State = {
    gitRoot,
    users: new Map(),
    tokens: [],
    namespaces: [],
    projects: [],
    deployKeys: new Map(),
    nextId: { user: 1, namespace: 1, project: 1, key: 1, token: 1, link: 1 },
  };
  for (const u of users) {
    if (!SEGMENT.test(u.username)) throw new Error(`unusable GitLab user name: ${u.username}`);
    const namespace: NamespaceRecord = {
      id: state.nextId.namespace++,
      kind: "user",
      name: u.name ?? u.username,
      path: u.username,
      fullPath: u.username,
      parent: null,
      visibility: "public",
      members: new Map(),
      owner: null,
      projectCreationLevel: 40,
      createdAt: now(),
    };
    const user: UserRecord = {
      id: state.nextId.user++,
      username: u.username,
      name: u.name ?? u.username,
      admin: u.admin === true,
      namespace,
      createdAt: now(),
    };
    namespace.owner = user;
    state.namespaces.push(namespace);
    state.users.set(u.username.toLowerCase(), user);
    for (const t of u.tokens) {
      state.tokens.push({
        id: state.tokens.length + 1,
        name: t.name ?? `${u.username}-token-${state.tokens.length + 1}`,
        value: t.token,
        user,
        scopes: t.scopes ?? ["api"],
        createdAt: now(),
      });
    }
  }
  const wanted = new Map(groups.map((g) => [g.path.toLowerCase(), g]));
  // Parents first, whether or not they were listed.
  const paths = new Set<string>();
  for (const g of groups) {
    if (!g.path.split("/").every((s) => SEGMENT.test(s))) {
      throw new Error(`unusable GitLab group path: ${g.path}`);
    }
    const parts = g.path.split("/");
    for (let i = 1; i <= parts.length; i++) paths.add(parts.slice(0, i).join("/"));
  }
  for (const p of [...paths].sort((a, b) => a.split("/").length - b.split("/").length)) {
    if (findNamespace(state, p)) throw new Error(`GitLab group ${p} clashes with a user`);
    addGroup(state, p, wanted.get(p.toLowerCase()));
  }
  return state;
}

/** By numeric id or full path (case-insensitive). */
export function findNamespace(state: State, ref: string): NamespaceRecord | undefined {
  if (/^\d+$/.test(ref)) return state.namespaces.find((n) => n.id === Number(ref));
  const want = ref.toLowerCase();
  return state.namespaces.find((n) => n.fullPath.toLowerCase() === want);
}

/** By numeric id or URL-decoded full path "group/sub/project" (case-insensitive). */
export function findProject(state: State, ref: string): ProjectRecord | undefined {
  if (/^\d+$/.test(ref)) return state.projects.find((p) => p.id === Number(ref));
  return findProjectByPath(state, ref);
}

/** By full path only (a repository directory never names a project by id). */
export function findProjectByPath(state: State, path: string): ProjectRecord | undefined {
  const want = path.toLowerCase();
  return state.projects.find((p) => fullPathOf(p).toLowerCase() === want);
}

export function findToken(state: State, value: string): TokenRecord | undefined {
  return state.tokens.find((t) => t.value === value);
}

export function findUser(state: State, username: string): UserRecord | undefined {
  return state.users.get(username.toLowerCase());
}

/** The namespace and its ancestors, nearest first. */
export function lineage(ns: NamespaceRecord): NamespaceRecord[] {
  const out: NamespaceRecord[] = [];
  for (let n: NamespaceRecord | null = ns; n; n = n.parent) out.push(n);
  return out;
}

/** "Fleet / Platform": GitLab's full_name (and name_with_namespace) joins names so. */
export function fullNameOf(ns: NamespaceRecord): string {
  return lineage(ns).reverse().map((n) => n.name).join(" / ");
}

export function isValidPath(path: string): boolean {
  // GitLab's path rules: letters, digits, "_", "-", "."; not starting with "-" or "."; not
  // ending in ".git" or ".atom" (doc/user/reserved_names.md, Gitlab::PathRegex).
  return path.length <= 255 && SEGMENT.test(path) && !/\.(git|atom)$/i.test(path) &&
    !path.endsWith(".");
}
