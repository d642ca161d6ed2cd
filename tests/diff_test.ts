import assert from "node:assert/strict";
import { unifiedDiff } from "../lib/report/diff.ts";

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
