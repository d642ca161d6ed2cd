/**
 * A git server that accepts the connection and never answers: `--timeout` bounds each request,
 * `--retries` the attempts (each shown as a progress line), `--cluster-timeout` the whole
 * cluster; the error names the URL and the attempts, or the deadline and the phase.
 */
import assert from "node:assert/strict";
import { manifestYaml, tokenGit, withFleetEnv } from "../helpers/harness.ts";
import { silentListener } from "../helpers/listeners.ts";

async function withSilentGit(
  fn: (
    env: { url: string; accepted: () => number; plan: (args: string[]) => ReturnType<typeof run> },
  ) => Promise<void>,
) {
  const silent = silentListener();
  const silentUrl = `http://127.0.0.1:${silent.port}/fleet.git`;
  try {
    await withFleetEnv({ prefix: "fluxfleet-hang-" }, async (env) => {
      await Deno.writeTextFile(
        env.manifest,
        manifestYaml({ clusters: [{ name: "c0", git: tokenGit(silentUrl) }] }),
      );
      await fn({
        url: silentUrl,
        accepted: silent.connections,
        plan: (args) => run(env.cli, ["plan", env.manifest, ...args]),
      });
    });
  } finally {
    await silent.close();
  }
}

async function run(
  cli: (
    args: string[],
    env?: Record<string, string>,
  ) => Promise<{ code: number; stdout: string; stderr: string }>,
  args: string[],
) {
  const started = performance.now();
  const r = await cli(args, { GIT_PASSWORD: "hang-token" });
  return { ...r, seconds: (performance.now() - started) / 1000 };
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

Deno.test("a git server that never answers: --timeout 1s --retries 2 fails the plan after 2 attempts, each retry shown", async () => {
  await withSilentGit(async ({ url, accepted, plan }) => {
    const r = await plan(["--timeout", "1s", "--retries", "2"]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const error = `no answer within 1 s from git server ${url} (gave up after 2 attempts)`;
    assert.match(r.stdout, new RegExp(`c0[\\s\\S]*${escape(error)}`), r.stdout);
    assert.match(
      r.stderr,
      new RegExp(
        `\\d\\d:\\d\\d:\\d\\d c0: retrying git fetch \\(2/2\\): ${
          escape(`no answer within 1 s from git server ${url}`)
        }\\n`,
      ),
      r.stderr,
    );
    assert.equal(accepted(), 2, "one connection per attempt");
    // Generous bound (the machine is shared): without the options this took 4 x 60 s.
    assert.ok(r.seconds < 45, `${r.seconds} s`);
  });
});

Deno.test("a git server that never answers: --cluster-timeout ends the cluster and names the phase", async () => {
  await withSilentGit(async ({ url, plan }) => {
    // Each request may wait 60 s: the deadline, not the request timeout, ends the cluster.
    const r = await plan(["--timeout", "60s", "--cluster-timeout", "2s"]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(
      r.stdout,
      new RegExp(escape(`deadline of 2s reached while fetching ${url} (--cluster-timeout)`)),
      r.stdout,
    );
    assert.ok(r.seconds < 45, `${r.seconds} s: the request in flight outlived the deadline`);
  });
});
