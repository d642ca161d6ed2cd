/** Bitbucket Server / Data Center (`provider: bitbucket-server`): the public surface of this folder. */
import type { ProviderModule } from "../types.ts";
import { BLOCK_KEY, BLOCK_SCHEMA, FLAT_KEYS } from "./schema.ts";
import { type BitbucketSettings, KIND, PERMISSION_WORDS, resolve, validate } from "./settings.ts";
import { openSession } from "./session.ts";

export const provider: ProviderModule = {
  kind: KIND,
  summary:
    "bitbucket-server: Bitbucket Server / Data Center through its REST API (flux bootstrap bitbucket-server), settings in git.bitbucketServer",
  block: { key: BLOCK_KEY, schema: BLOCK_SCHEMA, deprecatedFlatKeys: FLAT_KEYS },
  validate,
  resolve,
  open: (settings, access) => openSession(settings as BitbucketSettings, access),
  permissionWord: (p) => PERMISSION_WORDS[p] ?? p,
};

// The REST client, for tests that drive the API itself.
export { type BitbucketServerProvider, bitbucketServerProvider } from "./client.ts";
export type { BitbucketTarget, RetryOptions } from "./target.ts";
export type { RequestRecord } from "./http.ts";
