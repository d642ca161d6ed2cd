/** A forge's block in the manifest's JSON Schema (composed into schemas/flux-bootstrap.schema.json). */
import type { ForgeSite } from "./settings.ts";

export function forgeBlockSchema(site: ForgeSite, description: string): Record<string, unknown> {
  return {
    type: "object",
    additionalProperties: false,
    description,
    properties: {
      hostname: {
        type: "string",
        pattern: "^[A-Za-z0-9.-]+(:[0-9]{1,5})?$",
        description: `The site's host name (flux --hostname; default ${site.defaultHostname}).`,
      },
      apiUrl: {
        type: "string",
        minLength: 1,
        description:
          `API base URL when it is not ${site.service}'s own for the hostname (http:// needs git.allowInsecureHttp).`,
      },
      owner: {
        type: "string",
        pattern: "^[A-Za-z0-9][A-Za-z0-9._-]*$",
        description: "Organization, or the token's user with personal: true (flux --owner).",
      },
      repository: {
        type: "string",
        // Not "." or "..": the name is a segment of API paths (a dot segment would climb them).
        pattern: "^(?!\\.{1,2}$)[A-Za-z0-9._-]+$",
        description: "Repository name (flux --repository).",
      },
      personal: {
        type: "boolean",
        description: "owner is the token's user, not an organization (flux --personal).",
      },
      private: {
        type: "boolean",
        description: "Visibility of a repository fluxfleet creates (flux --private, default true).",
      },
      teams: {
        type: "array",
        uniqueItems: true,
        items: {
          type: "string",
          pattern: "^(?!\\.{1,2}(:|$))[A-Za-z0-9._-]+(:(pull|triage|push|maintain|admin))?$",
        },
        description:
          "Teams given access: slug or slug:permission, default maintain (flux --team); organization repositories only.",
      },
      reconcile: {
        type: "boolean",
        description:
          "Re-apply visibility and team permissions to an existing repository (flux --reconcile; default: drift only shown).",
      },
      token: {
        $ref: "#/$defs/secretRef",
        description: `API token (default {env: ${site.tokenEnv}}).`,
      },
      tokenAuth: {
        type: "boolean",
        description:
          "The cluster reads over HTTPS with the token (flux --token-auth; default false: a generated SSH deploy key).",
      },
      readWriteKey: {
        type: "boolean",
        description: "Add the deploy key with write access (flux --read-write-key).",
      },
    },
  };
}
