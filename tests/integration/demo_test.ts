/** The README's demo (issue 15 item 11): piped or saved, its output is plain text. */
import assert from "node:assert/strict";
import { ROOT } from "../helpers/harness.ts";

Deno.test("demo: plan → apply → plan ends with no changes; no escape codes when not on a terminal", async () => {
  // Only what a user's shell has: no NO_COLOR (the test runner sets it for the tests).
  const env: Record<string, string> = { PATH: Deno.env.get("PATH") ?? "" };
  for (const name of ["HOME", "DENO_DIR", "TMPDIR"]) {
    const value = Deno.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}sandbox/demo.ts`],
    cwd: ROOT,
    env,
    clearEnv: true,
    stdin: "null",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, stdout + stderr);
  assert.match(stdout, /No changes\. Every cluster matches the manifest\./);
  assert.ok(!stdout.includes("\x1b"), `escape codes on stdout:\n${JSON.stringify(stdout)}`);
  assert.ok(!stderr.includes("\x1b"), `escape codes on stderr:\n${JSON.stringify(stderr)}`);
});
