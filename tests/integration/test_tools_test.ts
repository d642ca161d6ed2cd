/**
 * The test command checks the system tools first (issue 15 item 11): one line per missing tool
 * naming what to install; under CI=true a missing tool fails the run before any test.
 */
import assert from "node:assert/strict";
import { ROOT } from "../helpers/harness.ts";

/** tests/run.ts on one small test file, with a PATH that holds none of the tools. */
async function runTests(env: Record<string, string>) {
  const empty = await Deno.makeTempDir({ prefix: "fluxfleet-no-tools-" });
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `${ROOT}tests/run.ts`, `${ROOT}tests/selector_test.ts`],
      cwd: ROOT,
      env: { PATH: empty, ...env },
      clearEnv: true,
      stdin: "null",
    }).output();
    return { code: out.code, stdout: new TextDecoder().decode(out.stdout) };
  } finally {
    await Deno.remove(empty);
  }
}

const EXPECTED = [
  "missing tool: git (for git http-backend, the demo): install the Debian package git",
  "missing tool: openssl (for the sandbox's TLS, the demo): install the Debian package openssl",
  "missing tool: ssh-keygen (for the SSH tests): install the Debian package openssh-client",
  "missing tool: gpg (for checking signed commits): install the Debian package gpg",
  "missing tool: kubectl (for the kubectl fidelity tests and release archives): install " +
  "kubectl 1.32 or later (Debian's kubernetes-client is too old)",
];

Deno.test("test command: one line per missing tool, then the tests run (not under CI)", async () => {
  const r = await runTests({});
  for (const line of EXPECTED) assert.ok(r.stdout.includes(line + "\n"), r.stdout);
  assert.match(r.stdout, /^\d+ passed, 0 failed$/m);
  assert.equal(r.code, 0, r.stdout);
});

Deno.test("test command under CI=true: a missing tool fails the run before any test", async () => {
  const r = await runTests({ CI: "true" });
  for (const line of EXPECTED) assert.ok(r.stdout.includes(line + "\n"), r.stdout);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /^0 passed, 1 failed\n$/m);
  assert.ok(!/running \d+ tests?/.test(r.stdout), "no test may run");
});
