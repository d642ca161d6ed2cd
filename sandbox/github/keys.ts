/**
 * GitHub deploy keys (docs "REST API endpoints for deploy keys"; operation ids from the OpenAPI
 * description):
 *   GET    /repos/{owner}/{repo}/keys            repos/list-deploy-keys   200, paged, Link
 *   POST   /repos/{owner}/{repo}/keys            repos/create-deploy-key  201 | 422
 *   GET    /repos/{owner}/{repo}/keys/{key_id}   repos/get-deploy-key     200 | 404
 *   DELETE /repos/{owner}/{repo}/keys/{key_id}   repos/delete-deploy-key  204 | 404
 * Administration permission (admin role; fine-grained "administration"). A key line GitHub cannot
 * read is 422 {resource: "PublicKey", code: "custom", field: "key", message: "key is invalid. It
 * must begin with …"}; a key already used anywhere on the site (deploy keys are unique per site)
 * is the same shape with "key is already in use". The key is enforced by the sandbox sshd before
 * the API answers 201: read_only keys may fetch, others may push too.
 */
import { isObject } from "../forge/http.ts";
import type { DeployKeyRecord } from "../forge/model.ts";
import { pageOf, pageRequest } from "../forge/paging.ts";
import { parsePublicKey } from "../forge/ssh_keys.ts";
import {
  badJson,
  type Call,
  type Ctx,
  fields,
  githubLink,
  missingField,
  notFound,
  Reply,
  reply,
  repoFor,
} from "./call.ts";
import { deployKey, validationError } from "./json.ts";

const INVALID_KEY = "key is invalid. It must begin with 'ssh-ed25519', 'ssh-rsa', 'ssh-dss', " +
  "'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', or 'ecdsa-sha2-nistp521'. " +
  "Check that you're copying the public half of the key";

function keyError(call: Call, message: string): Reply {
  return reply(
    422,
    validationError("Validation Failed", call.docs, [
      { resource: "PublicKey", code: "custom", field: "key", message },
    ]),
  );
}

export function listKeys(ctx: Ctx, call: Call, owner: string, name: string): Reply {
  const found = repoFor(ctx, call, owner, name, {
    permission: ["administration", "read"],
    write: false,
    wanted: "admin",
  });
  if (found instanceof Reply) return found;
  const { repo } = found;
  const page = pageOf(repo.keys, pageRequest(call.query, "per_page", ctx.paging));
  // GitHub's links name the repository by id: clients must follow them, not rebuild them.
  return reply(
    200,
    page.items.map((k) => deployKey(k, repo, call.urls)),
    githubLink(call, page, `repositories/${repo.id}/keys`),
  );
}

export async function addKey(ctx: Ctx, call: Call, owner: string, name: string): Promise<Reply> {
  const found = repoFor(ctx, call, owner, name, {
    permission: ["administration", "write"],
    write: true,
    wanted: "admin",
  });
  if (found instanceof Reply) return found;
  const { repo } = found;
  const parsed = await call.body();
  if (!parsed.ok || !isObject(parsed.value)) return badJson(call);
  const f = fields(call, parsed.value, { key: "string", title: "string", read_only: "boolean" });
  if (f instanceof Reply) return f;
  if (f.key === undefined) return missingField(call, "key");
  const key = await parsePublicKey(f.key);
  if (!key) return keyError(call, INVALID_KEY);
  if (ctx.store.keysWithMaterial(key.key).length > 0) {
    return keyError(call, "key is already in use");
  }
  const record: DeployKeyRecord = {
    id: ctx.store.nextId(),
    title: f.title ?? key.comment,
    key: key.key,
    fingerprint: key.fingerprint,
    // The description's default: a key that may also write.
    readOnly: f.read_only ?? false,
    createdAt: ctx.store.stamp(),
    addedBy: call.login!,
  };
  // Held before sshd is told: a concurrent add of the same key is refused.
  await ctx.keys.add(repo, record);
  const body = deployKey(record, repo, call.urls);
  return reply(201, body, { location: body.url });
}

function keyOf(keys: DeployKeyRecord[], idText: string): DeployKeyRecord | undefined {
  return /^\d+$/.test(idText) ? keys.find((k) => k.id === Number(idText)) : undefined;
}

export function getKey(ctx: Ctx, call: Call, owner: string, name: string, id: string): Reply {
  const found = repoFor(ctx, call, owner, name, {
    permission: ["administration", "read"],
    write: false,
    wanted: "admin",
  });
  if (found instanceof Reply) return found;
  const key = keyOf(found.repo.keys, id);
  return key ? reply(200, deployKey(key, found.repo, call.urls)) : notFound(call);
}

export async function deleteKey(
  ctx: Ctx,
  call: Call,
  owner: string,
  name: string,
  id: string,
): Promise<Reply> {
  const found = repoFor(ctx, call, owner, name, {
    permission: ["administration", "write"],
    write: true,
    wanted: "admin",
  });
  if (found instanceof Reply) return found;
  const { repo } = found;
  const key = keyOf(repo.keys, id);
  if (!key) return notFound(call);
  await ctx.keys.remove(repo, key);
  return reply(204);
}
