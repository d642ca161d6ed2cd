/**
 * Project deploy tokens (flux bootstrap gitlab --deploy-token-auth; go-git-providers gitlab/
 * client_repository_deploytoken.go), per GitLab's REST docs doc/api/deploy_tokens.md.
 */
import type { JsonClient } from "../http/client.ts";
import { deleteProjectItem, encodePath, listProjectItems, num, obj, str } from "./api.ts";

export interface GlDeployToken {
  id: number;
  name: string;
  username: string;
  scopes: string[];
  /** Neither revoked nor expired. */
  active: boolean;
}

/** GET /projects/:id/deploy_tokens — doc/api/deploy_tokens.md "List project deploy tokens". */
export function listDeployTokens(client: JsonClient, path: string): Promise<GlDeployToken[]> {
  return listProjectItems(
    client,
    path,
    { resource: "deploy_tokens", what: "deploy token" },
    (o, f) => ({
      id: f.num("id"),
      name: typeof o.name === "string" ? o.name : "",
      username: f.str("username"),
      scopes: Array.isArray(o.scopes) ? o.scopes.filter((s) => typeof s === "string") : [],
      active: o.revoked !== true && o.expired !== true,
    }),
  );
}

/**
 * POST /projects/:id/deploy_tokens — doc/api/deploy_tokens.md "Create a project deploy token":
 * name, scopes [read_repository] (as go-git-providers). The token's value is in this answer
 * only.
 */
export async function createDeployToken(
  client: JsonClient,
  path: string,
  name: string,
): Promise<{ id: number; username: string; token: string }> {
  const action = `create deploy token "${name}" on ${path}`;
  const res = await client.send({
    method: "POST",
    path: `/projects/${encodePath(path)}/deploy_tokens`,
    body: { name, scopes: ["read_repository"] },
    action,
    subject: `project ${path}`,
  });
  const o = obj(client, action, res.json, "deploy token");
  return {
    id: num(client, action, o, "id", "deploy token"),
    username: str(client, action, o, "username", "deploy token"),
    token: str(client, action, o, "token", "deploy token"),
  };
}

/** DELETE /projects/:id/deploy_tokens/:token_id — doc/api/deploy_tokens.md "Delete a project deploy token". */
export function deleteDeployToken(
  client: JsonClient,
  path: string,
  id: number,
  opts: { gone?: boolean } = {},
): Promise<void> {
  return deleteProjectItem(
    client,
    path,
    { resource: "deploy_tokens", what: "deploy token", id },
    opts,
  );
}
