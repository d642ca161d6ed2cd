/**
 * What the Bitbucket sandbox knows: projects (normal and personal "~user"), repositories with
 * their access keys and group grants, and the bare git repositories behind them.
 */
import { openUp } from "../ssh/repos.ts";
import { chmod, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

export interface ProjectRecord {
  /** As the server spells it: "FLEET", or "~ALICE" for alice's personal project. */
  key: string;
  id: number;
  name: string;
  /** User name for personal projects, else null. */
  owner: string | null;
  /** Directory under the git root and in clone URLs: "fleet", "~alice" (lower case, as /scm/ URLs are). */
  dir: string;
}

export interface KeyRecord {
  id: number;
  label: string;
  text: string;
  permission: string;
}

export interface RepoRecord {
  id: number;
  slug: string;
  name: string;
  project: ProjectRecord;
  public: boolean;
  hierarchyId: string;
  defaultBranch: string;
  gitDir: string;
  keys: KeyRecord[];
  /** group name -> REPO_READ | REPO_WRITE | REPO_ADMIN */
  groups: Map<string, string>;
}

export interface State {
  projects: ProjectRecord[];
  /** key: `${project.dir}/${slug}` */
  repos: Map<string, RepoRecord>;
  nextRepoId: number;
  nextKeyId: number;
  gitRoot: string;
}

export function createState(
  gitRoot: string,
  projectKeys: string[],
  users: string[],
): State {
  let id = 1;
  const projects: ProjectRecord[] = projectKeys.map((key) => ({
    key,
    id: id++,
    name: key,
    owner: null,
    dir: key.toLowerCase(),
  }));
  for (const user of users) {
    projects.push({
      key: `~${user.toUpperCase()}`,
      id: id++,
      name: user,
      owner: user,
      dir: `~${user.toLowerCase()}`,
    });
  }
  return { projects, repos: new Map(), nextRepoId: 1, nextKeyId: 1, gitRoot };
}

/** Project keys and personal "~user" keys are matched case-insensitively, as Bitbucket does. */
export function findProject(state: State, key: string): ProjectRecord | undefined {
  const want = key.toLowerCase();
  return state.projects.find((p) => p.key.toLowerCase() === want);
}

export function findRepo(
  state: State,
  project: ProjectRecord,
  slug: string,
): RepoRecord | undefined {
  return state.repos.get(`${project.dir}/${slug.toLowerCase()}`);
}

/** Bitbucket derives the slug from the name: lower case, runs of other characters become "-". */
export function slugify(name: string): string {
  return name.trim().toLowerCase().replace(/[^a-z0-9._-]+/g, "-");
}

export function validRepoName(name: string): boolean {
  return name.length > 0 && name.length <= 128 && /^[A-Za-z0-9][A-Za-z0-9 ._-]*$/.test(name);
}

const KEY_LINE =
  /^(ssh-(?:rsa|ed25519|dss)|ecdsa-sha2-nistp(?:256|384|521)|sk-[a-z0-9@.-]+)\s+([A-Za-z0-9+/]+={0,3})(?:\s+(.*))?$/;

/** Parses an OpenSSH public key line; undefined when it is not one. */
export function parseKeyLine(text: string): { material: string; comment: string } | undefined {
  const m = KEY_LINE.exec(text.trim());
  return m ? { material: `${m[1]} ${m[2]}`, comment: m[3] ?? "" } : undefined;
}

function randomHex(bytes: number): string {
  return Array.from(
    crypto.getRandomValues(new Uint8Array(bytes)),
    (b) => b.toString(16).padStart(2, "0"),
  )
    .join("");
}

export function newRepoRecord(
  state: State,
  project: ProjectRecord,
  name: string,
  isPublic: boolean,
  defaultBranch: string,
): RepoRecord {
  const slug = slugify(name);
  return {
    id: state.nextRepoId++,
    slug,
    name,
    project,
    public: isPublic,
    hierarchyId: randomHex(10),
    defaultBranch,
    gitDir: join(state.gitRoot, project.dir, `${slug}.git`),
    keys: [],
    groups: new Map(),
  };
}

async function git(args: string[]): Promise<void> {
  const out = await new Deno.Command("git", {
    args,
    clearEnv: true,
    // A developer's ~/.gitconfig (templates, hooks) must not shape sandbox repositories.
    env: {
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      HOME: tmpdir(),
      GIT_CONFIG_NOSYSTEM: "1",
      GIT_CONFIG_GLOBAL: "/dev/null",
      LANG: "C",
    },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  if (out.code !== 0) {
    throw new Error(`git ${args[0]} failed: ${new TextDecoder().decode(out.stderr).trim()}`);
  }
}

/**
 * A real bare repository where the git HTTP sandbox serves it (<root>/<dir>/<slug>.git), pushable
 * over smart HTTP, HEAD on the default branch even while it is unborn.
 */
export async function initBareRepo(r: RepoRecord): Promise<void> {
  await mkdir(dirname(r.gitDir), { recursive: true, mode: 0o777 });
  await chmod(dirname(r.gitDir), 0o777);
  // Shared: pushes arrive over HTTP as root and over the SSH sandbox as its (non-root) users.
  await git([
    "init",
    "--bare",
    "--quiet",
    "--shared=0666",
    `--initial-branch=${r.defaultBranch}`,
    r.gitDir,
  ]);
  await git(["--git-dir", r.gitDir, "config", "http.receivepack", "true"]);
  await openUp(r.gitDir);
}
