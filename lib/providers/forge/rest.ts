/**
 * The REST calls both hosted forges answer alike (the endpoints fluxcd/go-git-providers calls for
 * flux bootstrap): GET /user, GET /orgs/{org}, GET|PATCH /repos/{owner}/{repo}, POST /user/repos,
 * POST /orgs/{org}/repos, GET|POST /repos/{owner}/{repo}/keys, DELETE …/keys/{id},
 * GET /repos/{owner}/{repo}/teams. Each provider's dialect.ts cites them in its API's published
 * description. Repositories carry `private`, `clone_url`, `ssh_url`, `default_branch` and, for an
 * authenticated caller, `permissions` {admin, push, pull}; deploy keys {id, key, title,
 * read_only}.
 */
import { publicKeyMaterial } from "../types.ts";
import type { Permission } from "../types.ts";
import type { JsonClient } from "../http/client.ts";
import { type Json, jsonReader } from "../http/json.ts";
import type { ForgeDialect, ForgeKey, ForgeRepo, ForgeSettings, ForgeTeam } from "./types.ts";

const seg = encodeURIComponent;

export function repoName(s: ForgeSettings): string {
  return `${s.owner}/${s.repository}`;
}

function repoPath(s: ForgeSettings): string {
  return `/repos/${seg(s.owner)}/${seg(s.repository)}`;
}

function toRepo(client: JsonClient, action: string, json: unknown): ForgeRepo {
  const read = jsonReader(client.ref, action);
  const body = read.object(json, "repository");
  const owner = read.object(body.owner, "repository.owner");
  const perms = body.permissions;
  const p = typeof perms === "object" && perms !== null ? perms as Json : undefined;
  return {
    owner: read.string(owner, "login", "repository.owner"),
    name: read.string(body, "name", "repository"),
    private: read.boolean(body, "private", true),
    httpUrl: read.string(body, "clone_url", "repository"),
    sshUrl: read.optionalString(body, "ssh_url"),
    defaultBranch: read.optionalString(body, "default_branch"),
    ...(p
      ? {
        permissions: {
          admin: read.boolean(p, "admin", false),
          push: read.boolean(p, "push", false),
          pull: read.boolean(p, "pull", false),
        },
      }
      : {}),
  };
}

function toKey(client: JsonClient, action: string, json: unknown): ForgeKey {
  const read = jsonReader(client.ref, action);
  const body = read.object(json, "deploy key");
  return {
    id: read.number(body, "id", "deploy key"),
    title: read.optionalString(body, "title") ?? "",
    publicKey: publicKeyMaterial(read.string(body, "key", "deploy key")),
    readOnly: read.boolean(body, "read_only", false),
  };
}

/** The login the token belongs to. */
export async function currentUser(client: JsonClient, action: string): Promise<string> {
  const res = await client.send({ method: "GET", path: "/user", action, subject: "the user" });
  const read = jsonReader(client.ref, action);
  return read.string(read.object(res.json, "user"), "login", "user");
}

/** Whether the organization exists (and the token sees it). */
export async function organizationExists(
  client: JsonClient,
  s: ForgeSettings,
  action: string,
): Promise<boolean> {
  const res = await client.send({
    method: "GET",
    path: `/orgs/${seg(s.owner)}`,
    action,
    subject: `organization ${s.owner}`,
    accept: [404],
  });
  return res.status !== 404;
}

/** undefined when the repository does not exist (or the token cannot see it: both answer 404). */
export async function getRepository(
  client: JsonClient,
  s: ForgeSettings,
): Promise<ForgeRepo | undefined> {
  const action = `read repository ${repoName(s)}`;
  const res = await client.send({
    method: "GET",
    path: repoPath(s),
    action,
    subject: `repository ${repoName(s)}`,
    accept: [404],
  });
  return res.status === 404 ? undefined : toRepo(client, action, res.json);
}

export async function createRepository(
  client: JsonClient,
  d: ForgeDialect,
  s: ForgeSettings,
  isPrivate: boolean,
): Promise<ForgeRepo> {
  const action = `create repository ${repoName(s)}`;
  const res = await client.send({
    method: "POST",
    path: s.personal ? "/user/repos" : `/orgs/${seg(s.owner)}/repos`,
    body: { name: s.repository, private: isPrivate, auto_init: false, ...d.createFields(s) },
    action,
    subject: `repository ${repoName(s)}`,
  });
  return toRepo(client, action, res.json);
}

export async function setVisibility(
  client: JsonClient,
  s: ForgeSettings,
  isPrivate: boolean,
): Promise<void> {
  await client.send({
    method: "PATCH",
    path: repoPath(s),
    body: { private: isPrivate },
    action: `make repository ${repoName(s)} ${isPrivate ? "private" : "public"}`,
    subject: `repository ${repoName(s)}`,
  });
}

/**
 * PATCH /repos/{owner}/{repo} {default_branch}: GitHub repos/update ("Updates the default branch
 * for this repository"; 422 when the branch does not exist), Gitea repoEdit (EditRepoOption
 * default_branch). Called after the push, so the branch exists.
 */
export async function setDefaultBranch(
  client: JsonClient,
  s: ForgeSettings,
  branch: string,
): Promise<void> {
  await client.send({
    method: "PATCH",
    path: repoPath(s),
    body: { default_branch: branch },
    action: `set the default branch of ${repoName(s)} to ${branch}`,
    subject: `repository ${repoName(s)}`,
  });
}

export async function listKeys(
  client: JsonClient,
  d: ForgeDialect,
  s: ForgeSettings,
): Promise<ForgeKey[]> {
  const action = `list deploy keys of ${repoName(s)}`;
  const values = await d.list(client, {
    path: `${repoPath(s)}/keys`,
    action,
    subject: `repository ${repoName(s)}`,
  });
  return values.map((v) => toKey(client, action, v));
}

export async function addKey(
  client: JsonClient,
  s: ForgeSettings,
  key: { title: string; publicKey: string; readOnly: boolean },
): Promise<ForgeKey> {
  const action = `add deploy key "${key.title}" to ${repoName(s)}`;
  const res = await client.send({
    method: "POST",
    path: `${repoPath(s)}/keys`,
    body: { title: key.title, key: key.publicKey.trim(), read_only: key.readOnly },
    action,
    subject: `repository ${repoName(s)}`,
  });
  return toKey(client, action, res.json);
}

/** A key already gone (404) is what was wanted. */
export async function deleteKey(client: JsonClient, s: ForgeSettings, id: number): Promise<void> {
  await client.send({
    method: "DELETE",
    path: `${repoPath(s)}/keys/${seg(String(id))}`,
    action: `delete deploy key ${id} of ${repoName(s)}`,
    subject: `deploy key ${id} of ${repoName(s)}`,
    accept: [404],
  });
}

export async function listTeams(
  client: JsonClient,
  d: ForgeDialect,
  s: ForgeSettings,
): Promise<ForgeTeam[]> {
  const action = `list teams of ${repoName(s)}`;
  const values = await d.list(client, {
    path: `${repoPath(s)}/teams`,
    action,
    subject: `repository ${repoName(s)}`,
  });
  return values.map((v) => d.team(v, client, action));
}

export async function grantTeam(
  client: JsonClient,
  d: ForgeDialect,
  s: ForgeSettings,
  team: string,
  permission: Permission,
): Promise<void> {
  await client.send({
    ...d.grantTeam(s, team, permission),
    action: `grant team ${team} ${d.permissionWord(permission)} on ${repoName(s)}`,
    subject: `team ${team} (or repository ${repoName(s)})`,
  });
}
