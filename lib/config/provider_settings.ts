/**
 * A cluster's provider settings as the manifest holds them: the provider's block under `git`
 * (`git.<block>`), merged key by key with the one in `defaults.git`, and the flat keys
 * older manifests wrote under `git` itself — still accepted, moved into the block and reported as
 * deprecated. Every value remembers where it was written, so problems name the field as the
 * manifest spells it and point at it. Which providers exist is the registry's business.
 */
import type { ConfigProblem } from "./errors.ts";
import { locate, type PathSegment, type SourceMap } from "./locate.ts";
import type { RawManifest } from "./types.ts";
import { DEFAULT_PROVIDER, providerFor, PROVIDERS } from "../providers/registry.ts";
import type { ProviderInput, ProviderModule, ProviderProblem } from "../providers/types.ts";

type Obj = Record<string, unknown>;

interface Origin {
  /** Where in the YAML document the value is written. */
  path: PathSegment[];
  /** How the manifest spells it: `git.<block>.token` or the older flat `git.token`. */
  field: string;
}

/** The provider of one cluster and its settings, with where each was written. */
export interface ProviderView {
  module: ProviderModule;
  input: ProviderInput;
  /** Where a setting of the block was written; undefined when it is not set. */
  origin(key: string): Origin | undefined;
  /** The deprecated flat fields the cluster uses (its own or inherited). */
  deprecated: string[];
}

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** One level (`defaults.git` or a cluster's `git`): the block's values and their origins. */
function level(
  module: ProviderModule,
  git: Obj | undefined,
  at: PathSegment[],
): { values: Obj; origins: Record<string, Origin>; flat: string[]; nested: boolean } {
  const values: Obj = {};
  const origins: Record<string, Origin> = {};
  const flat: string[] = [];
  const block = module.block;
  if (!block || !git) return { values, origins, flat, nested: false };
  for (const k of block.deprecatedFlatKeys) {
    if (git[k] === undefined) continue;
    values[k] = git[k];
    origins[k] = { path: [...at, k], field: `git.${k}` };
    flat.push(`git.${k}`);
  }
  const nested = git[block.key];
  if (isObj(nested)) {
    for (const [k, v] of Object.entries(nested)) {
      if (v === undefined) continue;
      values[k] = v;
      origins[k] = { path: [...at, block.key, k], field: `git.${block.key}.${k}` };
    }
  }
  return { values, origins, flat, nested: isObj(nested) };
}

function mergedGit(raw: RawManifest, i: number): Obj {
  return { ...(raw.defaults?.git as Obj | undefined), ...(raw.clusters[i].git as Obj | undefined) };
}

export function providerView(raw: RawManifest, i: number): ProviderView {
  const git = mergedGit(raw, i);
  const module = providerFor(typeof git.provider === "string" ? git.provider : DEFAULT_PROVIDER);
  const defaults = level(module, raw.defaults?.git as Obj | undefined, ["defaults", "git"]);
  const own = level(module, raw.clusters[i].git as Obj | undefined, ["clusters", i, "git"]);
  const values = { ...defaults.values, ...own.values };
  const origins = { ...defaults.origins, ...own.origins };
  const nested = defaults.nested || own.nested;
  const blockKey = module.block?.key;
  const field = (key: string) =>
    origins[key]?.field ??
      (nested || defaults.flat.length + own.flat.length === 0
        ? `git.${blockKey}.${key}`
        : `git.${key}`);
  const deprecated = [...new Set([...own.flat, ...defaults.flat])]
    .filter((f) => origins[f.slice("git.".length)]?.field === f);
  return {
    module,
    input: { get: (k) => values[k], git: (k) => git[k], field },
    origin: (k) => origins[k],
    deprecated,
  };
}

/**
 * Problems with a cluster's provider settings: the provider's own, settings of another provider,
 * and a setting written both flat and in the block.
 */
export function providerProblems(map: SourceMap, raw: RawManifest, i: number): ConfigProblem[] {
  const c = raw.clusters[i];
  const view = providerView(raw, i);
  const cluster = c.name;
  const out: ConfigProblem[] = [];
  const ownGit = c.git as Obj | undefined;
  const defaultsGit = raw.defaults?.git as Obj | undefined;
  /** A core `git` setting: in the cluster, in defaults, else the cluster's name. */
  const whereCore = (key: string): PathSegment[] =>
    ownGit && key in ownGit
      ? ["clusters", i, "git", key]
      : defaultsGit && key in defaultsGit
      ? ["defaults", "git", key]
      : ["clusters", i, "name"];
  const report = (p: ProviderProblem) => {
    const block = view.module.block;
    const isBlockKey = block !== undefined &&
      (block.deprecatedFlatKeys.includes(p.key) || p.key in (block.schema.properties as Obj));
    const path = p.missing === "git"
      ? (ownGit ? ["clusters", i, "git"] : ["clusters", i, "name"])
      : p.missing === "cluster"
      ? ["clusters", i, "name"]
      : isBlockKey
      ? view.origin(p.key)?.path ?? ["clusters", i, "name"]
      : whereCore(p.key);
    out.push({
      location: locate(map, path),
      cluster,
      field: isBlockKey ? view.input.field(p.key) : `git.${p.key}`,
      message: p.message,
    });
  };
  const own = view.module.validate(view.input);
  if (own.some((p) => p.missing)) {
    own.forEach(report);
    return out;
  }
  // Another provider's settings (its block, or its older flat keys; the first one is named).
  const merged = mergedGit(raw, i);
  for (const other of PROVIDERS) {
    if (other === view.module || !other.block) continue;
    const misplaced = [other.block.key, ...other.block.deprecatedFlatKeys]
      .find((k) => merged[k] !== undefined);
    if (!misplaced) continue;
    out.push({
      location: locate(
        map,
        ownGit && misplaced in ownGit ? ["clusters", i, "git", misplaced] : ["clusters", i, "name"],
      ),
      cluster,
      field: `git.${misplaced}`,
      message: `is only for provider: ${other.kind}`,
    });
  }
  own.forEach(report);
  return out;
}

/** Every flat provider key written in the manifest: where, for which cluster, of which block. */
function flatKeys(
  raw: RawManifest,
): { git: Obj; at: PathSegment[]; cluster?: string; block: string; key: string }[] {
  const out: { git: Obj; at: PathSegment[]; cluster?: string; block: string; key: string }[] = [];
  const levels: [unknown, PathSegment[], string?][] = [
    [raw.defaults?.git, ["defaults", "git"]],
    ...raw.clusters.map((c, i): [unknown, PathSegment[], string] => [
      c.git,
      ["clusters", i, "git"],
      c.name,
    ]),
  ];
  for (const [git, at, cluster] of levels) {
    if (!isObj(git)) continue;
    for (const m of PROVIDERS) {
      if (!m.block) continue;
      for (const key of m.block.deprecatedFlatKeys) {
        if (git[key] !== undefined) out.push({ git, at, cluster, block: m.block.key, key });
      }
    }
  }
  return out;
}

/** A setting written flat and in the block at the same level: which one counts is not clear. */
export function twiceWritten(map: SourceMap, raw: RawManifest): ConfigProblem[] {
  return flatKeys(raw)
    .filter(({ git, block, key }) => isObj(git[block]) && (git[block] as Obj)[key] !== undefined)
    .map(({ at, cluster, block, key }) => ({
      location: locate(map, [...at, key]),
      ...(cluster ? { cluster } : {}),
      field: `git.${key}`,
      message: `is also set as git.${block}.${key}: keep that one only`,
    }));
}

/** One warning per deprecated flat key written in the manifest, where it is written. */
export function deprecations(map: SourceMap, raw: RawManifest): ConfigProblem[] {
  const out: ConfigProblem[] = flatKeys(raw).map(({ at, cluster, block, key }) => ({
    location: locate(map, [...at, key]),
    ...(cluster ? { cluster } : {}),
    field: `git.${key}`,
    message: `deprecated: write it as git.${block}.${key} (the flat form keeps working)`,
  }));
  return out.sort((a, b) =>
    (a.location?.line ?? 0) - (b.location?.line ?? 0) ||
    (a.location?.col ?? 0) - (b.location?.col ?? 0)
  );
}

/** Provider blocks are merged one level deeper than the rest of `git` (key by key). */
export function isProviderBlock(key: string | undefined): boolean {
  return PROVIDERS.some((p) => p.block?.key === key);
}
