/** The planner is pure: these tests need no servers. */
import assert from "node:assert/strict";
import { planCluster, type ProviderSteps } from "../lib/plan/plan.ts";
import {
  clusterConfig,
  converged,
  desired,
  desiredFor,
  EMPTY_CLUSTER,
  EMPTY_REPO,
  INSTALL_YAML,
} from "./helpers/fixtures.ts";
import {
  componentsFor,
  desiredCluster,
  installOptions,
  tokenSecretData,
} from "../lib/plan/desired.ts";
import type { ClusterPlan, DesiredCluster } from "../lib/plan/types.ts";
import { describeDestroyStep, planDestroy } from "../lib/plan/destroy.ts";
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

Deno.test("a provider's steps are planned with the cluster's: repository first, access key before the sync objects", () => {
  const d = desired();
  const provider: ProviderSteps = {
    repository: [
      {
        kind: "repository",
        provider: "bitbucket-server",
        action: "create",
        name: "P/f",
        private: true,
      },
    ],
    access: [{
      kind: "accessKey",
      provider: "bitbucket-server",
      action: "create",
      label: "fluxfleet-dev",
      permission: "read",
      remove: [],
    }],
    warnings: ["repository P/f is public"],
  };
  const plan = planCluster(d, EMPTY_REPO, EMPTY_CLUSTER, provider);
  assert.deepEqual(plan.steps.map((s) => s.kind), [
    "repository",
    "file",
    "file",
    "file",
    "namespace",
    "components",
    "secret",
    "accessKey",
    "sync",
    "sync",
  ]);
  assert.deepEqual(plan.warnings, ["repository P/f is public"]);
  // A converged cluster whose Kustomization is not ready says so, provider steps or not.
  const c = converged(d);
  const ks = {
    ...c.cluster.kustomization!,
    ready: { type: "Ready", status: "False", message: "boom" },
  };
  const stuck = planCluster(d, c.repo, { ...c.cluster, kustomization: ks }, {
    repository: [],
    access: provider.access,
    warnings: [],
  });
  assert.deepEqual(stuck.steps.map((s) => s.kind), ["accessKey"]);
  assert.deepEqual(stuck.warnings, ["Kustomization flux-system/flux-system is not ready: boom"]);
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

// --- image pull secret (flux.imagePullSecret + flux.registryCredentials), sync options ---

const REGISTRY_PASSWORD = "canary-registry-password-5f1e";

function withPullSecret(password = REGISTRY_PASSWORD): DesiredCluster {
  const c = clusterConfig(
    `    flux: { imagePullSecret: regcred, registryCredentials: { username: fluxbot, password: { env: REG_PASSWORD } } }\n`,
  );
  return desiredCluster(
    c,
    componentsFor(INSTALL_YAML, installOptions(c)),
    tokenSecretData("git", "s3cr3t-token"),
    { username: "fluxbot", password },
  );
}

/** Converged, with the pull secret as fluxfleet wrote it for `written` (default: `d` itself). */
function convergedWithPullSecret(d: DesiredCluster, written: DesiredCluster = d) {
  const state = converged(d);
  state.cluster.pullSecret = {
    type: "kubernetes.io/dockerconfigjson",
    data: { ...written.pullSecret!.data },
    digest: credentialsDigest(written.pullSecret!.data),
  };
  return state;
}

function assertNoRegistryPassword(plan: ClusterPlan, ...passwords: string[]) {
  const json = JSON.stringify(planDocument("f.yaml", [plan]));
  const text = plan.steps.map(describeStep).join("\n") + plan.warnings.join("\n");
  for (const p of passwords) {
    for (const needle of [p, btoa(`fluxbot:${p}`)]) {
      assert.ok(!json.includes(needle) && !text.includes(needle), "registry password in the plan");
    }
  }
}

Deno.test("pull secret: created after the components, before the source secret (flux's order)", () => {
  const d = withPullSecret();
  const plan = planCluster(d, EMPTY_REPO, EMPTY_CLUSTER);
  const lines = plan.steps.map(describeStep);
  assert.deepEqual(lines.slice(3, 7), [
    "+ create namespace flux-system",
    `+ install Flux components (${d.components.length} objects, server-side apply): Flux is not installed`,
    "+ create image pull secret flux-system/regcred (kubernetes.io/dockerconfigjson for ghcr.io/fluxcd)",
    "+ create secret flux-system/flux-system (password, username)",
  ]);
  assert.deepEqual(outputSchemaErrors(planDocument("f.yaml", [plan])), []);
  assertNoRegistryPassword(plan, REGISTRY_PASSWORD);
  // An existing cluster that only lacks the pull secret gets just that.
  const { repo, cluster } = converged(d);
  assert.deepEqual(planCluster(d, repo, cluster).steps.map(describeStep), [
    "+ create image pull secret flux-system/regcred (kubernetes.io/dockerconfigjson for ghcr.io/fluxcd)",
  ]);
});

Deno.test("pull secret: as written → no changes; a new password in the manifest → one update naming the password only", () => {
  const d = withPullSecret();
  const same = convergedWithPullSecret(d);
  const noop = planCluster(d, same.repo, same.cluster);
  assert.deepEqual(noop.steps, []);
  assert.deepEqual(noop.warnings, []);

  const rotated = withPullSecret("canary-registry-password-NEW-77");
  const { repo, cluster } = convergedWithPullSecret(rotated, d);
  const plan = planCluster(rotated, repo, cluster);
  assert.deepEqual(plan.steps, [{
    kind: "pullSecret",
    action: "update",
    namespace: "flux-system",
    name: "regcred",
    reason: "password changed",
  }]);
  assert.deepEqual(plan.steps.map(describeStep), [
    "~ update image pull secret flux-system/regcred (password changed)",
  ]);
  assert.deepEqual(plan.warnings, []);
  assert.deepEqual(outputSchemaErrors(planDocument("f.yaml", [plan])), []);
  assertNoRegistryPassword(plan, REGISTRY_PASSWORD, "canary-registry-password-NEW-77");
});

Deno.test("pull secret changed in the cluster while the manifest did not change: reported, left alone unless rotated", () => {
  const d = withPullSecret();
  const { repo, cluster } = convergedWithPullSecret(d);
  const edited = withPullSecret("typed-in-by-hand-0000");
  cluster.pullSecret!.data = { ...edited.pullSecret!.data };
  const plan = planCluster(d, repo, cluster);
  assert.deepEqual(plan.steps, []);
  assert.deepEqual(plan.warnings, [
    "image pull secret flux-system/regcred was changed in the cluster; the manifest's registry credentials did not change, so it is left as it is (set rotate: true to overwrite it)",
  ]);
  assertNoRegistryPassword(plan, REGISTRY_PASSWORD, "typed-in-by-hand-0000");
  const forced = planCluster({ ...d, rotate: true }, repo, cluster);
  assert.deepEqual(forced.steps.map(describeStep), [
    "~ update image pull secret flux-system/regcred (password changed)",
  ]);
  assert.deepEqual(forced.warnings, []);
});

Deno.test("pull secret written by someone else (no digest) or of another type is brought in line", () => {
  const d = withPullSecret();
  const { repo, cluster } = convergedWithPullSecret(d);
  // As `flux bootstrap --registry-creds` leaves it: no annotation, another user.
  const other = desiredCluster(
    clusterConfig(
      `    flux: { imagePullSecret: regcred, registryCredentials: { username: someone, password: { env: R } } }\n`,
    ),
    { objects: d.components, content: "" },
    {},
    { username: "someone", password: "other-password" },
  );
  cluster.pullSecret = { type: "kubernetes.io/dockerconfigjson", data: other.pullSecret!.data };
  assert.deepEqual(planCluster(d, repo, cluster).steps.map(describeStep), [
    "~ update image pull secret flux-system/regcred (username, password changed)",
  ]);
  cluster.pullSecret = { type: "kubernetes.io/dockerconfigjson", data: { token: "x" } };
  assert.deepEqual(planCluster(d, repo, cluster).steps.map(describeStep), [
    "~ update image pull secret flux-system/regcred (.dockerconfigjson is missing or not a docker config)",
  ]);
  // A Secret's type is immutable: replaced (the digest does not matter then).
  cluster.pullSecret = { ...convergedWithPullSecret(d).cluster.pullSecret!, type: "Opaque" };
  const retyped = planCluster(d, repo, cluster);
  assert.deepEqual(retyped.steps, [{
    kind: "pullSecret",
    action: "update",
    namespace: "flux-system",
    name: "regcred",
    reason: "type is Opaque, not kubernetes.io/dockerconfigjson: replaced",
    recreate: true,
  }]);
  assert.deepEqual(outputSchemaErrors(planDocument("f.yaml", [retyped])), []);
  // The planner never looks at a pull secret the manifest does not ask for.
  const plain = desired();
  const state = converged(plain);
  state.cluster.pullSecret = { type: "Opaque", data: {} };
  assert.deepEqual(planCluster(plain, state.repo, state.cluster).steps, []);
});

Deno.test("GitRepository: recurseSubmodules and provider turned on or off show as spec changes", () => {
  const on = desiredFor(
    clusterConfig(`    flux: { recurseSubmodules: true, sourceProvider: azure }\n`),
  );
  const off = desired();
  const { repo, cluster } = converged(off);
  const plan = planCluster(on, { ...repo, files: converged(on).repo.files }, cluster);
  assert.deepEqual(plan.steps.map(describeStep), [
    "~ update GitRepository flux-system/flux-system (spec.provider, spec.recurseSubmodules changed)",
  ]);
  // Off again: the fields are absent from the desired spec, still a change.
  const was = converged(on);
  assert.deepEqual(planCluster(off, repo, was.cluster).steps.map(describeStep), [
    "~ update GitRepository flux-system/flux-system (spec.provider, spec.recurseSubmodules changed)",
  ]);
  // The API's default for an unset provider is no change.
  (cluster.gitRepository!.spec as Record<string, unknown>).provider = "generic";
  (cluster.gitRepository!.spec as Record<string, unknown>).recurseSubmodules = false;
  assert.deepEqual(planCluster(off, repo, cluster).steps, []);
});

Deno.test("GitRepository: sparseCheckout turned on, changed or off shows as a spec change", () => {
  const on = desiredFor(clusterConfig(`    flux: { sparseCheckout: [clusters, apps] }\n`));
  const off = desired();
  const { repo, cluster } = converged(off);
  const update = ["~ update GitRepository flux-system/flux-system (spec.sparseCheckout changed)"];
  assert.deepEqual(
    planCluster(on, { ...repo, files: converged(on).repo.files }, cluster).steps.map(describeStep),
    update,
  );
  // Another list (the order counts, as in the spec).
  const reordered = desiredFor(clusterConfig(`    flux: { sparseCheckout: [apps, clusters] }\n`));
  const was = converged(on);
  assert.deepEqual(
    planCluster(reordered, { ...repo, files: converged(reordered).repo.files }, was.cluster).steps
      .map(describeStep),
    update,
  );
  // Off again: absent from the desired spec, still a change; an empty list is no change.
  assert.deepEqual(planCluster(off, repo, was.cluster).steps.map(describeStep), update);
  (cluster.gitRepository!.spec as Record<string, unknown>).sparseCheckout = [];
  assert.deepEqual(planCluster(off, repo, cluster).steps, []);
});

Deno.test("destroy --keep-namespace deletes the pull secret only when fluxfleet wrote it", () => {
  const d = withPullSecret();
  const { repo, cluster } = convergedWithPullSecret(d);
  const keep = { keepNamespace: true, deleteGitManifests: false };
  const steps = planDestroy(d, repo, cluster, keep).steps;
  assert.deepEqual(steps.slice(-2).map(describeDestroyStep), [
    "- delete secret flux-system/flux-system (namespace kept)",
    "- delete image pull secret flux-system/regcred (namespace kept)",
  ]);
  // A secret of that name without fluxfleet's digest (made by hand or by the flux CLI) stays.
  delete cluster.pullSecret!.digest;
  assert.ok(!planDestroy(d, repo, cluster, keep).steps.some((s) => s.kind === "pullSecret"));
  // Without --keep-namespace the namespace goes, and the secrets with it.
  const all = planDestroy(d, repo, convergedWithPullSecret(d).cluster, {
    keepNamespace: false,
    deleteGitManifests: false,
  }).steps;
  assert.deepEqual(all.slice(-1).map(describeDestroyStep), [
    "- delete namespace flux-system (with the source secret)",
  ]);
  assert.ok(!all.some((s) => s.kind === "pullSecret" || s.kind === "secret"));
});
