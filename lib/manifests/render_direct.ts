/**
 * `renderSorted` and `renderObject` written directly from plain JSON values: the same text the
 * `yaml` package gives with their options (sorted keys, sequences not indented, no line folding),
 * without building its document nodes first. A release's components go through here on every plan
 * and apply: ~25 ms of the `yaml` package for the tests' reduced install.yaml at start-up, several
 * times that for a real release, on the thread that also drives the first connections.
 *
 * Only what this module writes the package's way is written here: maps, sequences, null, booleans,
 * finite numbers, and strings the package writes plain, single- or double-quoted on one line, or as
 * a `|`/`|-` literal block. Anything else — a control character, a string YAML would write as a
 * quoted multi-line scalar or with `|+`, a document marker in a key, an object met twice (the
 * package would write an anchor), a value that is not plain JSON — returns undefined, and the
 * caller renders with the `yaml` package. The rules below are those of yaml 2.9.1's
 * stringifyString, stringifyPair and stringifyCollection (deno.json pins the version), checked by
 * rendering both ways: tests/render_direct_test.ts.
 */
// A string the core schema reads as null, a boolean or a number is written quoted.
import { readsAsNonString } from "./core_schema.ts";

/** Thrown inside a render that met something only the `yaml` package writes. */
class NotDirect extends Error {}

/** Forces double quotes (the package's check, before any other). */
// deno-lint-ignore no-control-regex -- control characters are what it looks for
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u{D800}-\u{DFFF}]/u;
/** Not written plain: an indicator first, `: ` or ` #` inside, a space, tab or `:` at the end. */
const NOT_PLAIN =
  /^[\n\t ,[\]{}#&*!|>'"%@`]|^[?-]$|^[?-][ \t]|[\n:][ \t]|[ \t]\n|[\n\t ]#|[\n\t :]$/;
const DOCUMENT_MARKER = /^(%|---|\.\.\.)/m;

/** One line, quoted the package's way: single quotes for a `"` without `'`, else JSON's. */
function quoted(s: string): string {
  return s.includes('"') && !s.includes("'") ? `'${s}'` : JSON.stringify(s);
}

/** A string as a mapping key (an implicit key: one line, never a block). */
function keyText(s: string): string {
  if (CONTROL.test(s) || s.includes("\n") || DOCUMENT_MARKER.test(s) || s.length > 1000) {
    throw new NotDirect();
  }
  return NOT_PLAIN.test(s) || readsAsNonString(s) ? quoted(s) : s;
}

/** A string value whose nested lines are indented by `indent`. */
function valueText(s: string, indent: string): string {
  if (CONTROL.test(s)) throw new NotDirect();
  if (s.includes("\n")) return literalBlock(s, indent);
  return NOT_PLAIN.test(s) || readsAsNonString(s) ? quoted(s) : s;
}

/** A multi-line string as a `|` (clip) or `|-` (strip) literal block, or NotDirect. */
function literalBlock(value: string, indent: string): string {
  let endStart = value.length;
  while (endStart > 0) {
    const ch = value[endStart - 1];
    if (ch !== "\n" && ch !== "\t" && ch !== " ") break;
    endStart--;
  }
  let end = value.substring(endStart);
  const endNewline = end.indexOf("\n");
  let chomp: string;
  if (endNewline === -1) chomp = "-";
  // Anything after the first trailing newline (more newlines: `|+`, which changes how the
  // collection around it is joined; a space or tab: the package writes a double-quoted multi-line
  // scalar), or nothing but whitespace: the package's to write.
  else if (value === end || endNewline !== end.length - 1) throw new NotDirect();
  else chomp = "";
  if (end) {
    // Spaces and tabs, then at most the one newline, which the clip header stands for.
    value = value.slice(0, -end.length);
    if (end.endsWith("\n")) end = end.slice(0, -1);
  }
  let startsWithSpace = false;
  let startEnd = 0;
  let startNewline = -1;
  for (; startEnd < value.length; ++startEnd) {
    const ch = value[startEnd];
    if (ch === " ") startsWithSpace = true;
    else if (ch === "\n") startNewline = startEnd;
    else break;
  }
  let start = value.substring(0, startNewline < startEnd ? startNewline + 1 : startEnd);
  if (start) {
    value = value.substring(start.length);
    start = start.replace(/\n+/g, `$&${indent}`);
  }
  const header = (startsWithSpace ? "2" : "") + chomp;
  return `|${header}\n${indent}${start}${value.replace(/\n+/g, `$&${indent}`)}${end}`;
}

function isPlainObject(v: object): v is Record<string, unknown> {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

class Writer {
  /** Objects written so far: one met again would be an anchor and alias in the package's text. */
  readonly #seen = new Set<object>();

  constructor(readonly sort: boolean) {}

  #enter(v: object): void {
    if (this.#seen.has(v)) throw new NotDirect();
    this.#seen.add(v);
  }

  /** A scalar (not a collection) in a value position whose nested lines get `indent`. */
  scalar(v: unknown, indent: string): string {
    if (v === null) return "null";
    switch (typeof v) {
      case "string":
        return valueText(v, indent);
      case "boolean":
        return v ? "true" : "false";
      case "number":
        if (!Number.isFinite(v) || Object.is(v, -0)) throw new NotDirect();
        return JSON.stringify(v);
      default:
        throw new NotDirect();
    }
  }

  /** A block mapping's lines, joined for a map whose items start at `indent`; "{}" when empty. */
  map(obj: Record<string, unknown>, indent: string): string {
    this.#enter(obj);
    const keys = Object.keys(obj).filter((k) => obj[k] !== undefined);
    if (keys.length === 0) return "{}";
    // The package compares keys with `<`: UTF-16 code units, as Array.prototype.sort does.
    if (this.sort) keys.sort();
    const inner = indent + "  ";
    const lines: string[] = [];
    for (const k of keys) {
      const key = keyText(k);
      const v = obj[k];
      if (v !== null && typeof v === "object") {
        if (Array.isArray(v)) {
          // indentSeq: false — a sequence under a key starts at the key's own indentation.
          lines.push(v.length === 0 ? `${key}: []` : `${key}:\n${indent}${this.seq(v, indent)}`);
        } else if (isPlainObject(v)) {
          const body = this.map(v, inner);
          lines.push(body === "{}" ? `${key}: {}` : `${key}:\n${inner}${body}`);
        } else throw new NotDirect();
      } else lines.push(`${key}: ${this.scalar(v, inner)}`);
    }
    return lines.join(`\n${indent}`);
  }

  /** A block sequence's lines (non-empty), the `- ` of each at `indent`. */
  seq(arr: unknown[], indent: string): string {
    this.#enter(arr);
    const inner = indent + "  ";
    const lines: string[] = [];
    for (let i = 0; i < arr.length; i++) {
      if (!(i in arr)) throw new NotDirect();
      const v = arr[i];
      if (v !== null && typeof v === "object") {
        if (Array.isArray(v)) lines.push(`- ${v.length === 0 ? "[]" : this.seq(v, inner)}`);
        else if (isPlainObject(v)) lines.push(`- ${this.map(v, inner)}`);
        else throw new NotDirect();
      } else lines.push(`- ${this.scalar(v, inner)}`);
    }
    return lines.join(`\n${indent}`);
  }
}

/** A document whose top level is a mapping, or undefined (see the module's comment). */
function document(value: unknown, sort: boolean): string | undefined {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return undefined;
  if (!isPlainObject(value)) return undefined;
  try {
    return new Writer(sort).map(value, "") + "\n";
  } catch (e) {
    if (e instanceof NotDirect) return undefined;
    throw e;
  }
}

/**
 * `YAML.stringify(value, { sortMapEntries: true, indentSeq: false, lineWidth: 0 })`, or
 * undefined when this module does not write that value.
 */
export function renderSortedDirect(value: unknown): string | undefined {
  return document(value, true);
}

/** `YAML.stringify(value, { lineWidth: 0 })` of a mapping of scalars (keys in their order). */
export function renderUnsortedDirect(value: Record<string, unknown>): string | undefined {
  for (const v of Object.values(value)) {
    if (v !== null && typeof v === "object") return undefined;
  }
  return document(value, false);
}
