/**
 * Gitea deploy keys (routers/api/v1/repo/key.go; swagger operation ids):
 *   GET    /api/v1/repos/{owner}/{repo}/keys        repoListKeys   200, page/limit, X-Total-Count (no Link)
 *   POST   /api/v1/repos/{owner}/{repo}/keys        repoCreateKey  201 | 422
 *   GET    /api/v1/repos/{owner}/{repo}/keys/{id}   repoGetKey     200 | 404
 *   DELETE /api/v1/repos/{owner}/{repo}/keys/{id}   repoDeleteKey  204 | 403
 * Repository admins only (reqAdmin). CreateKeyOption {title (required), key (required),
 * read_only}. Refusals are 422 with HandleAddKeyError's words: "This key has already been added to
 * this repository", "A key with the same name already exists"; the same key may be a deploy key
 * of other repositories (one public key, key_id, shared). Deleting a key of another repository is
 * 403 "You do not have access to this key"; an id that does not exist deletes nothing (204).
 */
import { isEmptyRepo } from "../forge/bare_repo.ts";
import { isObject } from "../forge/http.ts";
import type { DeployKeyRecord, RepoRecord } from "../forge/model.ts";
import { pageOf, pageRequest } from "../forge/paging.ts";
import { parsePublicKey } from "../forge/ssh_keys.ts";
import {
  badBody,
  type Call,
  type Ctx,
  fail,
  fields,
  notFound,
  Reply,
  reply,
  repoFor,
} from "./call.ts";
import { deployKey } from "./json.ts";
import { giteaPageHeaders } from "./paging.ts";

function keyIdOf(ctx: Ctx, material: string): number {
  let id = ctx.keyIds.get(material);
  if (id === undefined) {
    id = ctx.store.nextId();
    ctx.keyIds.set(material, id);
  }
  return id;
}

/** The site admin and the repository's owner see the repository in key answers. */
async function keyJson(ctx: Ctx, call: Call, k: DeployKeyRecord, repo: RepoRecord) {
  const me = call.login!.toLowerCase();
  const privileged = Boolean(ctx.store.user(me)?.siteAdmin) ||
    repo.owner.login.toLowerCase() === me;
  const withRepo = privileged
    ? {
      mode: k.readOnly ? "read" as const : "write" as const,
      empty: await isEmptyRepo(repo.gitDir),
    }
    : undefined;
  return deployKey(k, keyIdOf(ctx, k.key), repo, call.urls, withRepo);
}

export async function listKeys(ctx: Ctx, call: Call, owner: string, name: string): Promise<Reply> {
  const found = repoFor(ctx, call, owner, name, { auth: true, admin: true });
  if (found instanceof Reply) return found;
  const { repo } = found;
  const page = pageOf(repo.keys, pageRequest(call.query, "limit", ctx.paging));
  const items = [];
  for (const k of page.items) items.push(await keyJson(ctx, call, k, repo));
  return reply(200, items, giteaPageHeaders(call, page, repo.keys.length, false));
}

export async function addKey(ctx: Ctx, call: Call, owner: string, name: string): Promise<Reply> {
  const found = repoFor(ctx, call, owner, name, { auth: true, admin: true });
  if (found instanceof Reply) return found;
  const { repo } = found;
  const parsed = await call.body();
  if (!parsed.ok || !isObject(parsed.value)) return badBody(call);
  const f = fields(call, parsed.value, { title: "string", key: "string", read_only: "boolean" }, [
    "title",
    "key",
  ]);
  if (f instanceof Reply) return f;
  const key = await parsePublicKey(f.key!);
  if (!key) return fail(call, 422, "Invalid key content: no valid public key found");
  if (repo.keys.some((k) => k.key === key.key)) {
    return fail(call, 422, "This key has already been added to this repository");
  }
  if (repo.keys.some((k) => k.title === f.title)) {
    return fail(call, 422, "A key with the same name already exists");
  }
  const record: DeployKeyRecord = {
    id: ctx.store.nextId(),
    title: f.title!,
    key: key.key,
    fingerprint: key.fingerprint,
    readOnly: f.read_only === true,
    createdAt: ctx.store.stamp(),
    addedBy: call.login!,
  };
  // Held before sshd is told: a concurrent add of the same key is refused.
  await ctx.keys.add(repo, record);
  // CreateDeployKey answers without the private information.
  return reply(201, deployKey(record, keyIdOf(ctx, record.key), repo, call.urls));
}

function keyById(ctx: Ctx, idText: string): { repo: RepoRecord; key: DeployKeyRecord } | undefined {
  if (!/^\d+$/.test(idText)) return undefined;
  const id = Number(idText);
  for (const repo of ctx.store.repos.values()) {
    const key = repo.keys.find((k) => k.id === id);
    if (key) return { repo, key };
  }
  return undefined;
}

export async function getKey(
  ctx: Ctx,
  call: Call,
  owner: string,
  name: string,
  id: string,
): Promise<Reply> {
  const found = repoFor(ctx, call, owner, name, { auth: true, admin: true });
  if (found instanceof Reply) return found;
  const hit = keyById(ctx, id);
  if (!hit || hit.repo !== found.repo) return notFound(call);
  return reply(200, await keyJson(ctx, call, hit.key, found.repo));
}

export async function deleteKey(
  ctx: Ctx,
  call: Call,
  owner: string,
  name: string,
  id: string,
): Promise<Reply> {
  const found = repoFor(ctx, call, owner, name, { auth: true, admin: true });
  if (found instanceof Reply) return found;
  const hit = keyById(ctx, id);
  if (!hit) return reply(204);
  if (hit.repo !== found.repo) return fail(call, 403, "You do not have access to this key");
  await ctx.keys.remove(hit.repo, hit.key);
  return reply(204);
}
