/** A forge's ProviderModule: its block, validation and resolution, and sessions, from its site and dialect. */
import type { ProviderModule } from "../types.ts";
import { forgeBlockSchema } from "./schema.ts";
import { openForgeSession } from "./session.ts";
import { type ForgeSite, resolveForge, TEAM_WORDS, validateForge } from "./settings.ts";
import type { ForgeDialect, ForgeSettings } from "./types.ts";

export function forgeModule(
  site: ForgeSite,
  dialect: ForgeDialect,
  words: { summary: string; block: string },
): ProviderModule {
  return {
    kind: site.kind,
    summary: words.summary,
    block: {
      key: site.kind,
      schema: forgeBlockSchema(site, words.block),
      deprecatedFlatKeys: [],
    },
    validate: (input) => validateForge(site, input),
    resolve: (input) => resolveForge(site, input),
    open: (settings, access) => openForgeSession(dialect, settings as ForgeSettings, access),
    permissionWord: (p) => TEAM_WORDS[p],
    words: { group: "team", key: "deploy key" },
  };
}
