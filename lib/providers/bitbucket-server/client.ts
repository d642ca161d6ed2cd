/**
 * The REST client for Bitbucket Server / Data Center, the counterpart of `flux bootstrap
 * bitbucket-server` (fluxcd/go-git-providers' stash client): one repository, its access keys
 * and group grants, reached with an HTTP access token.
 */
import { ProviderError } from "../types.ts";
import type { BitbucketApi } from "./types.ts";
import { addRepoAccessKey, deleteRepoAccessKey, listRepoAccessKeys } from "./api_keys.ts";
import {
  listRepoGroupPermissions,
  probeProjectAdmin,
  probeRepoAdmin,
  setRepoGroupPermission,
} from "./api_permissions.ts";
import { createRepo, getProject, getRepo, setRepoPublic } from "./api_repos.ts";
import { permissionMessage } from "./errors.ts";
import { createTransport, type RequestRecord } from "./http.ts";
import { type BitbucketTarget, repoName, resolveTarget } from "./target.ts";

export type BitbucketServerProvider = BitbucketApi & {
  /** Every HTTP request made, in order (retries included). */
  requests: RequestRecord[];
  /** Releases the HTTP client (needed when a CA was given). */
  close(): void;
};

export function bitbucketServerProvider(target: BitbucketTarget): BitbucketServerProvider {
  const t = resolveTarget(target);
  const tr = createTransport(t);

  /**
   * The owner of a personal project always administers it; Bitbucket user names compare
   * case-insensitively.
   */
  const ownsPersonalProject = (): boolean => {
    const user = tr.user();
    return t.personalOwner !== null && user !== null &&
      user.toLowerCase() === t.personalOwner.toLowerCase();
  };

  async function checkAccess(): Promise<void> {
    const action = `check access to ${repoName(t)}`;
    // Proves the token works (401 otherwise) and the project exists (404), and learns the user.
    await getProject(tr, t, action);
    if (ownsPersonalProject()) return;
    if (await probeProjectAdmin(tr, t, action) === "ok") return;
    // A repository admin can still manage keys and grants of an existing repository.
    if (await probeRepoAdmin(tr, t, action) === "ok") return;
    throw new ProviderError(permissionMessage(t, action, 403, tr.user()), {
      status: 403,
      transient: false,
    });
  }

  return {
    requests: tr.requests,
    close: tr.close,
    checkAccess,
    getRepository: () => getRepo(tr, t),
    createRepository: (opts) => createRepo(tr, t, opts),
    setVisibility: (isPrivate) => setRepoPublic(tr, t, !isPrivate),
    listAccessKeys: () => listRepoAccessKeys(tr, t),
    addAccessKey: (key) => addRepoAccessKey(tr, t, key),
    deleteAccessKey: (id) => deleteRepoAccessKey(tr, t, id),
    listGroupGrants: () => listRepoGroupPermissions(tr, t),
    grantGroup: (grant) => setRepoGroupPermission(tr, t, grant),
  };
}
