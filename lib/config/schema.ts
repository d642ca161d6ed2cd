/**
 * The manifest's JSON Schema. schemas/flux-bootstrap.schema.json holds the core; each provider
 * (lib/providers/registry.ts) adds its block under `git`, its older flat keys (marked deprecated)
 * and its kind to `git.provider`. The file as published is this composition (`fluxfleet schema`
 * prints it; tests/integration/cli_test.ts checks they agree). Manifests are validated by its
 * validator compiled ahead of time (lib/config/schema_validate.ts, `deno task gen-schema`).
 */
import schemaJson from "../../schemas/flux-bootstrap.schema.json" with { type: "json" };
import { PROVIDERS } from "../providers/registry.ts";
import type { ProviderModule } from "../providers/types.ts";

type Schema = Record<string, unknown>;

/** The core schema with every provider's part put in (replacing what the file has of it). */
export function composeSchema(core: Schema, providers: readonly ProviderModule[]): Schema {
  const defs = core.$defs as Record<string, Schema>;
  const git = defs.git;
  const properties: Record<string, unknown> = { ...(git.properties as Schema) };
  properties.provider = {
    enum: providers.map((p) => p.kind),
    description: `${providers.map((p) => p.summary).join("; ")}.`,
  };
  for (const p of providers) {
    if (!p.block) continue;
    const own = p.block.schema.properties as Record<string, Schema>;
    for (const k of p.block.deprecatedFlatKeys) {
      properties[k] = {
        ...own[k],
        deprecated: true,
        description: `Deprecated: write it as git.${p.block.key}.${k} (provider: ${p.kind}). ${
          own[k].description ?? ""
        }`.trim(),
      };
    }
    properties[p.block.key] = p.block.schema;
  }
  return { ...core, $defs: { ...defs, git: { ...git, properties } } };
}

export const manifestSchema: Schema = composeSchema(schemaJson as Schema, PROVIDERS);
