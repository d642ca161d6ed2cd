/**
 * A hosted forge's repository as fluxfleet uses it: the settings of its
 * block, what its REST API answers, and the calls a session makes. Both APIs have the same
 * resource shapes for these (repository with `permissions`, deploy keys with `read_only`); each
 * provider's folder supplies what differs (its dialect: errors, paging, team grants, tokens).
 */
import type { SecretRef } from "../../config/types.ts";
import type { Permission } from "../types.ts";
import type { ClientOptions, JsonClient, RequestRecord } from "../http/client.ts";
import type { FailureContext } from "../http/errors.ts";

/** A block's settings, resolved (plain data: handed to `open`). */
export interface ForgeSettings {
  /** The API's base URL. */
  apiUrl: string;
  /** The site: https://HOST (clone URLs before the repository exists). */
  webUrl: string;
  /** host[:port] of the site, as messages name it. */
  host: string;
  owner: string;
  repository: string;
  personal: boolean;
  private: boolean;
  teams: { group: string; permission: Permission }[];
  readWriteKey: boolean;
  reconcile: boolean;
  tokenAuth: boolean;
  /** The branch flux syncs (git.branch): a repository created is given it as default branch. */
  branch: string;
  /** --ssh-hostname: host[:port] the cluster reads from instead of the API's SSH link. */
  sshHostname?: string;
  /** The token's field as the manifest spells it (git.<kind>.token), for 401s. */
  tokenField: string;
}

export interface ForgeRepo {
  owner: string;
  name: string;
  private: boolean;
  httpUrl: string;
  sshUrl?: string;
  defaultBranch?: string;
  /** The token's user's role on it; absent when the API did not say. */
  permissions?: { admin: boolean; push: boolean; pull: boolean };
}

export interface ForgeKey {
  id: number;
  title: string;
  /** "<type> <base64>" without the comment. */
  publicKey: string;
  readOnly: boolean;
}

export interface ForgeTeam {
  name: string;
  /** Neutral; undefined when the forge's grant is the team's own permission. */
  permission?: Permission;
}

/** What a provider tells the shared forge code about its API. */
export interface ForgeDialect {
  /** git.provider. */
  kind: string;
  /** The forge's name in messages. */
  service: string;
  /** Authorization header for the token. */
  authorization(token: string): string;
  headers?: Record<string, string>;
  /** Words for a failed answer (which permission or scope was missing, in the API's terms). */
  describe(ctx: FailureContext, s: ForgeSettings): string;
  /** Every item of a listing below the API (deploy keys, teams). */
  list(
    client: JsonClient,
    req: { path: string; action: string; subject: string },
  ): Promise<unknown[]>;
  /** Extra fields of the create-repository body (a default branch, where the API takes one). */
  createFields(s: ForgeSettings): Record<string, unknown>;
  /** A team of GET /repos/{owner}/{repo}/teams. */
  team(json: unknown, client: JsonClient, action: string): ForgeTeam;
  /** The request granting a team access to the repository. */
  grantTeam(s: ForgeSettings, team: string, permission: Permission): {
    method: "PUT";
    path: string;
    body?: unknown;
  };
  /** Where the permission or scope the token lacks can be told before anything is done. */
  tokenProblem(client: ForgeClientState, need: TokenNeed): string | undefined;
  /** The words for the rights a token lacks on a repository (neutral need → the API's terms). */
  needWords: Record<"push" | "admin", string>;
  /** The provider's word for a neutral permission (pull, push, maintain…). */
  permissionWord(p: Permission): string;
}

/** What the token must be able to do, as checked before anything is pushed. */
export type TokenNeed = "push-private" | "push-public" | "create-private" | "create-public";

/** What answers said about the token, kept by the client (a token's scopes in headers). */
export interface ForgeClientState {
  /** The last answer's headers. */
  headers(): Headers | undefined;
}

export interface ForgeClient extends ForgeClientState {
  http: JsonClient;
  requests: RequestRecord[];
}

export type ForgeClientOptions = Pick<ClientOptions, "timeoutMs" | "onWait"> & {
  attempts?: number;
  allowInsecureHttp: boolean;
  token: string;
};

export type { SecretRef };
