/** The planner is pure: these tests need no servers. */
import assert from "node:assert/strict";
import { planCluster } from "../lib/plan/plan.ts";
import { converged, desired, EMPTY_CLUSTER, EMPTY_REPO } from "./helpers/fixtures.ts";
import { describeStep } from "../lib/report/text.ts";
import { planDocument } from "../lib/report/json.ts";
import { outputSchemaErrors } from "./helpers/output_schema.ts";
import { credentialsDigest } from "../lib/plan/credentials_digest.ts";

Deno.test("fresh cluster and empty repository: every step planned in flux's order", () => {
  const d = desired();
  const plan = planCluster(d, EMPTY_REPO, EMPTY_CLUSTER);
  assert.equal(plan.error, undefined);
  assert.deepEqual(plan.steps.map(describeStep), [
    "+ commit clusters/dev/flux-system/gotk-components.yaml",
    "+ commit clusters/dev/flux-system/gotk-sync.yaml",
    "+ commit clusters/dev/flux-system/kustomization.yaml",
    "+ create namespace flux-system",
    `+ install Flux components (${d.components.length} objects, server-side apply): Flux is not installed`,
    "+ create secret flux-system/flux-system (password, username)",
    "+ create GitRepository flux-system/flux-system",
    "+ create Kustomization flux-system/flux-system",
  ]);
});

Deno.test("converged cluster: no steps, readiness reported", () => {
  const d = desired();
  const { repo, cluster } = converged(d);
  const plan = planCluster(d, repo, cluster);
  assert.deepEqual(plan.steps, []);
  assert.deepEqual(plan.status.map((s) => s.ready), [true, true]);
  assert.deepEqual(plan.warnings, []);
});

Deno.test("changed token: only the secret is updated, and the plan names keys, not values", () => {
  const d = desired("new-token-value");
  const { repo, cluster } = converged(desired("old-token-value"));
  const plan = planCluster(d, repo, cluster);
  assert.deepEqual(plan.steps.map(describeStep), [
    "~ update secret flux-system/flux-system (password changed)",
  ]);
  const json = JSON.stringify(planDocument("f.yaml", [plan]));
  assert.ok(!json.includes("new-token-value") && !json.includes("old-token-value"));
});

Deno.test("hand-edited gotk-sync.yaml is restored, a user's kustomization.yaml is kept", () => {
  const d = desired();
  const { repo, cluster } = converged(d);
  repo.files["clusters/dev/flux-system/gotk-sync.yaml"] += "# edited\n";
  repo.files["clusters/dev/flux-system/kustomization.yaml"] = "resources: [gotk-components.yaml]\n";
  const plan = planCluster(d, repo, cluster);
  assert.deepEqual(plan.steps.map(describeStep), [
    "~ commit clusters/dev/flux-system/gotk-sync.yaml (content differs from the manifest)",
  ]);
});

Deno.test("GitRepository pointing elsewhere is updated with the differing fields named", () => {
  const d = desired();
  const { repo, cluster } = converged(d);
  (cluster.gitRepository!.spec as { url: string }).url = "https://old.example.com/x.git";
  (cluster.gitRepository!.spec as { ref: { branch: string } }).ref.branch = "dev";
  const plan = planCluster(d, repo, cluster);
  assert.deepEqual(plan.steps.map(describeStep), [
    "~ update GitRepository flux-system/flux-system (spec.ref.branch, spec.url changed)",
  ]);
});

Deno.test("components are installed again while the Kustomization never applied (as flux)", () => {
  const d = desired();
  const { repo, cluster } = converged(d);
  cluster.kustomization!.revision = undefined;
  const plan = planCluster(d, repo, cluster);
  assert.equal(plan.steps.length, 1);
  assert.equal(plan.steps[0].kind, "components");
});

Deno.test("a Kustomization syncing another path is an error naming both paths", () => {
  const d = desired();
  const { repo, cluster } = converged(d);
  (cluster.kustomization!.spec as { path: string }).path = "./clusters/other";
  const plan = planCluster(d, repo, cluster);
  assert.match(
    plan.error ?? "",
    /already syncs path "\.\/clusters\/other", not "\.\/clusters\/dev"/,
  );
  assert.deepEqual(plan.steps, []);
});

Deno.test("a converged but failing Kustomization is a warning, not a change", () => {
  const d = desired();
  const { repo, cluster } = converged(d);
  cluster.kustomization!.ready = {
    type: "Ready",
    status: "False",
    message: "kustomize build failed",
  };
  const plan = planCluster(d, repo, cluster);
  assert.deepEqual(plan.steps, []);
  assert.deepEqual(plan.warnings, [
    "Kustomization flux-system/flux-system is not ready: kustomize build failed",
  ]);
});

Deno.test("plan JSON matches schemas/plan-output.schema.json, and the schema rejects drift", () => {
  const d = desired();
  const doc = planDocument("f.yaml", [planCluster(d, EMPTY_REPO, EMPTY_CLUSTER)]);
  assert.deepEqual(outputSchemaErrors(doc), []);
  const broken = structuredClone(doc) as unknown as { clusters: { steps: unknown[] }[] };
  broken.clusters[0].steps.push({ kind: "secret", action: "create", value: "x" });
  assert.notDeepEqual(outputSchemaErrors(broken), []);
});

Deno.test("drift in gotk-sync.yaml is shown as a unified diff in the plan", () => {
  const d = desired();
  const { repo, cluster } = converged(d);
  const path = "clusters/dev/flux-system/gotk-sync.yaml";
  repo.files[path] = repo.files[path]!.replace("interval: 1m0s", "interval: 5m0s");
  const plan = planCluster(d, repo, cluster);
  const step = plan.steps[0];
  assert.equal(step.kind, "file");
  assert.match(
    step.kind === "file" ? step.diff ?? "" : "",
    /@@ -\d+,\d+ \+\d+,\d+ @@\n(.*\n)*- {2}interval: 5m0s\n\+ {2}interval: 1m0s\n/,
  );
  assert.deepEqual(outputSchemaErrors(planDocument("f", [plan])), []);
});

Deno.test("Flux CRDs managed by another tool: refused unless forced; a flux-managed CRD is fine", () => {
  const d = desired();
  const helm = planCluster(d, EMPTY_REPO, { namespace: false, crdManagedBy: "Helm" });
  assert.match(helm.error ?? "", /managed by "Helm" .* re-run with --force/);
  assert.deepEqual(helm.steps, []);
  const forced = planCluster({ ...d, force: true }, EMPTY_REPO, {
    namespace: false,
    crdManagedBy: "Helm",
  });
  assert.equal(forced.error, undefined);
  assert.ok(forced.steps.some((s) => s.kind === "components"));
  assert.equal(
    planCluster(d, EMPTY_REPO, { namespace: false, crdManagedBy: "flux" }).error,
    undefined,
  );
});

Deno.test("a secret changed in the cluster while the manifest did not change: reported, not overwritten unless rotated", () => {
  const d = desired("token-from-the-manifest");
  const { repo, cluster } = converged(d);
  cluster.secret = { ...cluster.secret!, password: "changed-by-hand" };
  cluster.secretDigest = credentialsDigest(d.secret.data);
  const plan = planCluster(d, repo, cluster);
  assert.deepEqual(plan.steps, []);
  assert.match(
    plan.warnings.join("\n"),
    /secret flux-system\/flux-system was changed in the cluster \(password\)/,
  );
  const rotated = planCluster({ ...d, rotate: true }, repo, cluster);
  assert.deepEqual(rotated.steps.map(describeStep), [
    "~ update secret flux-system/flux-system (password changed)",
  ]);
  // The manifest's token changed since fluxfleet wrote the secret: applied.
  cluster.secretDigest = credentialsDigest({ ...d.secret.data, password: "older-token" });
  assert.equal(planCluster(d, repo, cluster).steps.length, 1);
});
