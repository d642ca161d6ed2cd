/**
 * Rollouts in waves (issue 18), end to end with the CLI: kube sandboxes whose Flux stand-in
 * really applies what the commit holds, so an upgrade pushed to git changes the controllers'
 * images in the cluster as real Flux does, and a gate fails the way kustomize-controller fails.
 */
import assert from "node:assert/strict";
import { withRolloutFleet } from "../helpers/rollout_fleet.ts";

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
