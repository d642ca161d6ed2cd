/**
 * Runs the whole test suite and ends with the plain line `N passed, N failed` that CI reads
 * (Deno's own summary line is not in that form). Extra arguments go to `deno test`.
 */

/** System tools the tests drive, with the Debian package that has each. */
const TEST_TOOLS: { tool: string; install: string; why: string; dirs?: string[] }[] = [
  { tool: "git", install: "the Debian package git", why: "git http-backend, the demo" },
  { tool: "openssl", install: "the Debian package openssl", why: "the sandbox's TLS, the demo" },
  {
    tool: "sshd",
    install: "the Debian package openssh-server",
    why: "the SSH tests",
    dirs: ["/usr/sbin"],
  },
  {
    tool: "ssh-keygen",
    install: "the Debian package openssh-client",
    why: "the SSH tests",
  },
  { tool: "gpg", install: "the Debian package gpg", why: "checking signed commits" },
  {
    tool: "kubectl",
    install: "kubectl 1.32 or later (Debian's kubernetes-client is too old)",
    why: "the kubectl fidelity tests and release archives",
  },
];

/**
 * Checks the system tools first: one line per missing tool, with what to install. Under CI=true
 * a missing tool fails the run before any test; elsewhere the tests that need it fail or skip.
 */
function checkTestTools(): boolean {
  const path = (Deno.env.get("PATH") ?? "").split(":").filter((d) => d !== "");
  const found = (tool: string, dirs: string[]) =>
    dirs.some((d) => {
      try {
        const st = Deno.statSync(`${d}/${tool}`);
        return st.isFile && ((st.mode ?? 0o111) & 0o111) !== 0;
      } catch {
        return false;
      }
    });
  const missing = TEST_TOOLS.filter((t) => !found(t.tool, [...path, ...(t.dirs ?? [])]));
  for (const t of missing) {
    console.log(`missing tool: ${t.tool} (for ${t.why}): install ${t.install}`);
  }
  return missing.length === 0 || Deno.env.get("CI") !== "true";
}

if (!checkTestTools()) {
  console.log("CI=true: the tests need every tool above; not running them");
  console.log("0 passed, 1 failed");
  Deno.exit(1);
}

const junit = await Deno.makeTempFile({ prefix: "fluxfleet-junit-", suffix: ".xml" });
let ok = false;
try {
  const args = ["test", "-A", `--junit-path=${junit}`, ...Deno.args];
  if (Deno.args.length === 0) args.push("tests/");
  const child = new Deno.Command(Deno.execPath(), {
    args,
    env: { NO_COLOR: "1" },
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  const status = await child.status;
  const xml = await Deno.readTextFile(junit).catch(() => "");
  const cases = [...xml.matchAll(/<testcase\b[\s\S]*?(?:\/>|<\/testcase>)/g)].map((m) => m[0]);
  // Steps appear as nested testcases in some Deno versions; count top-level results only once.
  const failed = cases.filter((c) => /<failure\b/.test(c)).length;
  const skipped = cases.filter((c) => /<skipped\b/.test(c)).length;
  const passed = cases.length - failed - skipped;
  const broken = !status.success && failed === 0;
  console.log(
    `${passed} passed, ${failed + (broken ? 1 : 0)} failed${skipped ? `, ${skipped} skipped` : ""}`,
  );
  ok = status.success;
} finally {
  await Deno.remove(junit).catch(() => {});
}
Deno.exit(ok ? 0 : 1);
