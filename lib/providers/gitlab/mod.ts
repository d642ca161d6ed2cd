/** GitLab (`provider: gitlab`): gitlab.com and self-managed GitLab; the public surface of this folder. */
import type { ProviderModule } from "../types.ts";
import { BLOCK_KEY, BLOCK_SCHEMA } from "./schema.ts";
import { type GitLabSettings, KIND, resolve, ROLE_NAMES, validate } from "./settings.ts";
import { openSession } from "./session.ts";

export const provider: ProviderModule = {
  kind: KIND,
  summary:
    "gitlab: gitlab.com or a self-managed GitLab through its REST API v4 (flux bootstrap gitlab), settings in git.gitlab",
  // A new block: no older flat keys.
  block: { key: BLOCK_KEY, schema: BLOCK_SCHEMA, deprecatedFlatKeys: [] },
  validate,
  resolve,
  open: (settings, access) => openSession(settings as GitLabSettings, access),
  permissionWord: (p) => ROLE_NAMES[p] ?? p,
};

export type { GitLabSettings } from "./settings.ts";
export { forgetTokens } from "./access.ts";
