/**
 * Pre-flight before an upgrade (issue 18): the Kubernetes version against the release's minimum,
 * and storage migrations as `flux migrate` does them — planned, applied before the push, and
 * planned no more once done. The sandbox API server refuses a CRD update that drops a version
 * still in status.storedVersions, as Kubernetes does.
 */
import assert from "node:assert/strict";
import YAML from "yaml";
import { INSTALL_MANIFEST } from "../helpers/harness.ts";
import { upgradedInstall, withRolloutFleet } from "../helpers/rollout_fleet.ts";
import type { KubeSandbox } from "../../sandbox/kube/server.ts";

const OCI = "ocirepositories.source.toolkit.fluxcd.io";

type Obj = Record<string, unknown>;

/** The install with OCIRepository's CRD serving `versions` (the last one stored). */
function withOciVersions(text: string, versions: string[]): string {
  return YAML.parseAllDocuments(text).map((d) => {
    const o = d.toJSON() as Obj | null;
    if (!o || o.kind !== "CustomResourceDefinition" || (o.metadata as Obj).name !== OCI) {
      return d.toString();
    }
    const spec = o.spec as { versions: Obj[] };
    const template = spec.versions[0];
    spec.versions = versions.map((name, i) => ({
      ...template,
      name,
      storage: i === versions.length - 1,
      served: true,
    }));
    return YAML.stringify(o);
  }).map((d) => `---\n${d}`).join("");
}

async function createOciRepository(kube: KubeSandbox, name: string): Promise<void> {
  const client = Deno.createHttpClient({ caCerts: [kube.caPem] });
  try {
    const r = await fetch(
      `${kube.url}/apis/source.toolkit.fluxcd.io/v1/namespaces/flux-system/ocirepositories`,
      {
        method: "POST",
        client,
        headers: { authorization: `Bearer ${kube.token}`, "content-type": "application/json" },
        body: JSON.stringify({
          apiVersion: "source.toolkit.fluxcd.io/v1",
          kind: "OCIRepository",
          metadata: { name, namespace: "flux-system" },
          spec: { url: "oci://ghcr.io/stefanprodan/manifests/podinfo", interval: "10m" },
        }),
      },
    );
    assert.equal(r.status, 201, await r.text());
  } finally {
    client.close();
  }
}

Deno.test("pre-flight: a stored version the release drops is migrated first (planned, applied, then planned no more)", async () => {
  await withRolloutFleet(1, () => ({}), async (f) => {
    const { env, kube } = { env: f.env, kube: f.env.kube };
    const fixture = await Deno.readTextFile(INSTALL_MANIFEST);
    const before = `${env.dir}/install-before.yaml`;
    const after = `${env.dir}/install-after.yaml`;
    await Deno.writeTextFile(before, withOciVersions(fixture, ["v1beta2", "v1"]));
    await Deno.writeTextFile(after, withOciVersions(upgradedInstall(fixture), ["v1"]));
    await f.writeManifest("v2.4.0", "", before);
    const boot = await f.apply("-q");
    assert.equal(boot.code, 0, boot.stderr + boot.stdout);
    // An older Flux stored OCIRepositories in v1beta2.
    kube.flux.setStoredVersions(OCI, ["v1beta2", "v1"]);
    await createOciRepository(kube, "podinfo");

    await f.writeManifest("v2.5.1", "", after);
    const plan = await env.cli(["plan", env.manifest, "-q", "-o", "json"]);
    assert.equal(plan.code, 0, plan.stderr);
    const steps = JSON.parse(plan.stdout).clusters[0].steps;
    assert.deepEqual(steps[0], {
      kind: "migrate",
      crd: OCI,
      storedVersions: ["v1beta2", "v1"],
      version: "v1",
    });
    const text = await env.cli(["plan", env.manifest, "-q"]);
    assert.ok(
      text.stdout.includes(
        `~ migrate CRD ${OCI} storage: storedVersions [v1beta2, v1] → [v1] (every object written again in v1, as flux migrate; before the push)`,
      ),
      text.stdout,
    );

    kube.resetRequests();
    const applied = await f.apply("-q");
    assert.equal(applied.code, 0, applied.stderr + applied.stdout);
    const writes = kube.flux.storedVersionsWrites().map(({ crd, previous, storedVersions }) => ({
      crd,
      previous,
      storedVersions,
    }));
    assert.deepEqual(writes, [{ crd: OCI, previous: ["v1beta2", "v1"], storedVersions: ["v1"] }]);
    const patched = kube.mutatingRequests().map((r) => `${r.method} ${r.path}`);
    const object = patched.indexOf(
      "PATCH /apis/source.toolkit.fluxcd.io/v1/namespaces/flux-system/ocirepositories/podinfo",
    );
    const status = patched.indexOf(
      `PATCH /apis/apiextensions.k8s.io/v1/customresourcedefinitions/${OCI}/status`,
    );
    assert.ok(object >= 0 && status > object, `objects first, then the status: ${patched}`);
    const crd = kube.getObject(
      "apiextensions.k8s.io/v1",
      "CustomResourceDefinition",
      undefined,
      OCI,
    );
    assert.deepEqual(
      (crd?.spec as { versions: { name: string }[] }).versions.map((v) => v.name),
      ["v1"],
      "Flux applied the release's CRD once the migration was done",
    );

    const again = await env.cli(["plan", env.manifest, "-q", "--detailed-exitcode"]);
    assert.equal(again.code, 0, again.stdout + again.stderr);
    assert.ok(!again.stdout.includes("migrate"), again.stdout);
  });
});

Deno.test("pre-flight: a cluster older than the release's minimum Kubernetes is not changed", async () => {
  await withRolloutFleet(1, () => ({}), async (f) => {
    const { env } = f;
    await f.writeManifest("v2.4.0", "");
    const boot = await f.apply("-q");
    assert.equal(boot.code, 0, boot.stderr + boot.stdout);
    await f.writeManifest("v2.8.0", "");
    const plan = await env.cli(["plan", env.manifest, "-q"]);
    assert.equal(plan.code, 1, plan.stdout + plan.stderr);
    assert.ok(
      plan.stdout.includes(
        "pre-flight: Kubernetes v1.32.0-fluxfleet-sandbox is older than Flux v2.8.0 supports (1.33 or newer, as flux check --pre); upgrade the cluster first",
      ),
      plan.stdout,
    );
    const writes = env.kube.mutatingRequests().length;
    const applied = await f.apply("-q");
    assert.equal(applied.code, 1);
    assert.equal(env.kube.mutatingRequests().length, writes, "nothing written");
    assert.match(await f.repoFile("clusters/c0/flux-system/gotk-components.yaml"), /v2\.4\.0/);
  }, { kubernetesVersion: "v1.32.0" });
});
