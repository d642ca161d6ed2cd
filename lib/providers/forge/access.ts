/**
 * The token's rights, checked before anything is pushed (flux checks nothing and fails half-way):
 * on an existing repository, its `permissions` say whether the token's user may push and
 * administer it (deploy keys need admin); for a repository to create, the user behind the token
 * must be the personal owner, or the organization must exist. What the token itself lacks (a
 * token's scopes) the dialect tells from the answers' headers. Each missing right
 * is named in the API's terms.
 */
import { ProviderError } from "../types.ts";
import type { JsonClient } from "../http/client.ts";
import { scrub } from "../http/errors.ts";
import { currentUser, organizationExists, repoName } from "./rest.ts";
import type { ForgeClientState, ForgeDialect, ForgeRepo, ForgeSettings } from "./types.ts";

function refused(client: JsonClient, message: string, status = 403): ProviderError {
  return new ProviderError(scrub(message, client.ref.token), { status, transient: false });
}

export async function checkAccess(
  client: JsonClient,
  state: ForgeClientState,
  d: ForgeDialect,
  s: ForgeSettings,
  repo: ForgeRepo | undefined,
): Promise<void> {
  const name = repoName(s);
  const who = `the token for ${s.host}/${s.owner}`;
  const action = `check access to ${name}`;
  if (repo) {
    const scope = d.tokenProblem(state, repo.private ? "push-private" : "push-public");
    if (scope) throw refused(client, `${action}: ${who} cannot push to ${name}: ${scope}`);
    if (repo.permissions && !repo.permissions.push) {
      throw refused(
        client,
        `${action}: ${who} cannot push to ${name}: it needs ${d.needWords.push}`,
      );
    }
    if (!s.tokenAuth && repo.permissions && !repo.permissions.admin) {
      throw refused(
        client,
        `${action}: ${who} cannot add deploy keys to ${name}: it needs ${d.needWords.admin}`,
      );
    }
    return;
  }
  if (s.personal) {
    const login = await currentUser(client, action);
    if (login.toLowerCase() !== s.owner.toLowerCase()) {
      // As flux: "the specified owner doesn't match the identity associated with the given token".
      throw refused(
        client,
        `${action}: the token belongs to ${login}, not to ${s.owner}: with personal: true the owner must be the token's user`,
      );
    }
  } else if (!await organizationExists(client, s, action)) {
    throw refused(
      client,
      `${action}: organization ${s.owner} was not found on ${s.host} (404), or the token cannot see it; for a user's repository set personal: true`,
      404,
    );
  }
  const scope = d.tokenProblem(state, s.private ? "create-private" : "create-public");
  if (scope) {
    throw refused(client, `${action}: ${who} cannot create repositories: ${scope}`);
  }
}
