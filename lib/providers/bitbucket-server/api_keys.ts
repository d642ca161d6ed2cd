/**
 * Repository SSH access keys: /rest/keys/1.0/projects/{projectKey}/repos/{repositorySlug}/ssh.
 * Per "REST Resources Provided By: Bitbucket Server - SSH"
 * (https://docs.atlassian.com/bitbucket-server/rest/5.16.0/bitbucket-ssh-rest.html), the same
 * contract fluxcd/go-git-providers' stash client uses: an access key is
 * {key: {id, text, label}, permission: REPO_READ|REPO_WRITE, repository}.
 */
import { publicKeyMaterial } from "../types.ts";
import type { AccessKey, AccessKeyPermission, NewAccessKey } from "./types.ts";
import { unexpectedShape } from "./errors.ts";
import type { Transport } from "./http.ts";
import { reader } from "./json.ts";
import { collectPages } from "./paging.ts";
import { repoName, type ResolvedTarget } from "./target.ts";

function keysPath(t: ResolvedTarget): string {
  return `/rest/keys/1.0/projects/${t.projectSegment}/repos/${t.slugSegment}/ssh`;
}

function toAccessKey(t: ResolvedTarget, action: string, json: unknown): AccessKey {
  const read = reader(t, action);
  const body = read.object(json, "access key");
  const key = read.object(body.key, "access key.key");
  const permission = read.string(body, "permission", "access key");
  if (permission !== "REPO_READ" && permission !== "REPO_WRITE") {
    // REPO_ADMIN is not a valid access-key permission; anything else is not Bitbucket.
    throw unexpectedShape(t, action, `access key has permission "${permission}"`);
  }
  return {
    id: read.number(key, "id", "access key.key"),
    label: read.optionalString(key, "label") ?? "",
    publicKey: publicKeyMaterial(read.string(key, "text", "access key.key")),
    permission,
  };
}

/**
 * GET …/ssh — "Retrieves the access keys for the repository": paged (start, limit; optional
 * `filter` = label prefix); needs REPO_ADMIN; 401 insufficient permissions; 404 no repository.
 */
export async function listRepoAccessKeys(tr: Transport, t: ResolvedTarget): Promise<AccessKey[]> {
  const action = `list access keys of ${repoName(t)}`;
  const values = await collectPages(tr, t, {
    path: keysPath(t),
    action,
    subject: `repository ${repoName(t)}`,
  });
  return values.map((v) => toAccessKey(t, action, v));
}

/**
 * POST …/ssh — "Register a new SSH key and grants access to the repository": body
 * {key: {text, label}, permission}; 200/201 the new access key; 400 invalid key or permission;
 * 401 insufficient permissions; 404 no repository. Bitbucket refuses a key text the repository
 * already has (409 here).
 */
export async function addRepoAccessKey(
  tr: Transport,
  t: ResolvedTarget,
  key: NewAccessKey,
): Promise<AccessKey> {
  const action = `add access key "${key.label}" to ${repoName(t)}`;
  const permission: AccessKeyPermission = key.permission;
  const res = await tr.send({
    method: "POST",
    path: keysPath(t),
    body: { key: { text: key.publicKey.trim(), label: key.label }, permission },
    action,
    subject: `an access key with this public key on ${repoName(t)}`,
  });
  return toAccessKey(t, action, res.json);
}

/**
 * DELETE …/ssh/{keyId} — "Remove an access key from the repository": 204; 401 insufficient
 * permissions; 404 no repository. A 404 is accepted: a key (or repository) already gone is
 * removed, so a destroy run twice, or a key deleted by hand meanwhile, is not an error.
 */
export async function deleteRepoAccessKey(
  tr: Transport,
  t: ResolvedTarget,
  id: number,
): Promise<void> {
  await tr.send({
    method: "DELETE",
    path: `${keysPath(t)}/${encodeURIComponent(String(id))}`,
    action: `delete access key ${id} of ${repoName(t)}`,
    subject: `access key ${id} of ${repoName(t)}`,
    accept: [404],
  });
}
