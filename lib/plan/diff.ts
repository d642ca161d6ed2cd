/**
 * A unified diff of two texts (3 lines of context), for drift and upgrade plans, in the form
 * `git diff` prints: `--- a/<path>`, `+++ b/<path>`, then hunks; deletions before additions;
 * `\ No newline at end of file` after a last line that has none.
 *
 * The edit script comes from `@jest/diff-sequences` (Myers' O((N+M)·D) algorithm in its
 * linear-space form; maintained in the jest repository, plain JavaScript without dependencies,
 * checked under Deno 2.9 with `deno check` and the tests): memory stays linear in the size of the
 * texts whatever they are. On 12,000-line files (bench/diff.ts, 2 cores, peak RSS of the whole
 * process, ~40 MiB of which is Deno): edits at both ends 17 ms and 64 MiB, every 10th line changed
 * 73 ms and 68 MiB, every line changed 1 s and 75 MiB. `diff` (jsdiff 9), tried first, keeps
 * every explored path: every line changed took 24 s and 190 MiB. The LCS table this replaces
 * took 600+ MiB in all three cases.
 *
 * Where a change could be shown at several places (a removed block that repeats the lines next to
 * it), git's indent heuristic may pick another place than this: both diffs are minimal and valid.
 */
import diffSequencesEntry from "@jest/diff-sequences";

// The package's types describe its CommonJS build (the function as `exports.default`); Deno loads
// its ESM entry, whose default export is that function itself.
type DiffSequences = typeof diffSequencesEntry.default;
const diffSequences = diffSequencesEntry as unknown as DiffSequences;

type Kind = " " | "-" | "+";

/** A line as diffed: its text, and whether it is a last line without a newline. */
interface Line {
  text: string;
  noNewline: boolean;
}

interface Op {
  kind: Kind;
  line: Line;
}

function splitLines(text: string): Line[] {
  if (text === "") return [];
  const parts = text.split("\n");
  const noNewline = parts[parts.length - 1] !== "";
  if (!noNewline) parts.pop();
  return parts.map((t, i) => ({ text: t, noNewline: noNewline && i === parts.length - 1 }));
}

/**
 * Every line as a small integer, equal lines equal numbers (a last line without a newline is
 * not equal to the same text with one, as for git): the algorithm compares numbers, not strings.
 */
function lineIds(a: Line[], b: Line[]): { a: Int32Array; b: Int32Array } {
  const ids = new Map<string, number>();
  const idsOf = (lines: Line[]) =>
    Int32Array.from(lines, (l) => {
      const key = l.noNewline ? `${l.text}\n` : l.text; // "\n" never occurs inside a line
      let id = ids.get(key);
      if (id === undefined) ids.set(key, id = ids.size);
      return id;
    });
  return { a: idsOf(a), b: idsOf(b) };
}

/** The edit script: common lines, and between them the deletions, then the additions. */
function lineOps(a: Line[], b: Line[]): Op[] {
  const id = lineIds(a, b);
  const ops: Op[] = [];
  let i = 0;
  let j = 0;
  const changesUpTo = (aEnd: number, bEnd: number) => {
    while (i < aEnd) ops.push({ kind: "-", line: a[i++] });
    while (j < bEnd) ops.push({ kind: "+", line: b[j++] });
  };
  diffSequences(a.length, b.length, (x, y) => id.a[x] === id.b[y], (n, aCommon, bCommon) => {
    changesUpTo(aCommon, bCommon);
    for (let k = 0; k < n; k++, i++, j++) ops.push({ kind: " ", line: a[i] });
  });
  changesUpTo(a.length, b.length);
  return ops;
}

/** `start,count` as git prints it: `start` alone for one line, the line before for none. */
function range(before: number, count: number): string {
  if (count === 1) return `${before + 1}`;
  return `${count === 0 ? before : before + 1},${count}`;
}

export function unifiedDiff(path: string, before: string, after: string, context = 3): string {
  const ops = lineOps(splitLines(before), splitLines(after));
  const changed: number[] = [];
  for (let i = 0; i < ops.length; i++) if (ops[i].kind !== " ") changed.push(i);
  if (changed.length === 0) return "";
  const out = [`--- a/${path}`, `+++ b/${path}`];
  // Lines of each side before op `at`, counted as the hunks advance (once over the ops).
  let at = 0;
  let oldBefore = 0;
  let newBefore = 0;
  const advanceTo = (end: number) => {
    for (; at < end; at++) {
      if (ops[at].kind !== "+") oldBefore++;
      if (ops[at].kind !== "-") newBefore++;
    }
  };
  let k = 0;
  while (k < changed.length) {
    const first = Math.max(0, changed[k] - context);
    let last = Math.min(ops.length - 1, changed[k] + context);
    while (k + 1 < changed.length && changed[k + 1] - context <= last + 1) {
      k++;
      last = Math.min(ops.length - 1, changed[k] + context);
    }
    k++;
    advanceTo(first);
    const oldStart = oldBefore;
    const newStart = newBefore;
    advanceTo(last + 1);
    const oldRange = range(oldStart, oldBefore - oldStart);
    out.push(`@@ -${oldRange} +${range(newStart, newBefore - newStart)} @@`);
    for (let i = first; i <= last; i++) {
      out.push(ops[i].kind + ops[i].line.text);
      if (ops[i].line.noNewline) out.push("\\ No newline at end of file");
    }
  }
  return out.join("\n") + "\n";
}
