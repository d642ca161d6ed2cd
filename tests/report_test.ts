import assert from "node:assert/strict";
import { unifiedDiff } from "../lib/plan/diff.ts";
import { createProgress, loadLiveDisplay } from "../lib/report/progress.ts";
import { INSTALL_YAML, ROOT } from "./helpers/fixtures.ts";
import type { DiffProbeResult } from "./helpers/diff_probe.ts";
import { statusRows } from "../lib/report/status.ts";
import type { SyncStatus } from "../lib/kube/status.ts";

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

Deno.test("progress without a terminal: plain timestamped lines for start, each phase, retry, done and failed", () => {
  const out: string[] = [];
  let t = Date.parse("2026-11-23T10:11:12Z");
  const p = createProgress({
    quiet: false,
    tty: false,
    color: false,
    write: (s) => out.push(s),
    now: () => new Date(t),
  });
  p.stage("applying", ["dev", "prod", "qa"], { persist: true });
  p.event("dev", "installing components (30 objects)");
  p.event("prod", "retrying git fetch (2/4): git server http://127.0.0.1:1/f.git did not answer");
  t += 12_300;
  p.end("dev", { status: "done", summary: "changed (8 steps)" });
  // Text from a server cannot steer the terminal or break the line.
  p.end("prod", { status: "failed", summary: "failed: boom\n\x1b[2J\x1b]0;title\x07next" });
  p.end("qa", { status: "skipped", summary: "skipped: another cluster failed (--fail-fast)" });
  p.event("dev", "late event after the end"); // dropped: the cluster is finished
  p.done();
  assert.deepEqual(out, [
    "10:11:12 applying 3 clusters\n",
    "10:11:12 dev: installing components (30 objects)\n",
    "10:11:12 prod: retrying git fetch (2/4): git server http://127.0.0.1:1/f.git did not answer\n",
    "10:11:24 dev: done in 12.3s: changed (8 steps)\n",
    "10:11:24 prod: failed after 12.3s: boom next\n",
    "10:11:24 qa: skipped: another cluster failed (--fail-fast)\n",
  ]);
  const quiet: string[] = [];
  const q = createProgress({ quiet: true, tty: true, color: true, write: (s) => quiet.push(s) });
  q.stage("applying", ["dev"]);
  q.event("dev", "x");
  q.end("dev", { status: "done", summary: "changed" });
  q.done();
  assert.deepEqual(quiet, []);
});

// deno-lint-ignore no-control-regex -- the escape sequences are what is removed
const CSI = /\x1b\[[0-9;?]*[A-Za-z]/g;

Deno.test("progress on a terminal: the block fits the screen, finished clusters leave one line each", async () => {
  await loadLiveDisplay();
  const writes: string[] = [];
  let t = 0;
  let size = { columns: 72, rows: 8 };
  const p = createProgress({
    quiet: false,
    tty: true,
    color: false,
    write: (s) => writes.push(s),
    now: () => new Date(t),
    size: () => size,
  });
  const names = Array.from({ length: 20 }, (_, i) => `cluster-${String(i).padStart(2, "0")}`);
  p.stage("applying", names, { persist: true });
  for (const n of names.slice(0, 12)) p.event(n, `installing components ${"x".repeat(80)}`);
  t += 1_500;
  p.redraw();
  let frame = writes.at(-1)!.replace(CSI, "");
  assert.match(frame, /^applying 20 clusters: 8 queued, 12 running, 0 done, 0 failed {2}1\.5s\n/);
  // 8 rows: summary, 5 running clusters, "… 7 more running", and the cursor's row.
  assert.match(frame, /\n {2}… 7 more running\n$/);
  assert.equal(frame.split("\n").length - 1, 7, frame);
  for (const n of names.slice(0, 9)) {
    p.end(n, {
      status: n === "cluster-03" ? "failed" : "done",
      summary: n === "cluster-03" ? "failed: Ready=False" : "changed (8 steps)",
    });
  }
  p.queued("cluster-10");
  size = { columns: 40, rows: 5 }; // resized
  p.redraw();
  frame = writes.at(-1)!.replace(CSI, "");
  assert.match(frame, /^applying 20 clusters: 9 queued, 2 run/);
  assert.equal(frame.split("\n").length - 1, 3, frame); // summary, cluster-09, cluster-11
  assert.ok(frame.split("\n").every((l) => [...l].length < 40), frame);
  p.done();
  assert.equal(writes.at(-1)!.replace(CSI, ""), "", "the live block is cleared at the end");

  const text = writes.join("").replace(CSI, "");
  // Every write fits the screen: never more lines than rows - 1, never a line wider than it.
  for (const w of writes) {
    const lines = w.replace(CSI, "").split("\n");
    assert.ok(lines.length - 1 <= 7, `${lines.length - 1} lines: ${w}`);
    for (const l of lines) assert.ok([...l].length < 72, `${[...l].length} columns: ${l}`);
  }
  const permanent = text.split("\n").filter((l) => /^[✓✗]/.test(l));
  assert.equal(permanent.length, 9, permanent.join("\n"));
  assert.ok(permanent.includes("✗ cluster-03   1.5s  failed: Ready=False"), permanent.join("\n"));
  assert.ok(permanent.includes("✓ cluster-00   1.5s  changed (8 steps)"), permanent.join("\n"));
  assert.ok(!text.includes("\x1b[3"), "NO_COLOR: no colours");
});

Deno.test("status rows: a suspended Kustomization or GitRepository says so, after failing clusters and before ready ones", () => {
  const sync = (over: Partial<SyncStatus> = {}): SyncStatus => ({
    ready: "True",
    suspended: false,
    ...over,
  });
  const controllers = [{ name: "source-controller", version: "v1.4.1", available: true }];
  const rows = statusRows([
    { cluster: "ok", installed: true, controllers, source: sync(), kustomization: sync() },
    {
      cluster: "paused",
      installed: true,
      controllers,
      source: sync(),
      kustomization: sync({ suspended: true }),
    },
    {
      cluster: "src-paused",
      installed: true,
      controllers,
      source: sync({ suspended: true }),
      kustomization: sync(),
    },
    {
      cluster: "broken",
      installed: true,
      controllers,
      source: sync(),
      kustomization: sync({ ready: "False", reason: "BuildFailed", message: "no apps" }),
    },
  ], new Map());
  assert.deepEqual(rows.map((r) => [r.cluster, r.health, r.summary]), [
    ["broken", "failing", "Kustomization BuildFailed: no apps"],
    ["paused", "suspended", "Suspended (Kustomization)"],
    ["src-paused", "suspended", "Suspended (GitRepository)"],
    ["ok", "ready", "Ready"],
  ]);
});
