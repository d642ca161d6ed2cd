/**
 * Removes what a terminal or a log viewer would interpret rather than show: ANSI/ECMA-48 escape
 * sequences (CSI, OSC — window titles, hyperlinks, clipboard writes —, DCS, SOS, PM, APC, and the
 * short ESC forms, in their 7-bit and 8-bit spellings), every other C0 and C1 control character
 * except tab and newline (a carriage return or backspace can overwrite what was printed), DEL,
 * and the Unicode bidirectional overrides and isolates (which reorder what is shown).
 *
 * Hand-written rather than node:util's stripVTControlCharacters or strip-ansi: those remove the
 * sequences they recognise and leave the rest, e.g. an OSC whose text holds a space or a URL
 * keeps its ESC; here whatever is not recognised loses its control characters all the same.
 */

// String terminator: BEL (xterm), ESC \ or the 8-bit ST. An unterminated string runs to the end.
// deno-lint-ignore no-control-regex -- control characters are what these match
const STRINGS = /(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c|$)/g;
// deno-lint-ignore no-control-regex -- control characters are what these match
const CSI = /(?:\x1b\[|\x9b)[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]?/g;
// deno-lint-ignore no-control-regex -- control characters are what these match
const SHORT_ESCAPE = /\x1b[\x20-\x2f]*[\x30-\x7e]?/g;
// deno-lint-ignore no-control-regex -- control characters are what these match
const CONTROLS = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/g;
// deno-lint-ignore no-control-regex -- control characters are what these match
const HAS_CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/;

export function stripControls(text: string): string {
  // Most text has nothing to remove: one scan, no copies.
  if (!HAS_CONTROL.test(text)) return text;
  return text.replace(STRINGS, "").replace(CSI, "").replace(SHORT_ESCAPE, "")
    .replace(CONTROLS, "");
}
