/** Gates and pre-flight, pure: what counts as passed, pending or failed; versions; migrations. */
import assert from "node:assert/strict";
import { deploymentGate, fluxObjectGate } from "../lib/rollout/gates.ts";
import { kubernetesVersionProblem, planMigrations } from "../lib/plan/preflight.ts";
import type { KubeObject } from "../lib/manifests/types.ts";

const REV = "main@sha1:bbbb";

function ks(ready: string, applied: string, attempted = applied, extra: object = {}) {
  return {
    metadata: { generation: 2 },
    spec: {},
    status: {
      observedGeneration: 2,
      lastAppliedRevision: applied,
      lastAttemptedRevision: attempted,
      conditions: [{ type: "Ready", status: ready, reason: "R", message: "said" }],
    },
    ...extra,
  };
}

Deno.test("gate: Ready at the revision passes; an older revision's failure is pending; this revision's failure fails", () => {
  assert.equal(fluxObjectGate("K", ks("True", REV), REV).state, "pass");
  assert.equal(fluxObjectGate("K", ks("True", "main@sha1:aaaa"), REV).state, "pending");
  assert.equal(fluxObjectGate("K", ks("False", "main@sha1:aaaa"), REV).state, "pending");
  assert.deepEqual(fluxObjectGate("K", ks("False", "main@sha1:aaaa", REV), REV), {
    state: "fail",
    gate: "K",
    message: "Ready=False (R): said",
  });
  assert.equal(fluxObjectGate("K", undefined, REV).state, "pending");
  const suspended = ks("True", REV, REV, { spec: { suspend: true } });
  assert.equal(fluxObjectGate("K", suspended, REV).state, "fail");
});

function deployment(image: string, available: string, progressing = "True") {
  return {
    metadata: { name: "source-controller", namespace: "flux-system", generation: 1 },
    spec: { template: { spec: { containers: [{ image }] } } },
    status: {
      observedGeneration: 1,
      replicas: 1,
      updatedReplicas: 1,
      conditions: [
        { type: "Available", status: available, reason: "MinimumReplicasUnavailable" },
        { type: "Progressing", status: progressing },
      ],
    },
  };
}

Deno.test("gate: a controller passes only with the release's image, rolled out and Available", () => {
  const want = deployment(
    "ghcr.io/fluxcd/source-controller:v1.5.0",
    "True",
  ) as unknown as KubeObject;
  assert.equal(
    deploymentGate(want, deployment("ghcr.io/fluxcd/source-controller:v1.5.0", "True")).state,
    "pass",
  );
  const old = deploymentGate(want, deployment("ghcr.io/fluxcd/source-controller:v1.4.1", "True"));
  assert.deepEqual(old, {
    state: "pending",
    gate: "Deployment flux-system/source-controller",
    message:
      "runs ghcr.io/fluxcd/source-controller:v1.4.1, not ghcr.io/fluxcd/source-controller:v1.5.0",
  });
  // The repository's own kustomization.yaml may patch the images (a mirror): not compared then.
  const mirrored = deployment("mirror.example/fluxcd/source-controller:v1.5.0", "True");
  assert.equal(deploymentGate(want, mirrored, true).state, "pass");
  assert.equal(deploymentGate(want, mirrored).state, "pending");
  const down = deploymentGate(
    want,
    deployment("ghcr.io/fluxcd/source-controller:v1.5.0", "False", "False"),
  );
  assert.equal(down.state, "fail");
});

Deno.test("pre-flight: Kubernetes minimum per Flux release (flux check --pre), migrations only where a stored version is dropped", () => {
  assert.equal(kubernetesVersionProblem("v2.5.1", "v1.30.2"), undefined);
  assert.match(
    kubernetesVersionProblem("v2.5.1", "v1.29.9")!,
    /older than Flux v2\.5\.1 supports \(1\.30 or newer/,
  );
  assert.match(
    kubernetesVersionProblem("v2.12.0", "v1.32.0")!,
    /1\.33 or newer/,
    "newer releases: the newest minimum known",
  );
  assert.equal(kubernetesVersionProblem("main", "v1.20.0"), undefined, "not a version: not judged");

  const crd = (versions: string[]) =>
    ({
      apiVersion: "apiextensions.k8s.io/v1",
      kind: "CustomResourceDefinition",
      metadata: { name: "ocirepositories.source.toolkit.fluxcd.io" },
      spec: { versions: versions.map((name) => ({ name })) },
    }) as unknown as KubeObject;
  const live = (
    stored: string[],
    storage = "v1",
  ) => [{ name: "ocirepositories.source.toolkit.fluxcd.io", storedVersions: stored, storage }];
  assert.deepEqual(planMigrations([crd(["v1"])], live(["v1beta2", "v1"])), [{
    kind: "migrate",
    crd: "ocirepositories.source.toolkit.fluxcd.io",
    storedVersions: ["v1beta2", "v1"],
    version: "v1",
  }]);
  assert.deepEqual(planMigrations([crd(["v1"])], live(["v1"])), [], "migrated: nothing planned");
  assert.deepEqual(
    planMigrations([crd(["v1beta2", "v1"])], live(["v1beta2", "v1"])),
    [],
    "still served",
  );
  assert.throws(
    () => planMigrations([crd(["v1"])], live(["v1beta2"], "v1beta2")),
    /stores v1beta2 and the release serves only v1: upgrade through an intermediate Flux release first/,
  );
});
