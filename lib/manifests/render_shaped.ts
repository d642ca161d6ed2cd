/**
 * `renderSorted` for many objects of one shape that differ only in some string values:
 * gotk-sync.yaml's GitRepository and Kustomization, one pair per cluster (~0.4 ms of the `yaml`
 * package each, 0.4 s of a 1,000-cluster plan). The shape is rendered once, with a placeholder
 * for each string value, and each object's values are put in its text. Only values the `yaml`
 * package writes as they are (plain scalars, `plainAsIs`) go in; an object with any other value
 * (quoted, a word YAML reads as a boolean or null, a number) is rendered whole, as before.
 */
import { renderSorted } from "./render.ts";

/**
 * Written unquoted by YAML.stringify in a block mapping or sequence, and read back as the same
 * string: starts with a letter (no indicator, digit, sign or dot, so never a number), no space,
 * `#`, `,`, quote, bracket or brace, no `:` at the end, and not a word a YAML 1.1 or 1.2 reader takes for a boolean
 * or null. Conservative: anything else is rendered by the `yaml` package itself.
 */
const PLAIN = /^[A-Za-z][A-Za-z0-9._/:@+~=-]*$/;
const NOT_STRINGS = /^(y|n|yes|no|on|off|true|false|null)$/i;
/**
 * Two more forms every gotk-sync.yaml has, written unquoted too: a Go duration (`1m0s`, `10m0s`:
 * digits, but with a unit after each number, so never a YAML number, date or sexagesimal) and a
 * folder from the repository's root (`./clusters/prod`: `./` is no indicator, and never `.inf` or
 * `.nan`). Without them every cluster's objects fell back to the whole render.
 */
const DURATION = /^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$/;
const FOLDER = /^\.\/[A-Za-z0-9._/:@+~=-]*$/;

function plainAsIs(s: string): boolean {
  if (DURATION.test(s)) return true;
  const plain = PLAIN.test(s) || FOLDER.test(s);
  return plain && !s.endsWith(":") && !NOT_STRINGS.test(s) && !s.includes("ffslot");
}

/** Rendered shapes, by their JSON; a handful per run (gotk-sync.yaml's options). */
const shapes = new Map<string, string>();
const MAX_SHAPES = 64;

/** The same text as `renderSorted(value)`. */
export function renderSortedShaped(value: unknown): string {
  const values: string[] = [];
  let plain = true;
  const skeleton = (v: unknown): unknown => {
    if (typeof v === "string") {
      if (!plainAsIs(v)) plain = false;
      values.push(v);
      return `ffslot${values.length - 1}x`;
    }
    if (Array.isArray(v)) return v.map(skeleton);
    if (v && typeof v === "object") {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) out[k] = skeleton(x);
      return out;
    }
    return v;
  };
  const shape = skeleton(value);
  if (!plain) return renderSorted(value);
  const key = JSON.stringify(shape);
  let text = shapes.get(key);
  if (text === undefined) {
    text = renderSorted(shape);
    if (shapes.size < MAX_SHAPES) shapes.set(key, text);
  }
  return text.replace(/ffslot(\d+)x/g, (_m, i: string) => values[Number(i)]);
}
