/**
 * The default branch in the forge planner: clusters syncing several branches of one repository
 * want none of them as its default, so reconcile leaves it (each branch's run would otherwise set
 * it back and forth) and says why; one branch: a step with reconcile, a warning without.
 */
import assert from "node:assert/strict";
import { type DesiredRepository, planRepository } from "../../lib/providers/forge/plan.ts";

const desired = (over: Partial<DesiredRepository>): DesiredRepository => ({
  provider: "github",
  name: "acme/fleet",
  private: true,
  reconcile: true,
  reconcileSetting: "reconcile",
  groups: [],
  groupWord: "team",
  defaultBranch: "main",
  ...over,
});
const observed = { exists: true, private: true, groups: [], defaultBranch: "legacy" };

Deno.test("forge plan: clusters on several branches of a repository leave its default branch, in words", () => {
  const plan = planRepository(desired({ branches: ["main", "staging"] }), observed);
  assert.deepEqual(plan.steps, []);
  assert.deepEqual(plan.warnings, [
    "the clusters of repository acme/fleet sync branches main, staging: its default branch legacy is left as it is",
  ]);
  const quiet = planRepository(
    desired({ branches: ["main", "staging"], reconcile: false }),
    observed,
  );
  assert.deepEqual(quiet, { steps: [], warnings: [] });
});

Deno.test("forge plan: one branch: the default branch set with reconcile, not for a new repository", () => {
  assert.deepEqual(planRepository(desired({ branches: ["main"] }), observed).steps, [
    {
      kind: "repository",
      provider: "github",
      action: "defaultBranch",
      name: "acme/fleet",
      branch: "main",
      from: "legacy",
    },
  ]);
  const created = planRepository(desired({}), { exists: false, groups: [] });
  assert.deepEqual(created.steps.map((s) => s.action), ["create"]);
});
