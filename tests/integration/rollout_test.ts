/**
 * Rollouts in waves (issue 18), end to end with the CLI: kube sandboxes whose Flux stand-in
 * really applies what the commit holds, so an upgrade pushed to git changes the controllers'
 * images in the cluster as real Flux does, and a gate fails the way kustomize-controller fails.
 */
import assert from "node:assert/strict";
import { type RolloutFleet, withRolloutFleet } from "../helpers/rollout_fleet.ts";
import { outputSchemaErrors } from "../helpers/output_schema.ts";

const OLD_IMAGE = "ghcr.io/fluxcd/source-controller:v1.4.1";
const NEW_IMAGE = "ghcr.io/fluxcd/source-controller:v1.5.0";

/** canary: c0-c3; then half of the remaining 8 (c4-c7); then the rest (c8-c11). */
const THREE_WAVES = `rollout:
  bake: 2s
  waves:
    - name: canary
      selector: { ring: canary }
    - percent: 50
    - rest: true
`;

const ring = (i: number) => (i < 4 ? { ring: "canary" } : { ring: "main" });

Deno.test("rollout: a wave-2 cluster failing its gate stops the rollout before wave 3; the re-run after the fix finishes waves 2 and 3 only", async () => {
  await withRolloutFleet(12, ring, async (f) => {
    const { env } = f;
    // Bootstrap every cluster at v2.4.0, all in one wave.
    await f.writeManifest("v2.4.0", THREE_WAVES);
    const boot = await f.apply("--wave", "rest", "-q");
    assert.equal(boot.code, 0, boot.stderr + boot.stdout);
    for (const k of env.kubes) assert.equal(f.image(k), OLD_IMAGE);

    await f.writeManifest("v2.5.1", THREE_WAVES);
    const plan = await env.cli(["plan", env.manifest, "-q"]);
    assert.equal(plan.code, 0, plan.stderr);
    assert.match(plan.stdout, /Rollout in 3 waves; gates: GitRepository and Kustomization/);
    assert.match(
      plan.stdout,
      /wave 1 \(canary\): c0, c1, c2, c3\n {4}4 to change; 4 at once, bake 2s/,
    );
    assert.match(plan.stdout, /wave 2 \(50%\): c4, c5, c6, c7\n/);
    assert.match(plan.stdout, /wave 3 \(rest\): c8, c9, c10, c11\n/);
    const planJson = JSON.parse((await env.cli(["plan", env.manifest, "-q", "-o", "json"])).stdout);
    assert.deepEqual(outputSchemaErrors(planJson), []);
    assert.deepEqual(
      planJson.rollout.waves.map((
        w: { label: string; changing: string[] },
      ) => [w.label, w.changing]),
      [
        ["canary", ["c0", "c1", "c2", "c3"]],
        ["50%", ["c4", "c5", "c6", "c7"]],
        ["rest", ["c8", "c9", "c10", "c11"]],
      ],
    );

    const message =
      "health check failed after 5m0s: timeout waiting for: [HelmRelease/apps/podinfo status: 'Failed']";
    env.kubes[5].flux.setKustomizationOutcome({ kind: "fail", message });
    const writesBefore = env.kubes.map((k) => k.mutatingRequests().length);
    const first = await f.apply();
    assert.equal(first.code, 1, first.stderr + first.stdout);
    assert.match(first.stdout, /wave 1 \(canary\): healthy — c0, c1, c2, c3/);
    assert.match(first.stdout, /wave 2 \(50%\): failed — c4, c5, c6, c7/);
    assert.ok(
      first.stdout.includes(
        `✗ c5: gate Kustomization flux-system/flux-system: Ready=False (HealthCheckFailed): ${message}`,
      ),
      first.stdout,
    );
    assert.match(first.stdout, /wave 3 \(rest\): not started — c8, c9, c10, c11/);
    assert.match(first.stdout, /Stopped after wave 2: 4 clusters of later waves untouched/);
    for (let i = 0; i < 8; i++) assert.equal(f.image(env.kubes[i]), NEW_IMAGE, `c${i}`);
    for (let i = 8; i < 12; i++) {
      assert.equal(f.image(env.kubes[i]), OLD_IMAGE, `c${i} is untouched`);
      assert.equal(env.kubes[i].mutatingRequests().length, writesBefore[i], `c${i}: no writes`);
      assert.match(
        await f.repoFile(`clusters/c${i}/flux-system/gotk-components.yaml`),
        /v2\.4\.0/,
        `c${i}'s files are not pushed`,
      );
    }

    // The fix; the re-run observes the clusters and resumes at wave 2.
    env.kubes[5].flux.setKustomizationOutcome({ kind: "ready" });
    const writesMid = env.kubes.map((k) => k.mutatingRequests().length);
    const second = await f.apply();
    assert.equal(second.code, 0, second.stderr + second.stdout);
    const summary = second.stdout.slice(second.stdout.lastIndexOf("Rollout:"));
    assert.match(summary, /wave 1 \(canary\): already rolled out \(nothing done\)/, summary);
    assert.match(summary, /wave 2 \(50%\): healthy/, summary);
    assert.match(summary, /wave 3 \(rest\): healthy/, summary);
    for (const k of env.kubes) assert.equal(f.image(k), NEW_IMAGE);
    for (let i = 0; i < 8; i++) {
      assert.equal(env.kubes[i].mutatingRequests().length, writesMid[i], `c${i}: nothing re-done`);
    }
  });
});

/** The subject of every commit on the fleet repository's main branch, oldest first. */
async function subjects(f: RolloutFleet): Promise<string[]> {
  const out = await new Deno.Command("git", {
    args: ["--git-dir", `${f.env.git.root}/fleet.git`, "log", "--reverse", "--format=%s", "main"],
  }).output();
  return new TextDecoder().decode(out.stdout).trim().split("\n");
}

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 90_000) {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

Deno.test("rollout: SIGKILL during wave 2; the re-run resumes at wave 2 and pushes nothing twice", async () => {
  await withRolloutFleet(6, (i) => ({ ring: i < 2 ? "canary" : "main" }), async (f) => {
    const { env } = f;
    const waves =
      `rollout:\n  bake: 1s\n  waves:\n    - selector: { ring: canary }\n    - percent: 50\n    - rest: true\n`;
    await f.writeManifest("v2.4.0", waves);
    const boot = await f.apply("--wave", "rest", "-q");
    assert.equal(boot.code, 0, boot.stderr + boot.stdout);
    await f.writeManifest("v2.5.1", waves);
    // c2 (wave 2) stays Progressing long after its upgrade is pushed: the kill lands in wave 2.
    env.kubes[2].flux.setKustomizationOutcome({ kind: "ready", delayMs: 120_000 });
    const child = env.spawn(["apply", env.manifest, "--auto-approve", "-q"], { output: "null" });
    await until("the wave 2 commit", async () => (await subjects(f)).at(-1)!.endsWith("c2, c3"));
    await until("c2 upgraded", () => f.image(env.kubes[2]) === NEW_IMAGE);
    child.kill("SIGKILL");
    assert.equal((await child.status).signal, "SIGKILL");
    for (const i of [4, 5]) assert.equal(f.image(env.kubes[i]), OLD_IMAGE, `c${i}: wave 3`);

    // c2 is still settling when the re-run looks: wave 2 started but is not finished.
    env.kubes[2].flux.setKustomizationOutcome({ kind: "ready", delayMs: 6000 });
    const writes = env.kubes.map((k) => k.mutatingRequests().length);
    const again = await f.apply();
    assert.equal(again.code, 0, again.stderr + again.stdout);
    const summary = again.stdout.slice(again.stdout.lastIndexOf("Rollout:"));
    assert.match(
      summary,
      /wave 1 \(ring=canary\): already rolled out \(nothing done\) — c0, c1/,
      summary,
    );
    assert.match(summary, /wave 2 \(50%\): healthy — c2, c3/, summary);
    assert.match(summary, /wave 3 \(rest\): healthy — c4, c5/, summary);
    for (const k of env.kubes) assert.equal(f.image(k), NEW_IMAGE);
    for (let i = 0; i < 4; i++) {
      assert.equal(env.kubes[i].mutatingRequests().length, writes[i], `c${i}: nothing re-done`);
    }
    assert.deepEqual((await subjects(f)).slice(-3), [
      "Add Flux v2.5.1 manifests for clusters c0, c1",
      "Add Flux v2.5.1 manifests for clusters c2, c3",
      "Add Flux v2.5.1 manifests for clusters c4, c5",
    ]);
  });
});

Deno.test("rollout: a cluster turning unhealthy during the bake stops the rollout (JSON names the gate)", async () => {
  await withRolloutFleet(3, (i) => ({ ring: i === 0 ? "canary" : "main" }), async (f) => {
    const { env } = f;
    const waves =
      `rollout:\n  waves:\n    - { selector: { ring: canary }, bake: 12s }\n    - rest: true\n`;
    await f.writeManifest("v2.4.0", waves);
    const boot = await f.apply("--wave", "rest", "-q");
    assert.equal(boot.code, 0, boot.stderr + boot.stdout);
    await f.writeManifest("v2.5.1", waves);
    const child = env.spawn(["apply", env.manifest, "--auto-approve", "-o", "json"]);
    const output = child.output();
    const c0 = env.kubes[0];
    await until("c0 upgraded and Ready", () => {
      const ks = c0.getObject(
        "kustomize.toolkit.fluxcd.io/v1",
        "Kustomization",
        "flux-system",
        "flux-system",
      ) as { status?: { conditions?: { type: string; status: string }[] } } | undefined;
      return f.image(c0) === NEW_IMAGE &&
        ks?.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") === true;
    });
    // The gates pass within a poll (1s) of this; then the bake runs for 12s.
    await new Promise((r) => setTimeout(r, 4000));
    c0.flux.setDeploymentUnavailable("kustomize-controller");
    const out = await output;
    const stdout = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 1, new TextDecoder().decode(out.stderr) + stdout);
    const doc = JSON.parse(stdout);
    assert.deepEqual(outputSchemaErrors(doc), [], "apply's JSON with its rollout fits the schema");
    assert.equal(doc.rollout.waves[0].state, "failed");
    assert.equal(doc.rollout.waves[0].failures.length, 1);
    const failure = doc.rollout.waves[0].failures[0];
    assert.equal(failure.cluster, "c0");
    assert.equal(failure.gate, "Deployment flux-system/kustomize-controller");
    assert.match(
      failure.message,
      /^during the bake: Available=False \(MinimumReplicasUnavailable\)/,
    );
    assert.equal(doc.rollout.waves[1].state, "skipped");
    assert.equal(doc.rollout.stoppedAt, 1);
    for (const k of env.kubes.slice(1)) assert.equal(f.image(k), OLD_IMAGE);
    assert.deepEqual(doc.results.map((r: { outcome: string }) => r.outcome), [
      "failed",
      "skipped",
      "skipped",
    ]);
  });
});

Deno.test("rollout: --continue-on-failure goes past a failed wave; maxParallel commits a wave in batches", async () => {
  await withRolloutFleet(3, (i) => ({ ring: i === 0 ? "canary" : "main" }), async (f) => {
    const { env } = f;
    const waves =
      `rollout:\n  waves:\n    - selector: { ring: canary }\n    - { rest: true, maxParallel: 1 }\n`;
    await f.writeManifest("v2.4.0", waves);
    const boot = await f.apply("--wave", "rest", "-q");
    assert.equal(boot.code, 0, boot.stderr + boot.stdout);
    await f.writeManifest("v2.5.1", waves);
    const message = "health check failed after 1m0s: timeout waiting for: [HelmRelease/apps/x]";
    env.kubes[0].flux.setKustomizationOutcome({ kind: "fail", message });
    const r = await f.apply("--continue-on-failure", "-q");
    assert.equal(r.code, 1, r.stderr + r.stdout);
    const summary = r.stdout.slice(r.stdout.lastIndexOf("Rollout:"));
    assert.match(summary, /wave 1 \(ring=canary\): failed — c0\n {4}✗ c0: gate Kustomization/);
    assert.match(summary, /wave 2 \(rest\): healthy — c1, c2/);
    assert.ok(!summary.includes("Stopped after"), summary);
    for (const k of env.kubes) assert.equal(f.image(k), NEW_IMAGE);
    assert.deepEqual((await subjects(f)).slice(-3), [
      "Add Flux v2.5.1 manifests for cluster c0",
      "Add Flux v2.5.1 manifests for cluster c1",
      "Add Flux v2.5.1 manifests for cluster c2",
    ]);
  });
});
