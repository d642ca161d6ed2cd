import assert from "node:assert/strict";
import { unifiedDiff } from "../lib/report/diff.ts";
import { createProgress } from "../lib/report/progress.ts";
import { INSTALL_YAML, ROOT } from "./helpers/fixtures.ts";
import type { DiffProbeResult } from "./helpers/diff_probe.ts";

Deno.test("unified diff: one changed line with context, same as git diff would show", async () => {
  const before = Array.from({ length: 20 }, (_, i) => `line ${i + 1}`).join("\n") + "\n";
  const after = before.replace("line 10\n", "line ten\n").replace(
    "line 20\n",
    "line 20\nline 21\n",
  );
  const diff = unifiedDiff("f.txt", before, after);
  // The real git produces the same hunks for the same files.
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/a`, before);
    await Deno.writeTextFile(`${dir}/b`, after);
    const out = await new Deno.Command("git", {
      args: ["diff", "--no-index", "--no-color", `${dir}/a`, `${dir}/b`],
    }).output();
    const gitHunks = new TextDecoder().decode(out.stdout).split("\n").filter((l) =>
      /^[@ +-]/.test(l) && !l.startsWith("---") && !l.startsWith("+++")
    );
    const ourHunks = diff.split("\n").filter((l) =>
      /^[@ +-]/.test(l) && !l.startsWith("---") && !l.startsWith("+++")
    );
    assert.deepEqual(
      ourHunks.map((l) => l.replace(/ @@.*$/, " @@")),
      gitHunks.map((l) => l.replace(/ @@.*$/, " @@")),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("unified diff: identical texts give nothing", () => {
  assert.equal(unifiedDiff("f", "a\nb\n", "a\nb\n"), "");
});

/** What `git diff --no-index` prints from the first hunk on, hunk headings after `@@` cut. */
async function gitDiffHunks(before: string, after: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "fluxfleet-diff-" });
  try {
    await Deno.writeTextFile(`${dir}/a`, before);
    await Deno.writeTextFile(`${dir}/b`, after);
    const out = await new Deno.Command("git", {
      args: ["diff", "--no-index", "--no-color", "--no-ext-diff", `${dir}/a`, `${dir}/b`],
      env: { GIT_CONFIG_NOSYSTEM: "1", GIT_CONFIG_GLOBAL: "/dev/null" },
    }).output();
    assert.ok(out.code <= 1, new TextDecoder().decode(out.stderr));
    const lines = new TextDecoder().decode(out.stdout).split("\n");
    const first = lines.findIndex((l) => l.startsWith("@@ "));
    if (first < 0) return "";
    return lines.slice(first).join("\n").replace(/^(@@ -\S+ \+\S+ @@).*$/gm, "$1");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("unified diff: the same hunks as git diff --no-index, on upgrades, new and deleted files, missing final newlines", async () => {
  const install = INSTALL_YAML;
  const docs = install.split("\n---\n");
  const numbered = (n: number, changed: number[] = []) =>
    Array.from({ length: n }, (_, i) => changed.includes(i) ? `changed ${i}` : `line ${i}`)
      .join("\n") + "\n";
  const cases: [string, string, string][] = [
    [
      "an upgrade: version labels and image tags all over the file",
      install,
      install.replaceAll("v2.4.0", "v2.5.0").replace(/(image: [^:\n]+):v[\d.]+/g, "$1:v9.9.9"),
    ],
    [
      "a document inserted that repeats another one",
      install,
      install.replace("\n---\n", `\n---\n${docs[3]}\n---\n`),
    ],
    ["a new file", "", "a\nb\nc\n"],
    ["a deleted file", "a\nb\nc\n", ""],
    ["a one-line file", "a\n", "b\n"],
    ["only the final newline added", "a\nb\nc", "a\nb\nc\n"],
    ["only the final newline removed", "a\nb\nc\n", "a\nb\nc"],
    [
      "no final newline on both sides, a change far above",
      numbered(9) + "x",
      numbered(9, [2]) + "x",
    ],
    ["no final newline on both sides, the last line changed", "1\n2\n3\nx", "1\n2\n3\ny"],
    ["two changes 6 lines apart: one hunk", numbered(20), numbered(20, [3, 10])],
    ["two changes 7 lines apart: two hunks", numbered(20), numbered(20, [3, 11])],
    ["lines added and removed at both ends", numbered(12), "new\n" + numbered(12).slice(7, -7)],
  ];
  for (const [what, before, after] of cases) {
    const ours = unifiedDiff("f.yaml", before, after);
    assert.equal(ours.split("\n", 2).join("\n"), "--- a/f.yaml\n+++ b/f.yaml", what);
    assert.equal(
      ours.split("\n").slice(2).join("\n"),
      await gitDiffHunks(before, after),
      what,
    );
  }
});

Deno.test("unified diff of a 12,000-line file: peak memory stays small, also when every line changed", async () => {
  for (const kind of ["ends", "every-line"]) {
    // A child process of its own: its peak RSS is the diff's, not the test runner's.
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `${ROOT}tests/helpers/diff_probe.ts`, kind, "12000"],
      cwd: ROOT,
      stdin: "null",
    }).output();
    const dec = new TextDecoder();
    assert.equal(out.code, 0, dec.decode(out.stderr));
    const result = JSON.parse(dec.decode(out.stdout)) as DiffProbeResult;
    assert.ok(result.diffBytes > 0, `${kind}: an empty diff`);
    // The LCS table this replaced peaked at ~600 MiB here; Deno itself starts at ~40 MiB.
    assert.ok(result.peakRssMiB < 160, `${kind}: peak RSS ${result.peakRssMiB} MiB`);
  }
});

Deno.test("progress: plain timestamped lines without a terminal, nothing with --quiet", () => {
  const out: string[] = [];
  const p = createProgress({
    quiet: false,
    tty: false,
    color: false,
    write: (t) => out.push(t),
    now: () => new Date("2026-11-23T10:11:12Z"),
  });
  p.event("dev", "observing");
  p.done();
  assert.deepEqual(out, ["10:11:12 dev: observing\n"]);
  const quiet: string[] = [];
  createProgress({ quiet: true, tty: true, color: true, write: (t) => quiet.push(t) }).event(
    "dev",
    "x",
  );
  assert.deepEqual(quiet, []);
});

Deno.test("progress on a terminal: one live line per cluster, redrawn in place, cleared at the end", async () => {
  const out: string[] = [];
  const p = createProgress({ quiet: false, tty: true, color: false, write: (t) => out.push(t) });
  p.event("dev", "observing");
  p.event("prod", "observing");
  await new Promise((r) => setTimeout(r, 150));
  p.event("dev", "installing components");
  await new Promise((r) => setTimeout(r, 150));
  p.done();
  const text = out.join("");
  // deno-lint-ignore no-control-regex -- the escape sequences are what is tested
  assert.match(out[0], /^\r\x1b\[2K. dev {3}observing\n\r\x1b\[2K. prod {2}observing\n$/);
  // deno-lint-ignore no-control-regex -- the escape sequences are what is tested
  assert.match(out[1], /^\x1b\[2A\r\x1b\[2K. dev {3}installing components\n/);
  assert.ok(text.endsWith("\x1b[2A\x1b[0J"), "the live block is cleared before the report");
  assert.ok(!text.includes("\x1b[2m"), "NO_COLOR: no colours");
});
