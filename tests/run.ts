/**
 * Runs the whole test suite and ends with the plain line `N passed, N failed` that CI reads
 * (Deno's own summary line is not in that form). Extra arguments go to `deno test`.
 */
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
