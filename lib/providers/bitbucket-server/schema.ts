/** `git.bitbucketServer` in the manifest's JSON Schema (composed into schemas/flux-bootstrap.schema.json). */

export const BLOCK_KEY = "bitbucketServer";

export const BLOCK_SCHEMA: Record<string, unknown> = {
  type: "object",
  additionalProperties: false,
  description:
    "provider: bitbucket-server — Bitbucket Server / Data Center through its REST API (flux bootstrap bitbucket-server).",
  properties: {
    hostname: {
      type: "string",
      pattern: "^[A-Za-z0-9.-]+(:[0-9]{1,5})?$",
      description: "The server's host name (the API is https://<hostname>).",
    },
    apiUrl: {
      type: "string",
      minLength: 1,
      description:
        "API base URL when it is not https://<hostname> (a context path, or http:// with git.allowInsecureHttp).",
    },
    owner: {
      type: "string",
      minLength: 1,
      description: "Project key, or the user name with personal: true.",
    },
    repository: {
      type: "string",
      pattern: "^[A-Za-z0-9._-]+$",
      description: "Repository slug.",
    },
    personal: {
      type: "boolean",
      description: "A repository of the user `owner` (project ~owner).",
    },
    username: {
      type: "string",
      minLength: 1,
      description: "The token's owner; required for project repositories.",
    },
    private: {
      type: "boolean",
      description: "Visibility of a repository fluxfleet creates (default true).",
    },
    reconcileVisibility: {
      type: "boolean",
      description: "Change an existing repository's visibility to `private` (default: only shown).",
    },
    groups: {
      type: "array",
      uniqueItems: true,
      items: { type: "string", pattern: "^[^:]+(:(REPO_READ|REPO_WRITE|REPO_ADMIN))?$" },
      description: "Groups granted access (name or name:PERMISSION, default REPO_WRITE).",
    },
    token: {
      $ref: "#/$defs/secretRef",
      description: "HTTP access token with admin rights (default {env: BITBUCKET_TOKEN}).",
    },
    tokenAuth: {
      type: "boolean",
      description:
        "The cluster reads over HTTPS with username + token (default false: a generated SSH access key).",
    },
    readWriteKey: {
      type: "boolean",
      description: "Register the access key with write permission (image automation).",
    },
  },
};

/** Every setting of the block was once written flat under `git` (before the block existed). */
export const FLAT_KEYS: readonly string[] = Object.keys(
  BLOCK_SCHEMA.properties as Record<string, unknown>,
);
