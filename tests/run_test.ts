/** tests/run.ts, the runner CI calls: what its closing lines count. */
import assert from "node:assert/strict";
import { ROOT } from "./helpers/fixtures.ts";

/** A test file with a failing step, passing steps, a skipped test and a name holding " > ". */
const SAMPLE = `
Deno.test("passes", () => {});
Deno.test("a > b is one test, not a step", () => {});
Deno.test("has steps, one failing", async (t) => {
  await t.step("first", () => {});
  await t.step("second fails", () => {
    throw new Error("the failing step");
  });
  await t.step("third, with a nested step", async (t) => {
    await t.step("nested", () => {});
  });
});
Deno.test("steps all pass", async (t) => {
  await t.step("only", () => {});
});
Deno.test({ name: "skipped here", ignore: true, fn() {} });
Deno.test("a", () => {});
`;

Deno.test("tests/run.ts counts tests and steps apart: a failing step fails its test, counted once", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fluxfleet-run-" });
  try {
    await Deno.writeTextFile(`${dir}/sample_test.ts`, SAMPLE);
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `${ROOT}tests/run.ts`, `${dir}/sample_test.ts`],
      cwd: ROOT,
      env: { NO_COLOR: "1", TMPDIR: dir },
      stdin: "null",
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 1, "a failing test fails the run");
    const lines = stdout.trimEnd().split("\n");
    assert.match(lines.at(-3) ?? "", /^skipped: skipped here \(\S*\/sample_test\.ts\)$/);
    assert.deepEqual(lines.slice(-2), [
      "tests: 4 passed, 1 failed, 1 skipped; steps: 4 passed, 1 failed",
      "4 passed, 1 failed, 1 skipped",
    ]);
    // The JUnit report went to the TMPDIR and was removed.
    const left = [...Deno.readDirSync(dir)].map((e) => e.name);
    assert.deepEqual(left, ["sample_test.ts"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
