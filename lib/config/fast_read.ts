/**
 * The manifest's value the fast way (issue 19, start-up): js-yaml with the `yaml` package's YAML
 * 1.2 core types (../manifests/fast_parse.ts) reads a manifest without building the `yaml`
 * package's document model (nodes, ranges, a line counter), which only locating a problem needs.
 *
 * Only where both give the same value; anything else returns undefined and the loader reads the
 * file with the `yaml` package as before (its value, its errors, its messages):
 * - what fast_parse leaves to `yaml` (a js-yaml error, e.g. a duplicate key; `%YAML`; many aliases);
 * - not exactly one document (empty, only comments, or a second `---`);
 * - a directive (`%TAG`), a tag (`!x`, `!!str`), a merge key (`<<`) or a complex key (`? `): the
 *   two packages' schemas and key handling differ there;
 * - a key that is not a plain string to both: one that reads as null, a boolean or a number
 *   (`~:` is "" to `yaml`, "null" to js-yaml), a collection made into a string (it holds a `,` or
 *   is `[object Object]`), or `__proto__`.
 */
import { parseDocumentsFast } from "../manifests/fast_parse.ts";
import { readsAsNonString } from "../manifests/core_schema.ts";

const DIRECTIVE = /^%/m;
/** `!` where a tag may start (a `!` inside a word or a quoted string may match too: then `yaml`). */
const TAG = /(^|[\s[{,:?-])!/m;
const MERGE_KEY = /<</;
const COMPLEX_KEY = /(^|[\s[{,-])\?(\s|$)/m;

function keysAgree(value: unknown): boolean {
  if (Array.isArray(value)) return value.every(keysAgree);
  if (typeof value !== "object" || value === null) return true;
  for (const [key, v] of Object.entries(value)) {
    if (readsAsNonString(key) || key.includes(",") || key === "[object Object]") return false;
    if (!keysAgree(v)) return false;
  }
  // js-yaml defines a `__proto__` key as an own property; an entry Object.entries cannot list.
  return !Object.prototype.hasOwnProperty.call(value, "__proto__");
}

/** The manifest's one document as a plain value, or undefined: read it with the `yaml` package. */
export function readManifestFast(text: string): unknown {
  if (DIRECTIVE.test(text) || TAG.test(text) || MERGE_KEY.test(text) || COMPLEX_KEY.test(text)) {
    return undefined;
  }
  const docs = parseDocumentsFast(text);
  if (docs === undefined || docs.length !== 1) return undefined;
  return keysAgree(docs[0]) ? docs[0] : undefined;
}
