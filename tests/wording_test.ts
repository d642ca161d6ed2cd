/** What users read: progress in words, plurals, why the components are installed (issue 15 item 9). */
import assert from "node:assert/strict";
import { destroyStepProgress, stepProgress } from "../lib/apply/step_progress.ts";
import type { Step } from "../lib/plan/types.ts";
import type { DestroyPlan, DestroyStep } from "../lib/plan/destroy.ts";
import { planCluster } from "../lib/plan/plan.ts";
import { describeStep, renderApplyText, renderDestroyPlanText } from "../lib/report/text.ts";
import { renderDestroyText } from "../lib/report/text.ts";
import { converged, desired, EMPTY_CLUSTER, EMPTY_REPO } from "./helpers/fixtures.ts";

const STEPS: Step[] = [
  { kind: "file", action: "create", path: "clusters/a/flux-system/gotk-sync.yaml" },
  { kind: "namespace", action: "create", name: "flux-system" },
  { kind: "components", action: "install", objects: 1, reason: "Flux is not installed" },
  { kind: "secret", action: "update", namespace: "flux-system", name: "flux-system", keys: [] },
  { kind: "pullSecret", action: "create", namespace: "flux-system", name: "regcred", reason: "x" },
  // Provider steps carry neutral permission words; progress says them as the provider does.
  {
    kind: "repository",
    provider: "bitbucket-server",
    action: "create",
    name: "PROJ/fleet",
    private: true,
  },
  {
    kind: "repository",
    provider: "bitbucket-server",
    action: "update",
    name: "PROJ/fleet",
    private: false,
  },
  {
    kind: "group",
    provider: "bitbucket-server",
    action: "grant",
    group: "devs",
    permission: "write",
  },
  {
    kind: "accessKey",
    provider: "bitbucket-server",
    action: "create",
    label: "fluxfleet-a",
    permission: "read",
    remove: [],
  },
  {
    kind: "sync",
    action: "create",
    object: "Kustomization",
    namespace: "flux-system",
    name: "flux-system",
    fields: [],
  },
];

Deno.test("progress names every step in words, never by its internal kind", () => {
  assert.deepEqual(STEPS.map(stepProgress), [
    "committing clusters/a/flux-system/gotk-sync.yaml",
    "creating namespace flux-system",
    "installing Flux components (1 object)",
    "updating secret flux-system/flux-system",
    "creating image pull secret flux-system/regcred",
    "creating repository PROJ/fleet",
    "making repository PROJ/fleet public",
    "granting group devs REPO_WRITE on the repository",
    "registering SSH access key fluxfleet-a",
    "applying Kustomization flux-system/flux-system",
  ]);
});

const DESTROY_STEPS: DestroyStep[] = [
  { kind: "finalizers", action: "remove", crds: 1 },
  { kind: "sync", action: "delete", object: "GitRepository", namespace: "ns", name: "n" },
  { kind: "components", action: "delete", objects: 30 },
  { kind: "crds", action: "delete", names: ["a"] },
  { kind: "namespace", action: "delete", name: "ns" },
  { kind: "secret", action: "delete", namespace: "ns", name: "n" },
  { kind: "pullSecret", action: "delete", namespace: "ns", name: "r" },
  { kind: "file", action: "delete", path: "p/gotk-sync.yaml" },
];

Deno.test("destroy progress names every step in words (not `delete sync`, `remove finalizers`)", () => {
  assert.deepEqual(DESTROY_STEPS.map(destroyStepProgress), [
    "removing finalizers from Flux custom resources",
    "deleting GitRepository ns/n",
    "deleting Flux components (30 objects)",
    "deleting 1 Flux CRD",
    "deleting namespace ns",
    "deleting secret ns/n",
    "deleting image pull secret ns/r",
    "deleting p/gotk-sync.yaml in git",
  ]);
});

Deno.test("one of a thing is singular in every report: 1 cluster, 1 step, 1 object", () => {
  const one: DestroyPlan[] = [{ cluster: "a", steps: [DESTROY_STEPS[4]] }];
  assert.match(renderDestroyPlanText(one), /^Destroy: 1 step in 1 cluster\.$/m);
  assert.match(
    renderDestroyText([{ cluster: "a", outcome: "destroyed", done: [DESTROY_STEPS[4]] }]),
    /^a: destroyed \(1 step\)$/m,
  );
  assert.match(
    renderDestroyText([{ cluster: "a", outcome: "failed", done: [DESTROY_STEPS[0]], error: "e" }]),
    /^a: failed: e \(after 1 step; re-run to finish\)$/m,
  );
  assert.match(
    renderApplyText([{ cluster: "a", outcome: "failed", applied: [STEPS[1]], error: "e" }]),
    /^a: failed: e \(after 1 step done; re-run to converge\)$/m,
  );
  assert.match(
    renderApplyText([{ cluster: "a", outcome: "changed", applied: [STEPS[1]] }]),
    /^a: changed \(1 step\)$/m,
  );
  assert.equal(
    describeStep(STEPS[2]),
    "+ install Flux components (1 object, server-side apply): Flux is not installed",
  );
  assert.deepEqual(
    [DESTROY_STEPS[0], DESTROY_STEPS[3]].map((s) =>
      renderDestroyPlanText([{ cluster: "a", steps: [s] }]).split("\n")[1]
    ),
    [
      "  - remove finalizers from Flux custom resources (1 kind), so nothing is pruned",
      "  - delete 1 Flux CRD",
    ],
  );
});

Deno.test("components: 'not installed' only when they are not; installed but not in sync says so", () => {
  const d = desired();
  const reason = (cluster: Parameters<typeof planCluster>[2]) =>
    planCluster(d, EMPTY_REPO, cluster).steps.flatMap((s) =>
      s.kind === "components" ? [s.reason] : []
    );
  assert.deepEqual(reason(EMPTY_CLUSTER), ["Flux is not installed"]);
  assert.deepEqual(reason({ namespace: true, crdPresent: true }), [
    "Flux components are present, but Kustomization flux-system/flux-system does not exist yet",
  ]);
  const { cluster } = converged(d);
  const neverApplied = {
    ...cluster,
    crdPresent: true,
    kustomization: { ...cluster.kustomization!, revision: undefined },
  };
  assert.deepEqual(reason(neverApplied), [
    "Flux is installed but not in sync yet: Kustomization flux-system/flux-system has never " +
    "applied a revision",
  ]);
});
