/**
 * lib/manifests/render_direct.ts writes what the `yaml` package writes, or nothing: every value
 * here is rendered both ways and the texts compared byte for byte — the release fixtures, and
 * random values built from the pieces YAML treats specially (indicators, `: `, ` #`, quotes,
 * newlines at either end, words read as booleans, null or numbers, control characters, …).
 */
import assert from "node:assert/strict";
import YAML from "yaml";
import { parseObjects, renderObject } from "../lib/manifests/render.ts";
import { renderSortedDirect, renderUnsortedDirect } from "../lib/manifests/render_direct.ts";
import { ROOT } from "./helpers/harness.ts";

const SORTED = { sortMapEntries: true, indentSeq: false, lineWidth: 0 } as const;

/** The package's text for renderObject (what it returned before render_direct.ts). */
function packageObject(obj: Record<string, unknown>): string {
  const { apiVersion, kind, metadata, ...rest } = obj;
  return YAML.stringify({ apiVersion, kind }, { lineWidth: 0 }) +
    YAML.stringify({ metadata, ...rest }, SORTED);
}

Deno.test("the release fixtures: every object the same text as the yaml package's, written directly but for a shared (aliased) list", async () => {
  const files = [`${ROOT}fixtures/flux-install.yaml`];
  for await (const e of Deno.readDir(`${ROOT}fixtures/flux-manifests`)) {
    if (e.name.endsWith(".yaml")) files.push(`${ROOT}fixtures/flux-manifests/${e.name}`);
  }
  let direct = 0;
  const fellBack: string[] = [];
  for (const file of files) {
    for (const obj of parseObjects(await Deno.readTextFile(file))) {
      const o = obj as Record<string, unknown> & { metadata?: { name?: string } };
      assert.equal(renderObject(obj), packageObject(o), `${file}: ${o.kind} ${o.metadata?.name}`);
      const { metadata, apiVersion: _a, kind: _k, ...rest } = o;
      if (renderSortedDirect({ metadata, ...rest }) === undefined) {
        fellBack.push(`${o.kind}/${o.metadata?.name}`);
      } else direct++;
    }
  }
  // install.yaml's crd-controller role shares one `verbs` list (&a1 / *a1): the package writes
  // the anchor and alias again, so that object is the package's to write.
  assert.deepEqual(fellBack, ["ClusterRole/crd-controller-flux-system"]);
  assert.ok(direct >= 40, `only ${direct} objects written directly`);
  const role = parseObjects(await Deno.readTextFile(files[0]))
    .find((o) => o.metadata?.name === "crd-controller-flux-system")!;
  assert.match(renderObject(role), /verbs: &a1\n/);
});

/** A small seeded generator (mulberry32): a failure names its seed and can be replayed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PIECES = [
  "a",
  "b",
  "Zz",
  "word",
  "x-y",
  "0",
  "1",
  "12",
  "-3",
  "1.5",
  "1e3",
  "0x1F",
  "0o7",
  ".inf",
  "-.Inf",
  ".nan",
  "true",
  "False",
  "NULL",
  "~",
  "null",
  "yes",
  "no",
  "on",
  " ",
  "  ",
  "\t",
  "\n",
  "\n",
  "\n\n",
  ":",
  ": ",
  " #",
  "#",
  "-",
  "- ",
  "?",
  "? ",
  "'",
  '"',
  "`",
  "%",
  "@",
  "!",
  "&",
  "*",
  "|",
  ">",
  "[",
  "]",
  "{",
  "}",
  ",",
  "---",
  "...",
  "\\",
  "\\n",
  "é",
  "日本",
  "😀",
  "\u0085",
  "\u00a0",
  "\u2028",
  "\x07",
  "\x1b",
  "\r",
  "\ud800",
  "https://x.io/a?b=c#d",
  "10m0s",
  "./x",
  "=",
  "<<",
  "A long sentence, with words: and more",
];

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)];
}

function randomString(r: () => number): string {
  const n = Math.floor(r() * 6);
  let s = "";
  for (let i = 0; i < n; i++) s += pick(r, PIECES);
  return s;
}

function randomKey(r: () => number): string {
  return r() < 0.6
    ? pick(r, ["name", "spec", "a", "b", "Zeta", "é", "10", "app.io/x"])
    : randomString(r);
}

function randomValue(r: () => number, depth: number): unknown {
  const x = r();
  if (depth > 0 && x < 0.2) {
    const o: Record<string, unknown> = {};
    const n = Math.floor(r() * 5);
    for (let i = 0; i < n; i++) o[randomKey(r)] = randomValue(r, depth - 1);
    return o;
  }
  if (depth > 0 && x < 0.35) {
    return Array.from({ length: Math.floor(r() * 4) }, () => randomValue(r, depth - 1));
  }
  if (x < 0.4) return null;
  if (x < 0.45) return r() < 0.5;
  if (x < 0.5) return pick(r, [0, 1, -7, 42, 1.5, -0.25, 1e21, 123456789]);
  return randomString(r);
}

Deno.test("3,000 random values: written directly only as the yaml package writes them", () => {
  let direct = 0;
  for (let seed = 1; seed <= 3000; seed++) {
    const r = random(seed);
    const value: Record<string, unknown> = {};
    const n = 1 + Math.floor(r() * 4);
    for (let i = 0; i < n; i++) value[randomKey(r)] = randomValue(r, 4);
    const got = renderSortedDirect(value);
    if (got === undefined) continue;
    direct++;
    assert.equal(got, YAML.stringify(value, SORTED), `seed ${seed}: ${JSON.stringify(value)}`);
  }
  // A third or more written directly (else this test would prove little about them).
  assert.ok(direct > 1000, `only ${direct} of 3,000 written directly`);
});

Deno.test("3,000 random strings as values, list items and keys: the same text or the package's", () => {
  let direct = 0;
  for (let seed = 1; seed <= 3000; seed++) {
    const r = random(100_000 + seed);
    const s = randomString(r);
    const value = { k: s, list: [s, { inner: s }], nested: { deeper: { v: s } }, [s || "e"]: 1 };
    const got = renderSortedDirect(value);
    if (got !== undefined) {
      direct++;
      assert.equal(got, YAML.stringify(value, SORTED), `seed ${seed}: ${JSON.stringify(s)}`);
    }
    const head = { apiVersion: s, kind: "Kind" };
    const headGot = renderUnsortedDirect(head);
    if (headGot !== undefined) {
      assert.equal(
        headGot,
        YAML.stringify(head, { lineWidth: 0 }),
        `seed ${seed}: ${JSON.stringify(s)}`,
      );
    }
  }
  assert.ok(direct > 1500, `only ${direct} of 3,000 written directly`);
});

Deno.test("a multi-line string: |, |- and the indentation indicator as the package writes them", () => {
  const cases = ["a\nb", "a\nb\n", "  a\nb", "\na", "\n\na\n", "a\n\nb", "a\n  b\n", "a\nb  "];
  for (const s of cases) {
    const value = { spec: { description: s, list: [s] } };
    const got = renderSortedDirect(value);
    assert.ok(got !== undefined, JSON.stringify(s));
    assert.equal(got, YAML.stringify(value, SORTED), JSON.stringify(s));
  }
  // `|+` (several trailing newlines) and whitespace after the last newline: the package's.
  for (const s of ["a\n\n", "a\n ", "\n", " \n "]) {
    assert.equal(renderSortedDirect({ d: s }), undefined, JSON.stringify(s));
  }
});
