/**
 * `git.transport: system` killed with SIGKILL in the middle of a push (held by the sandbox sshd's
 * pre-receive hook, so the server has seen the push start and not finish): the run's own TMPDIR
 * holds no private key material in any form and no process of the run is left — and when the
 * guard process is killed too, the next run removes the stale dir and converges.
 */
import assert from "node:assert/strict";
import type { PushHold, SshdServer } from "../../sandbox/ssh/sshd.ts";
import { missing } from "../helpers/tools.ts";
import { SESSION_PREFIX } from "../../lib/git/transports/system/session_dir.ts";
import { RUN_DIR_PREFIX } from "../../lib/cli/lifecycle.ts";
import { basename, join } from "node:path";
import {
  type CommandResult,
  type FleetEnv,
  manifestYaml,
  runCommand,
  withFleetEnv,
  withSshd,
} from "../helpers/harness.ts";
import {
  assertNoKeyMaterial,
  keyNeedles,
  type Needle,
  processesGone,
  processesUsing,
} from "../helpers/leftovers.ts";

const PASSPHRASE = "canary-passphrase-7d3a90";
const GOTK_SYNC = "clusters/c0/flux-system/gotk-sync.yaml";

/** System git's session dirs of the runs in env.tmp: in a run's own dir, or beside it. */
function sessionDirs(env: FleetEnv): string[] {
  const names = (dir: string) => [...Deno.readDirSync(dir)].map((e) => e.name);
  const runs = names(env.tmp).filter((n) => n.startsWith(RUN_DIR_PREFIX));
  return [
    ...names(env.tmp),
    ...runs.flatMap((run) => names(join(env.tmp, run)).map((n) => join(run, n))),
  ].filter((n) => basename(n).startsWith(SESSION_PREFIX));
}

function decode(out: Deno.CommandOutput): CommandResult {
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

function assertOutputClean(r: CommandResult, needles: Needle[]): void {
  for (const n of needles) {
    assert.ok(!r.stdout.includes(n.text) && !r.stderr.includes(n.text), `output holds ${n.name}`);
  }
}

/**
 * Starts `apply`, waits until its push is held by the server, runs `kill` and returns the run's
 * output; the run is killed whatever happens.
 */
async function applyKilledMidPush(
  env: FleetEnv,
  sshd: SshdServer,
  cliEnv: Record<string, string>,
  kill: (run: Deno.ChildProcess) => void,
): Promise<{ out: CommandResult; hold: PushHold }> {
  const hold = await sshd.holdPushes("fleet");
  const run = env.spawn(["apply", "--auto-approve", env.manifest], { env: cliEnv });
  try {
    await hold.reached();
    // Mid-push: the server has the pack and runs its hook; the branch has not moved.
    assert.equal(await sshd.headSha("fleet", "main"), null, "the push finished before the kill");
    assert.equal(sessionDirs(env).length, 1, "no system-git session while the push runs");
    kill(run);
  } catch (e) {
    try {
      run.kill("SIGKILL");
    } catch { /* ended by itself */ }
    const out = decode(await run.output());
    throw new Error(`${(e as Error).message}\n${out.stdout}${out.stderr}`);
  }
  const out = decode(await run.output());
  assert.equal(out.code, 137, `the run was not killed: ${out.stdout}${out.stderr}`);
  // The server never saw the push end: still held, the branch where it was.
  assert.ok(await hold.holding(), "the held push ended with the client");
  assert.equal(await sshd.headSha("fleet", "main"), null);
  return { out, hold };
}

Deno.test({
  name:
    "transport: system, SIGKILL mid-push: no key material or process left in the run's temp, the next run cleans up and converges",
  ignore: missing("sshd"),
  async fn() {
    await withSshd((sshd) =>
      withFleetEnv({
        prefix: "fluxfleet-ssh-kill-",
        manifestName: "fleet.yaml",
        shortTmp: true,
      }, async (env) => {
        await sshd.createRepo("fleet");
        const keyFile = `${env.dir}/id_enc`;
        const keygen = await runCommand("ssh-keygen", [
          "-q",
          "-t",
          "ed25519",
          "-N",
          PASSPHRASE,
          "-C",
          "kill@test",
          "-f",
          keyFile,
        ]);
        assert.equal(keygen.code, 0, keygen.stderr);
        const keyText = await Deno.readTextFile(keyFile);
        await sshd.authorize(await Deno.readTextFile(`${keyFile}.pub`));
        const needles = keyNeedles(keyText, PASSPHRASE);
        await Deno.writeTextFile(
          env.manifest,
          manifestYaml({
            clusters: [{
              name: "c0",
              git: [
                `url: ${sshd.hostedUrl("fleet")}`,
                "transport: system",
                `auth: { type: ssh, privateKey: { file: ${keyFile} }, passphrase: { env: KEY_PASSPHRASE } }`,
              ],
            }],
          }),
        );
        const cliEnv = { KEY_PASSPHRASE: PASSPHRASE };

        // 1. SIGKILL of fluxfleet: its guard kills git, ssh and the agent and removes the dir.
        const first = await applyKilledMidPush(env, sshd, cliEnv, (run) => run.kill("SIGKILL"));
        assert.deepEqual(await processesGone(env.tmp), [], "processes of the killed run left");
        assert.deepEqual(sessionDirs(env), [], "session dir left after SIGKILL");
        await assertNoKeyMaterial(env.tmp, needles);
        assertOutputClean(first.out, needles);
        await first.hold.release({ reject: true });

        // 2. SIGKILL of fluxfleet and of its guard: the dir stays, without anything secret.
        const second = await applyKilledMidPush(env, sshd, cliEnv, (run) => {
          const guards = processesUsing(env.tmp)
            .filter((p) => p.argv[0] === "sh" && p.argv.includes("fluxfleet-ssh-guard"));
          assert.equal(guards.length, 1, "no guard process");
          Deno.kill(guards[0].pid, "SIGKILL");
          run.kill("SIGKILL");
        });
        const stale = sessionDirs(env);
        assert.equal(stale.length, 1, "the dir of a run killed with its guard");
        await assertNoKeyMaterial(env.tmp, needles);
        assertOutputClean(second.out, needles);
        await second.hold.release({ reject: true });

        // 3. The next run removes the stale dir (killing its agent if it still runs) and pushes.
        const third = await env.cli(["apply", "--auto-approve", env.manifest], cliEnv);
        assert.equal(third.code, 0, third.stdout + third.stderr);
        assertOutputClean(third, needles);
        assert.ok(await sshd.readFile("fleet", "main", GOTK_SYNC));
        assert.deepEqual(sessionDirs(env), [], "stale session dir not swept");
        assert.deepEqual(await processesGone(env.tmp), [], "processes left after the next run");
        await assertNoKeyMaterial(env.tmp, needles);
        const plan = await env.cli(["plan", "--detailed-exitcode", env.manifest], cliEnv);
        assert.equal(plan.code, 0, plan.stdout + plan.stderr);
      })
    );
  },
});
