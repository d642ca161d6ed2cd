/** `git.gitlab` in the manifest's JSON Schema (composed into schemas/flux-bootstrap.schema.json). */

export const BLOCK_KEY = "gitlab";

/** A group or user path: one segment per (sub)group, as GitLab spells paths. */
const NAMESPACE_PATH = "^[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)*$";

/** GitLab's role names and flux's `--team` words (go-git-providers gitlab permissionPriority). */
export const TEAM_LEVEL_WORDS = [
  "guest",
  "reporter",
  "developer",
  "maintainer",
  "owner",
  "pull",
  "triage",
  "push",
  "maintain",
  "admin",
] as const;

export const BLOCK_SCHEMA: Record<string, unknown> = {
  type: "object",
  additionalProperties: false,
  description:
    "provider: gitlab — gitlab.com or a self-managed GitLab through its REST API v4 (flux bootstrap gitlab).",
  properties: {
    hostname: {
      type: "string",
      pattern: "^[A-Za-z0-9.-]+(:[0-9]{1,5})?$",
      description:
        "GitLab host (default gitlab.com; the API is https://<hostname>/api/v4). --hostname",
    },
    apiUrl: {
      type: "string",
      minLength: 1,
      description:
        "Base URL when it is not https://<hostname> (a relative URL root, or http:// with git.allowInsecureHttp).",
    },
    owner: {
      type: "string",
      pattern: NAMESPACE_PATH,
      description:
        "Group (group/subgroup for a subgroup), or the user with personal: true. --owner",
    },
    repository: {
      type: "string",
      pattern: NAMESPACE_PATH,
      description:
        "Project path; subgroup/project names a project in a subgroup of owner. --repository",
    },
    personal: {
      type: "boolean",
      description: "owner is the token's user, not a group. --personal",
    },
    visibility: {
      enum: ["private", "internal", "public"],
      description: "Visibility of a project fluxfleet creates (default private). --visibility",
    },
    private: {
      type: "boolean",
      description: "Deprecated as in flux: false means visibility public. --private",
    },
    teams: {
      type: "array",
      uniqueItems: true,
      // The role word is checked by validate(), which can say which words there are.
      // Group paths as NAMESPACE_PATH (no dot segments: the path goes into API URLs), then a role.
      items: {
        type: "string",
        pattern: "^[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)*(:[A-Za-z]+)?$",
      },
      description:
        "Groups the project is shared with (group/path or group/path:role, default maintainer). --team",
    },
    reconcile: {
      type: "boolean",
      description:
        "Also change an existing project: visibility and the roles of shared groups (default: only shown). --reconcile",
    },
    token: {
      $ref: "#/$defs/secretRef",
      description: "Personal access token with the api scope (default {env: GITLAB_TOKEN}).",
    },
    tokenAuth: {
      type: "boolean",
      description:
        "The cluster reads over HTTPS with the token (default false: a deploy key). --token-auth",
    },
    deployTokenAuth: {
      type: "boolean",
      description:
        "The cluster reads over HTTPS with a project deploy token (read_repository) fluxfleet creates. --deploy-token-auth",
    },
    readWriteKey: {
      type: "boolean",
      description: "Register the deploy key with write access (image automation). --read-write-key",
    },
  },
};
