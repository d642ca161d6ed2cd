import assert from "node:assert/strict";
import { unifiedDiff } from "../lib/report/diff.ts";
import { createProgress } from "../lib/report/progress.ts";

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
