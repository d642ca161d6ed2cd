/**
 * What a forge sandbox (GitHub, Gitea) knows: users, organizations with their teams, and
 * repositories with their deploy keys and team grants. Both APIs describe the same things, so the
 * records are shared; each site computes permissions and answers in its own words and shapes
 * (sandbox/github/, sandbox/gitea/).
 *
 * Names are matched case-insensitively, as both sites do; records keep the case they were created
 * with, which is also how they are laid out on disk: <gitRoot>/<owner login>/<name>.git.
 */
import { join } from "node:path";

export interface UserRecord {
  kind: "User";
  id: number;
  login: string;
  /** Site administrator (Gitea: full access everywhere; GitHub Enterprise: no repository rights). */
  siteAdmin: boolean;
  createdAt: string;
}

export interface TeamRecord {
  id: number;
  /** GitHub: the slug; Gitea: the name, which is what its API takes. */
  slug: string;
  name: string;
  /** The team's default permission, in the site's own words (GitHub "pull", Gitea "write" …). */
  permission: string;
  /** Lower-case logins. */
  members: Set<string>;
  /** Gitea's "Owners" team and teams created with "all repositories": every repository. */
  includesAllRepositories: boolean;
}

export interface OrgRecord {
  kind: "Organization";
  id: number;
  login: string;
  /** Lower-case logins of the owners (GitHub owners, Gitea's Owners team). */
  owners: Set<string>;
  /** Lower-case logins of every member, owners included. */
  members: Set<string>;
  teams: TeamRecord[];
  /** GitHub's members_can_create_repositories; Gitea's team can_create_org_repo. */
  membersCanCreateRepositories: boolean;
  /** Gitea: repository admins may change team access (else only organization owners). */
  repoAdminChangeTeamAccess: boolean;
  createdAt: string;
}

export type OwnerRecord = UserRecord | OrgRecord;

export interface DeployKeyRecord {
  id: number;
  title: string;
  /** "type base64", the comment dropped (both sites answer the key that way). */
  key: string;
  /** "SHA256:…" of the key blob. */
  fingerprint: string;
  readOnly: boolean;
  createdAt: string;
  /** Login of who added it. */
  addedBy: string;
}

export interface RepoRecord {
  id: number;
  owner: OwnerRecord;
  name: string;
  private: boolean;
  description: string;
  defaultBranch: string;
  gitDir: string;
  createdAt: string;
  updatedAt: string;
  keys: DeployKeyRecord[];
  /** team id -> permission granted on this repository (site's words). */
  teams: Map<number, string>;
}

export interface OrgSpec {
  login: string;
  /** Logins of the owners (members too). */
  owners?: string[];
  members?: string[];
  /** Default true, as on GitHub. */
  membersCanCreateRepositories?: boolean;
  /** Gitea's repo_admin_change_team_access; default false, as on Gitea. */
  repoAdminChangeTeamAccess?: boolean;
  teams?: TeamSpec[];
}

export interface TeamSpec {
  slug: string;
  /** Default: the slug. */
  name?: string;
  /** The site's default team permission when absent. */
  permission?: string;
  members?: string[];
  includesAllRepositories?: boolean;
}

const LOGIN = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,38})$/;

function now(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
}

function checkLogin(login: string): string {
  if (!LOGIN.test(login) || login.endsWith(".git")) {
    throw new Error(`unusable login for a forge sandbox: ${JSON.stringify(login)}`);
  }
  return login;
}

export class ForgeStore {
  readonly users = new Map<string, UserRecord>();
  readonly orgs = new Map<string, OrgRecord>();
  /** key: `${owner}/${name}` in lower case */
  readonly repos = new Map<string, RepoRecord>();
  #nextId = 1;

  constructor(readonly gitRoot: string, readonly defaultTeamPermission: string) {}

  nextId(): number {
    return this.#nextId++;
  }

  addUser(login: string, siteAdmin = false): UserRecord {
    const key = checkLogin(login).toLowerCase();
    if (this.users.has(key) || this.orgs.has(key)) throw new Error(`duplicate login ${login}`);
    const user: UserRecord = {
      kind: "User",
      id: this.nextId(),
      login,
      siteAdmin,
      createdAt: now(),
    };
    this.users.set(key, user);
    return user;
  }

  addOrg(spec: OrgSpec): OrgRecord {
    const key = checkLogin(spec.login).toLowerCase();
    if (this.users.has(key) || this.orgs.has(key)) throw new Error(`duplicate login ${spec.login}`);
    const lower = (xs: string[] = []) => xs.map((x) => this.#mustUser(x).login.toLowerCase());
    const owners = new Set(lower(spec.owners));
    const org: OrgRecord = {
      kind: "Organization",
      id: this.nextId(),
      login: spec.login,
      owners,
      members: new Set([...owners, ...lower(spec.members)]),
      teams: [],
      membersCanCreateRepositories: spec.membersCanCreateRepositories ?? true,
      repoAdminChangeTeamAccess: spec.repoAdminChangeTeamAccess ?? false,
      createdAt: now(),
    };
    for (const t of spec.teams ?? []) this.addTeam(org, t);
    this.orgs.set(key, org);
    return org;
  }

  addTeam(org: OrgRecord, spec: TeamSpec): TeamRecord {
    if (org.teams.some((t) => t.slug.toLowerCase() === spec.slug.toLowerCase())) {
      throw new Error(`duplicate team ${spec.slug} in ${org.login}`);
    }
    const members = new Set((spec.members ?? []).map((m) => this.#mustUser(m).login.toLowerCase()));
    for (const m of members) org.members.add(m);
    const team: TeamRecord = {
      id: this.nextId(),
      slug: spec.slug,
      name: spec.name ?? spec.slug,
      permission: spec.permission ?? this.defaultTeamPermission,
      members,
      includesAllRepositories: spec.includesAllRepositories ?? false,
    };
    org.teams.push(team);
    return team;
  }

  #mustUser(login: string): UserRecord {
    const user = this.users.get(login.toLowerCase());
    if (!user) throw new Error(`no sandbox user ${login} (declare users before organizations)`);
    return user;
  }

  user(login: string): UserRecord | undefined {
    return this.users.get(login.toLowerCase());
  }

  org(login: string): OrgRecord | undefined {
    return this.orgs.get(login.toLowerCase());
  }

  owner(login: string): OwnerRecord | undefined {
    return this.user(login) ?? this.org(login);
  }

  team(org: OrgRecord, slug: string): TeamRecord | undefined {
    return org.teams.find((t) => t.slug.toLowerCase() === slug.toLowerCase());
  }

  repo(owner: string, name: string): RepoRecord | undefined {
    return this.repos.get(`${owner}/${name}`.toLowerCase());
  }

  repoById(id: number): RepoRecord | undefined {
    for (const r of this.repos.values()) if (r.id === id) return r;
    return undefined;
  }

  reposOf(owner: OwnerRecord): RepoRecord[] {
    return [...this.repos.values()].filter((r) => r.owner === owner);
  }

  /**
   * Reserves owner/name synchronously (so that two concurrent creates of one name cannot both
   * succeed); undefined when it exists. The caller makes the git repository and calls `drop` if
   * that fails.
   */
  reserveRepo(
    owner: OwnerRecord,
    fields: { name: string; private: boolean; description: string; defaultBranch: string },
  ): RepoRecord | undefined {
    const key = `${owner.login}/${fields.name}`.toLowerCase();
    if (this.repos.has(key)) return undefined;
    const at = now();
    const repo: RepoRecord = {
      id: this.nextId(),
      owner,
      ...fields,
      gitDir: join(this.gitRoot, owner.login, `${fields.name}.git`),
      createdAt: at,
      updatedAt: at,
      keys: [],
      teams: new Map(),
    };
    this.repos.set(key, repo);
    // Teams that cover every repository get the new one, as Gitea does for its Owners team.
    if (owner.kind === "Organization") {
      for (const t of owner.teams) {
        if (t.includesAllRepositories) repo.teams.set(t.id, t.permission);
      }
    }
    return repo;
  }

  drop(repo: RepoRecord): void {
    this.repos.delete(`${repo.owner.login}/${repo.name}`.toLowerCase());
  }

  /** Every deploy key of the instance with this key material (GitHub keys are unique per site). */
  keysWithMaterial(key: string): { repo: RepoRecord; key: DeployKeyRecord }[] {
    const out: { repo: RepoRecord; key: DeployKeyRecord }[] = [];
    for (const repo of this.repos.values()) {
      for (const k of repo.keys) if (k.key === key) out.push({ repo, key: k });
    }
    return out;
  }

  stamp(): string {
    return now();
  }
}

/** What a test reads of a repository (sandbox.repo(owner, name)). */
export interface RepoView {
  private: boolean;
  defaultBranch: string;
  description: string;
  gitDir: string;
  keys: { id: number; title: string; key: string; readOnly: boolean }[];
  /** team (by `label`) -> permission granted, in the site's words */
  teams: Record<string, string>;
}

export function describeRepo(r: RepoRecord, label: (t: TeamRecord) => string): RepoView {
  const teams = r.owner.kind === "Organization" ? r.owner.teams : [];
  return {
    private: r.private,
    defaultBranch: r.defaultBranch,
    description: r.description,
    gitDir: r.gitDir,
    keys: r.keys.map((k) => ({ id: k.id, title: k.title, key: k.key, readOnly: k.readOnly })),
    teams: Object.fromEntries([...r.teams].map(([id, permission]) => {
      const team = teams.find((t) => t.id === id);
      return [team ? label(team) : String(id), permission];
    })),
  };
}
