/**
 * bench/fleet.ts --provider, at a smoke size (4 clusters over 2 repositories, one round): the bench
 * runs on every hosted provider's sandbox and prints and writes its figures — the API requests of
 * the no-op plans and of a second apply as each sandbox counted them, without and with teams —
 * and nothing in a no-op plan or a second apply changes anything. Timings are not asserted.
 */
import assert from "node:assert/strict";
import { parseOptions } from "../../bench/fleet/options.ts";
import type { Results } from "../../bench/fleet/results.ts";
import { missing } from "../helpers/tools.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

Deno.test("bench --provider: generic by default, a list or all, anything else refused", () => {
  assert.deepEqual(parseOptions([]).providers, []);
  assert.deepEqual(parseOptions(["--provider", "generic"]).providers, []);
  assert.deepEqual(parseOptions(["--provider", "gitlab,github"]).providers, ["gitlab", "github"]);
  assert.deepEqual(parseOptions(["--provider=all"]).providers, ["github", "gitea", "gitlab"]);
  assert.throws(
    () => parseOptions(["--provider", "github,bitbucket"]),
    /--provider: bitbucket: use generic, github, gitea, gitlab or all/,
  );
});

Deno.test({
  name:
    "bench --provider all at 4/2: figures of every provider without and with teams; no-op plans and second applies change nothing; 0 requests a further cluster",
  ignore: missing("sshd"),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "fluxfleet-bench-providers-" });
    // The bench's temporary files go here (TMPDIR), the sandbox sshd's too: its git users, which
    // sshd switches to, must be able to reach them.
    await Deno.chmod(dir, 0o755);
    try {
      const json = `${dir}/figures.json`;
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          `${ROOT}bench/fleet.ts`,
          ...["--sizes", "4/2", "--runs", "1", "--no-floor", "--startup-runs", "0"],
          ...["--import-runs", "0", "--apply-clusters", "0", "--baseline-runs", "0"],
          ...["--provider", "all", "--json", json],
        ],
        cwd: dir,
        env: { NO_COLOR: "1", TMPDIR: dir },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stdout = new TextDecoder().decode(out.stdout);
      const stderr = new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 0, `${stdout.slice(-3000)}\n${stderr.slice(-3000)}`);
      const r = JSON.parse(await Deno.readTextFile(json)) as Results;
      const ps = r.providers ?? [];
      assert.deepEqual(ps.map((p) => p.provider), ["github", "gitea", "gitlab"]);
      for (const p of ps) {
        assert.equal(p.clusters, 4);
        assert.equal(p.repos, 2);
        // The counters see mutations: building the fleet created repositories and keys.
        assert.ok(p.setup[0].calls.mutating >= 2 + 4, `${p.provider}: ${JSON.stringify(p.setup)}`);
        assert.deepEqual(p.phases.map((f) => f.teams), [false, true]);
        for (const f of p.phases) {
          const what = `${p.provider}${f.teams ? " with teams" : ""}`;
          const c = f.calls;
          assert.ok(c.perRepo.min >= 1, `${what}: every repository was read: ${JSON.stringify(c)}`);
          assert.equal(
            Object.values(c.byMethod).reduce((a, b) => a + b, 0),
            c.total,
            `${what}: by method adds up`,
          );
          assert.equal(c.mutating, 0, `${what}: the no-op plan changed something`);
          assert.equal(f.marginalPerCluster, 0, `${what}: a further cluster costs requests`);
          assert.equal(f.sameCallsEveryRun, true, what);
          assert.equal(f.runs.length, 1, what);
          // The clusters read over SSH from one host: its key is scanned once per run, not once
          // per cluster (4 connections before the run-wide host-key memo).
          assert.equal(f.sshConnections, 1, `${what}: SSH connections per no-op plan`);
          assert.ok(Number.isFinite(f.wall.median) && Number.isFinite(f.ratio), what);
          const a = f.secondApply;
          assert.ok(a.calls.total >= c.total, `${what}: the second apply reads what a plan does`);
          assert.deepEqual(
            [a.calls.mutating, a.kubeWrites, a.commits],
            [0, 0, 0],
            `${what}: the second apply changed something: ${JSON.stringify(a)}`,
          );
          assert.match(a.summary, /^Apply: 0 changed, 4 unchanged, 0 failed/);
          assert.equal(a.sshConnections, 1, `${what}: SSH connections of the second apply`);
        }
      }
      // The printed table has a row per provider and phase, and the targets name each.
      for (const p of ["github", "gitea", "gitlab"]) {
        for (const teams of ["no", "yes"]) {
          assert.match(stdout, new RegExp(`^\\| ${p} \\| ${teams} \\| \\d+ \\(GET \\d+\\)`, "m"));
        }
        assert.match(stdout, new RegExp(`\\[MET\\] ${p}: a second apply changes nothing`));
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
