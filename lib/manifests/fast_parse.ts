/**
 * The fast way to read a release's manifests: js-yaml (already a dependency, for kubeconfigs)
 * reads a Flux install.yaml ~15× faster than the `yaml` package's document model (58 KiB:
 * ~1.6 ms against ~26 ms warm, ~100 ms cold at the start of a plan), and every plan reads one.
 *
 * Only where both give the same values: the types are YAML 1.2's core schema with the `yaml`
 * package's own patterns (js-yaml's CORE_SCHEMA also reads 0b101, -0x1F or +0o7 as numbers,
 * which YAML 1.2 and `yaml` keep as strings), and anything else is left to the `yaml` package
 * (./render.ts parseObjects), which then gives its result and its errors as before:
 * - a document js-yaml refuses (a syntax error, a duplicate key, an unknown tag);
 * - a `%YAML` directive (1.1 changes what yes/no/on/off are);
 * - more than 10 aliases (or what may be one): both share an anchored value among its aliases,
 *   but `yaml` refuses a document whose aliases would expand too far (maxAliasCount 100: uses of
 *   an anchor times the aliases inside it); with at most 10 aliases in all that product stays
 *   below 100 however they nest, so `yaml` would have accepted the document.
 */
import { FAILSAFE_SCHEMA, loadAll, Type } from "js-yaml";

function scalar(tag: string, test: RegExp, construct: (s: string) => unknown): Type {
  return new Type(`tag:yaml.org,2002:${tag}`, {
    kind: "scalar",
    resolve: (s: string | null) => s !== null && test.test(s),
    construct: (s: string | null) => construct(s ?? ""),
  });
}

/** yaml@2.9.1 dist/schema/core and common/null.js: the same patterns and values. */
const CORE = FAILSAFE_SCHEMA.extend({
  implicit: [
    scalar("null", /^(?:~|[Nn]ull|NULL)?$/, () => null),
    scalar("bool", /^(?:[Tt]rue|TRUE|[Ff]alse|FALSE)$/, (s) => s[0] === "t" || s[0] === "T"),
    scalar(
      "int",
      /^(?:0o[0-7]+|[-+]?[0-9]+|0x[0-9a-fA-F]+)$/,
      (s) =>
        s.startsWith("0o")
          ? parseInt(s.slice(2), 8)
          : s.startsWith("0x")
          ? parseInt(s.slice(2), 16)
          : parseInt(s, 10),
    ),
    scalar(
      "float",
      /^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN|[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?)$/,
      (s) =>
        /nan$/i.test(s)
          ? NaN
          : /inf$/i.test(s)
          ? (s[0] === "-" ? -Infinity : Infinity)
          : parseFloat(s),
    ),
  ],
});

/** `*name` where an alias may stand; a `*` in a string may match too (then: the slower way). */
const ALIAS = /(^|[\s[{,:])\*[^\s,[\]{}]/gm;
const MAX_ALIASES = 10;

/** The documents of `text` as plain values, or undefined: read it with the `yaml` package. */
export function parseDocumentsFast(text: string): unknown[] | undefined {
  if (/^%YAML/m.test(text) || (text.match(ALIAS)?.length ?? 0) > MAX_ALIASES) return undefined;
  try {
    return loadAll(text, undefined, { schema: CORE });
  } catch {
    return undefined;
  }
}
