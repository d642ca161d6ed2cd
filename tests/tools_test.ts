/**
 * tests/helpers/tools.ts: a test that needs a missing tool is skipped on a developer's machine
 * and fails the run under CI=true, the tool named either way. Shown with kubectl taken off PATH
 * in a child `deno test` (sshd cannot be hidden without touching the system).
 */
import assert from "node:assert/strict";
import { ROOT } from "./helpers/fixtures.ts";

const SAMPLE = `
import { missing } from "${ROOT}tests/helpers/tools.ts";
Deno.test({ name: "needs kubectl", ignore: missing("kubectl") }, () => {});
Deno.test("needs nothing", () => {});
`;

/** Runs SAMPLE through tests/run.ts (the test command), or with plain `deno test`. */
async function runSample(ci: boolean, via: "run.ts" | "deno test" = "run.ts") {
  const dir = await Deno.makeTempDir({ prefix: "fluxfleet-tools-" });
  try {
    await Deno.writeTextFile(`${dir}/sample_test.ts`, SAMPLE);
    await Deno.mkdir(`${dir}/bin`); // PATH: nothing at all, so no kubectl
    const out = await new Deno.Command(Deno.execPath(), {
      args: via === "run.ts"
        ? ["run", "-A", `${ROOT}tests/run.ts`, `${dir}/sample_test.ts`]
        : ["test", "-A", `${dir}/sample_test.ts`],
      cwd: ROOT,
      clearEnv: true,
      env: {
        PATH: `${dir}/bin`,
        HOME: Deno.env.get("HOME") ?? "/root",
        NO_COLOR: "1",
        TMPDIR: dir,
        ...(ci ? { CI: "true" } : {}),
      },
      stdin: "null",
    }).output();
    const dec = new TextDecoder();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("a missing tool skips its tests locally, with the tool named", async () => {
  const r = await runSample(false);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /note: tests that need kubectl are skipped: kubectl not found on PATH/);
  assert.match(r.stdout, /^skipped: needs kubectl \(/m);
  assert.match(r.stdout, /\n1 passed, 0 failed, 1 skipped\n$/);
});

Deno.test("under CI=true a missing tool fails the run, with the tool named", async () => {
  // The test command checks the tools first and runs nothing without them.
  const r = await runSample(true);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /^missing tool: kubectl \(.*\): install kubectl/m);
  assert.match(r.stdout, /\n0 passed, 1 failed\n$/);
  // Run directly, the test that needs it is replaced by one failing test naming it.
  const direct = await runSample(true, "deno test");
  assert.equal(direct.code, 1, direct.stdout + direct.stderr);
  assert.match(
    direct.stdout,
    /CI=true needs kubectl: the tests that use it cannot run => [\s\S]*kubectl is missing under CI=true: kubectl not found on PATH; install kubectl/,
  );
});
