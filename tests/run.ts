/**
 * Runs the whole test suite and ends with the plain line `N passed, N failed[, N skipped]` that CI
 * reads (Deno's own summary line is not in that form). Extra arguments go to `deno test`.
 *
 * That line counts tests (`Deno.test`), not their steps (`t.step`): a failing step fails its
 * test, which is counted once. The line before it gives both counts, e.g.
 * `tests: 262 passed, 0 failed, 1 skipped; steps: 28 passed, 0 failed`, and skipped tests are
 * listed by name above it (a test skipped for a missing tool names the tool). The tests run with a
 * TMPDIR of their own, removed afterwards.
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
  { tool: "tmux", install: "the Debian package tmux", why: "the live display's terminal tests" },
  { tool: "zsh", install: "the Debian package zsh", why: "the zsh completion test" },
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

export type Outcome = "passed" | "failed" | "skipped";

/** One `<testcase>` of Deno's JUnit report: a test, or a step (`parent > step`). */
export interface JunitCase {
  /** The test file (the `<testsuite>` name). */
  file: string;
  name: string;
  outcome: Outcome;
}

export interface Counts {
  passed: number;
  failed: number;
  skipped: number;
}

export interface Summary {
  tests: Counts;
  steps: Counts;
  /** `name (file)` of every skipped test. */
  skippedTests: string[];
}

function decodeXml(s: string): string {
  return s.replace(/&(lt|gt|amp|quot|apos|#\d+|#x[0-9a-f]+);/gi, (_, e: string) => {
    const named: Record<string, string> = { lt: "<", gt: ">", amp: "&", quot: '"', apos: "'" };
    if (e[0] !== "#") return named[e.toLowerCase()];
    return String.fromCodePoint(
      e[1].toLowerCase() === "x" ? parseInt(e.slice(2), 16) : +e.slice(1),
    );
  });
}

function attribute(tag: string, name: string): string {
  const m = new RegExp(`\\s${name}="([^"]*)"`).exec(tag);
  return m ? decodeXml(m[1]) : "";
}

/** The test cases of Deno's JUnit report, in its order (per file: the tests, then the steps). */
export function parseJunit(xml: string): JunitCase[] {
  const out: JunitCase[] = [];
  for (const suite of xml.matchAll(/<testsuite\b([^>]*)>([\s\S]*?)<\/testsuite>/g)) {
    const file = attribute(suite[1], "name");
    for (const c of suite[2].matchAll(/<testcase\b([^>]*?)(?:\/>|>([\s\S]*?)<\/testcase>)/g)) {
      const body = c[2] ?? "";
      const outcome: Outcome = /<(failure|error)\b/.test(body)
        ? "failed"
        : /<skipped\b/.test(body)
        ? "skipped"
        : "passed";
      out.push({ file, name: attribute(c[1], "name"), outcome });
    }
  }
  return out;
}

/**
 * Tests and steps counted apart. Deno names a step `<parent> > <step>` and lists a file's tests
 * before their steps (steps exist only once their test runs), so a case is a step when its name
 * extends an earlier case of the same file with " > ". A failed step fails its test even if the
 * report said otherwise.
 */
export function summarize(cases: JunitCase[]): Summary {
  const tests: JunitCase[] = [];
  const steps: JunitCase[] = [];
  // file + name of every case seen so far → the test it is or belongs to.
  const testOf = new Map<string, JunitCase>();
  for (const c of cases) {
    const key = (name: string) => `${c.file}\0${name}`;
    const parts = c.name.split(" > ");
    let test: JunitCase | undefined;
    for (let i = parts.length - 1; i >= 1 && !test; i--) {
      test = testOf.get(key(parts.slice(0, i).join(" > ")));
    }
    if (test) {
      steps.push(c);
      if (c.outcome === "failed") test.outcome = "failed";
    } else {
      test = { ...c };
      tests.push(test);
    }
    testOf.set(key(c.name), test);
  }
  const count = (list: JunitCase[]): Counts => ({
    passed: list.filter((c) => c.outcome === "passed").length,
    failed: list.filter((c) => c.outcome === "failed").length,
    skipped: list.filter((c) => c.outcome === "skipped").length,
  });
  return {
    tests: count(tests),
    steps: count(steps),
    skippedTests: tests.filter((t) => t.outcome === "skipped").map((t) => `${t.name} (${t.file})`),
  };
}

/** The closing lines; `broken`: deno test failed with no failed test (a load or type error). */
export function closingLines(s: Summary, broken: boolean): string[] {
  const failed = s.tests.failed + (broken ? 1 : 0);
  const skipped = s.tests.skipped ? `, ${s.tests.skipped} skipped` : "";
  const stepSkipped = s.steps.skipped ? `, ${s.steps.skipped} skipped` : "";
  return [
    ...s.skippedTests.map((t) => `skipped: ${t}`),
    ...(broken ? ["deno test failed outside any test (see its output above)"] : []),
    `tests: ${s.tests.passed} passed, ${failed} failed${skipped}; ` +
    `steps: ${s.steps.passed} passed, ${s.steps.failed} failed${stepSkipped}`,
    `${s.tests.passed} passed, ${failed} failed${skipped}`,
  ];
}

async function main(): Promise<boolean> {
  // The suite's own temp dir (TMPDIR of every test and server): tests that look in the temp dir
  // for what they left behind see this run's files only, whatever runs beside it (the demo,
  // another suite). World-writable and sticky as /tmp: sshd's login users reach the repositories.
  const tmp = await Deno.makeTempDir({ prefix: "ff-" });
  await Deno.chmod(tmp, 0o1777);
  const junit = `${tmp}/junit.xml`;
  try {
    const args = ["test", "-A", `--junit-path=${junit}`, ...Deno.args];
    if (Deno.args.length === 0) args.push("tests/");
    const child = new Deno.Command(Deno.execPath(), {
      args,
      // The commit and build caches (lib/git/commit_cache.ts, lib/manifests/build_cache.ts) in the
      // suite's temp dir, not the user's.
      env: {
        NO_COLOR: "1",
        TMPDIR: tmp,
        FLUXFLEET_COMMIT_CACHE: `${tmp}/commit-cache`,
        FLUXFLEET_BUILD_CACHE: `${tmp}/build-cache`,
      },
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
    const status = await child.status;
    const xml = await Deno.readTextFile(junit).catch(() => "");
    const summary = summarize(parseJunit(xml));
    const broken = !status.success && summary.tests.failed === 0;
    for (const line of closingLines(summary, broken)) console.log(line);
    return status.success;
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) {
  if (!checkTestTools()) {
    console.log("CI=true: the tests need every tool above; not running them");
    console.log("0 passed, 1 failed");
    Deno.exit(1);
  }
  Deno.exit((await main()) ? 0 : 1);
}
