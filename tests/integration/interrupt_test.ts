/**
 * Ctrl-C as a terminal sends it: SIGINT to the whole process group of `fluxfleet apply … | tail`.
 * tail dies with it, so fluxfleet's later writes to stdout fail (EPIPE); the temporary clones must
 * still go, the exit status must be 130, and clusters that never started are `skipped`.
 */
import assert from "node:assert/strict";
import {
  assertTempClean,
  contextNames,
  type FleetEnv,
  fluxObject,
  manifestYaml,
  ROOT,
  tokenGit,
  withFleetEnv,
} from "../helpers/harness.ts";
import { outputSchemaErrors } from "../helpers/output_schema.ts";

const TOKEN = "canary-interrupt-token-5c1e";

/** Two clusters on one repository; c0's Flux never becomes ready (apply waits on it). */
function withEnv(fn: (env: FleetEnv) => Promise<void>): Promise<void> {
  return withFleetEnv({
    prefix: "fluxfleet-interrupt-",
    git: { users: { git: TOKEN } },
    repos: ["fleet"],
    contexts: contextNames(2),
    cliEnv: { GIT_PASSWORD: TOKEN },
    manifest: ({ git, kubes }) =>
      manifestYaml({
        timeout: "2m",
        git: tokenGit(git.repoUrl("fleet")),
        clusters: kubes.map((_, i) => ({ name: `c${i}` })),
      }),
  }, async (env) => {
    env.kubes[0].setFluxBehaviour("hang");
    await fn(env);
  });
}

const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

/**
 * Runs `sh -c '{ fluxfleet apply …; echo $? > status; } 2> stderr | <consumer>'` in a session
 * of its own (setsid: its own process group, as a shell's job), waits until c0's Kustomization
 * exists (apply then waits for Flux), then sends SIGINT to the whole group as a terminal's Ctrl-C
 * does. The brace group traps INT (its children get the default back) only to be able to write
 * fluxfleet's exit status. With `stderrToPipe`, stderr goes down the pipe too (`2>&1 | tail`).
 */
async function interruptPipeline(
  env: FleetEnv,
  args: string[],
  consumer: string,
  opts: { stderrToPipe?: boolean } = {},
): Promise<{ status: number; stderr: string }> {
  const status = `${env.dir}/status`;
  const errFile = `${env.dir}/stderr`;
  const fluxfleet = [Deno.execPath(), "run", "-A", `${ROOT}main.ts`, ...args].map(quote).join(" ");
  const redirect = opts.stderrToPipe ? "2>&1" : `2> ${quote(errFile)}`;
  const script = `{ trap true INT; ${fluxfleet}; echo $? > ${
    quote(status)
  }; } ${redirect} | ${consumer}`;
  const child = new Deno.Command("setsid", {
    args: ["sh", "-c", script],
    env: { NO_COLOR: "1", TMPDIR: env.tmp, GIT_PASSWORD: TOKEN },
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    const deadline = Date.now() + 60_000;
    while (!fluxObject(env.kubes[0], "Kustomization")) {
      assert.ok(Date.now() < deadline, "apply never created c0's Kustomization");
      await new Promise((r) => setTimeout(r, 50));
    }
    // setsid made the shell a process group leader: its pid is the group's id.
    Deno.kill(-child.pid, "SIGINT");
    await child.status;
    const until = Date.now() + 60_000;
    while (!(await Deno.readTextFile(status).catch(() => "")).trim()) {
      assert.ok(Date.now() < until, "fluxfleet did not exit");
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    try {
      Deno.kill(-child.pid, "SIGKILL");
    } catch { /* already gone */ }
  }
  return {
    status: Number((await Deno.readTextFile(status)).trim()),
    stderr: await Deno.readTextFile(errFile).catch(() => ""),
  };
}

Deno.test("Ctrl-C on `apply … | tail`: tail dies, fluxfleet still removes its clones, exit 130", async () => {
  await withEnv(async (env) => {
    const r = await interruptPipeline(
      env,
      ["apply", "--auto-approve", "--concurrency", "1", env.manifest],
      "tail -n 5",
    );
    assert.equal(r.status, 130, r.stderr);
    assert.match(r.stderr, /interrupted: finishing the steps in flight/);
    assert.ok(!r.stderr.includes(TOKEN), "token leaked to stderr");
    await assertTempClean(env.tmp, "a temporary clone was left behind");
  });
});

Deno.test("Ctrl-C on `apply … 2>&1 | tail`: stderr is gone too, the clones are still removed", async () => {
  await withEnv(async (env) => {
    const r = await interruptPipeline(
      env,
      ["apply", "--auto-approve", "--concurrency", "1", env.manifest],
      "tail -n 5",
      { stderrToPipe: true },
    );
    await assertTempClean(env.tmp, "a temporary clone was left behind");
    assert.equal(r.status, 130);
  });
});

Deno.test("Ctrl-C: clusters never started are skipped, not failed (summary counts them)", async () => {
  await withEnv(async (env) => {
    const out = `${env.dir}/stdout`;
    // A reader that survives the Ctrl-C, to see the report.
    const r = await interruptPipeline(
      env,
      ["apply", "--auto-approve", "--concurrency", "1", "--output", "json", env.manifest],
      `{ trap '' INT; cat > ${quote(out)}; }`,
    );
    assert.equal(r.status, 130, r.stderr);
    const doc = JSON.parse(await Deno.readTextFile(out));
    assert.deepEqual(outputSchemaErrors(doc), []);
    const byName = Object.fromEntries(
      doc.results.map((x: { cluster: string }) => [x.cluster, x]),
    );
    assert.equal(byName.c0.outcome, "failed");
    assert.match(byName.c0.error, /^interrupted /);
    assert.equal(byName.c1.outcome, "skipped");
    assert.equal(byName.c1.reason, "interrupted before starting");
    assert.equal(doc.summary.skipped, 1);
    assert.equal(doc.summary.failed, 1);
    await assertTempClean(env.tmp);
  });
});

Deno.test("Ctrl-C, text report: `c1: skipped (interrupted before starting)` and the count", async () => {
  await withEnv(async (env) => {
    const out = `${env.dir}/stdout`;
    const r = await interruptPipeline(
      env,
      ["apply", "--auto-approve", "--concurrency", "1", env.manifest],
      `{ trap '' INT; cat > ${quote(out)}; }`,
    );
    assert.equal(r.status, 130, r.stderr);
    const text = await Deno.readTextFile(out);
    assert.match(text, /^c1: skipped \(interrupted before starting\)$/m);
    assert.match(text, /^Apply: 0 changed, 0 unchanged, 1 failed, 1 skipped\.$/m);
    await assertTempClean(env.tmp);
  });
});

async function until(what: string, cond: () => boolean, ms = 60_000) {
  const deadline = Date.now() + ms;
  while (!cond()) {
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

Deno.test("SIGTERM stops like Ctrl-C: steps in flight finish, the report is printed, exit 143, no temp files", async () => {
  await withEnv(async (env) => {
    const child = env.spawn(["apply", "--auto-approve", "--concurrency", "1", env.manifest]);
    const stdout = new Response(child.stdout).text();
    const stderr = new Response(child.stderr).text();
    await until(
      "c0's Kustomization",
      () => fluxObject(env.kubes[0], "Kustomization") !== undefined,
    );
    child.kill("SIGTERM");
    const status = await child.status;
    const [out, err] = [await stdout, await stderr];
    assert.equal(status.signal, null, "fluxfleet must handle SIGTERM, not die of it");
    assert.equal(status.code, 143, out + err);
    assert.match(err, /SIGTERM received: finishing the steps in flight/);
    assert.match(out, /^c1: skipped \(interrupted before starting\)$/m);
    await assertTempClean(env.tmp);
  });
});

Deno.test("a second Ctrl-C quits at once, while a step hangs, and still removes the clones", async () => {
  await withEnv(async (env) => {
    // c0's namespace request is answered only after 10 s: a step in flight that hangs.
    const hold = { pathIncludes: "/api/v1/namespaces/flux-system", method: "PATCH" };
    env.kubes[0].failNext({ ...hold, delayMs: 10_000 });
    const child = env.spawn(["apply", "--auto-approve", env.manifest]);
    let err = "";
    const reading = child.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
      new WritableStream({ write: (t) => void (err += t) }),
    );
    await until(
      "the held request",
      () =>
        env.kubes[0].requests.some((r) =>
          r.method === hold.method && r.path.includes(hold.pathIncludes)
        ),
    );
    child.kill("SIGINT");
    await until("the first Ctrl-C to be seen", () => err.includes("interrupted:"));
    child.kill("SIGINT");
    const status = await child.status;
    await reading;
    assert.equal(status.code, 130, err);
    assert.match(err, /interrupted again: quitting now/);
    await assertTempClean(env.tmp);
    await child.stdout.cancel().catch(() => {});
  });
});
