/**
 * One JSON output family (issue 15 item 7): plan, apply and destroy documents share the envelope
 * (`formatVersion` 2, `kind`, `manifest`) and one summary shape, and all validate against
 * schemas/plan-output.schema.json.
 */
import assert from "node:assert/strict";
import {
  contextNames,
  type FleetEnv,
  manifestYaml,
  tokenGit,
  withFleetEnv,
} from "../helpers/harness.ts";
import { outputSchemaErrors } from "../helpers/output_schema.ts";

const TOKEN = "canary-json-token-0b7d";
const SUMMARY_KEYS = ["changed", "clusters", "failed", "skipped", "steps", "unchanged"];

function withEnv(fn: (env: FleetEnv) => Promise<void>): Promise<void> {
  return withFleetEnv({
    prefix: "fluxfleet-json-",
    git: { users: { git: TOKEN } },
    repos: ["fleet"],
    contexts: contextNames(2),
    cliEnv: { GIT_PASSWORD: TOKEN },
    manifest: ({ git, kubes }) =>
      manifestYaml({
        git: tokenGit(git.repoUrl("fleet")),
        clusters: kubes.map((_, i) => ({ name: `c${i}` })),
      }),
  }, fn);
}

async function json(env: FleetEnv, args: string[]): Promise<Record<string, unknown>> {
  const r = await env.cli([...args, "--output", "json", env.manifest]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.ok(!r.stdout.includes(TOKEN), "token leaked");
  const doc = JSON.parse(r.stdout);
  assert.deepEqual(outputSchemaErrors(doc), [], `${args[0]}: ${r.stdout.slice(0, 400)}`);
  return doc;
}

const keys = (o: unknown) => Object.keys(o as object).sort();

Deno.test("plan, apply and destroy -o json: one versioned family, one summary shape, all valid", async () => {
  await withEnv(async (env) => {
    const plan = await json(env, ["plan"]);
    assert.equal(plan.formatVersion, 2);
    assert.equal(plan.kind, "fluxfleet.plan");
    assert.deepEqual(keys(plan.summary), SUMMARY_KEYS);
    assert.deepEqual(plan.summary, {
      clusters: 2,
      changed: 2,
      unchanged: 0,
      failed: 0,
      skipped: 0,
      steps: 16,
    });

    const apply = await json(env, ["apply", "--auto-approve"]);
    assert.equal(apply.formatVersion, 2);
    assert.equal(apply.kind, "fluxfleet.apply");
    assert.deepEqual(keys(apply.summary), SUMMARY_KEYS);
    assert.deepEqual(apply.summary, {
      clusters: 2,
      changed: 2,
      unchanged: 0,
      failed: 0,
      skipped: 0,
      steps: 16,
    });
    assert.deepEqual((apply.plan as { summary: unknown }).summary, plan.summary);

    const destroy = await json(env, ["destroy", "--auto-approve", "--delete-git-manifests"]);
    assert.equal(destroy.formatVersion, 2);
    assert.equal(destroy.kind, "fluxfleet.destroy");
    assert.equal(destroy.manifest, env.manifest);
    assert.deepEqual(keys(destroy), [
      "formatVersion",
      "kind",
      "manifest",
      "plan",
      "results",
      "summary",
    ]);
    assert.deepEqual(keys(destroy.summary), SUMMARY_KEYS);
    const results = destroy.results as { cluster: string; outcome: string; applied: unknown[] }[];
    assert.deepEqual(results.map((r) => [r.cluster, r.outcome]), [["c0", "changed"], [
      "c1",
      "changed",
    ]]);
    const summary = destroy.summary as { clusters: number; changed: number; steps: number };
    assert.equal(summary.clusters, 2);
    assert.equal(summary.changed, 2);
    assert.equal(summary.steps, results.reduce((n, r) => n + r.applied.length, 0));
    assert.ok(summary.steps > 0);
    const planned = (destroy.plan as { summary: { steps: number } }).summary.steps;
    assert.equal(planned, summary.steps, "every planned destroy step was carried out");

    // Nothing left: the next destroy plans nothing, in the same shape.
    const again = await json(env, ["destroy", "--auto-approve"]);
    assert.deepEqual(again.summary, {
      clusters: 2,
      changed: 0,
      unchanged: 2,
      failed: 0,
      skipped: 0,
      steps: 0,
    });
  });
});

Deno.test("apply --plan-file: a plan file of format version 1 is refused with what to do", async () => {
  await withEnv(async (env) => {
    const file = `${env.dir}/old-plan.json`;
    await Deno.writeTextFile(
      file,
      JSON.stringify({ formatVersion: 1, kind: "fluxfleet.plan", manifest: "x", clusters: [] }),
    );
    const r = await env.cli(["apply", "--plan-file", file, env.manifest]);
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr,
      `error: --plan-file: ${file} is in format version 1; this fluxfleet reads version 2: ` +
        "run plan again\n",
    );
  });
});

Deno.test("the schema covers destroy: a destroy document of format version 1 is rejected", () => {
  const v1 = {
    formatVersion: 1,
    kind: "fluxfleet.destroy",
    plans: [],
    results: [{ cluster: "a", outcome: "destroyed", done: [] }],
  };
  assert.notDeepEqual(outputSchemaErrors(v1), []);
  const v2 = {
    formatVersion: 2,
    kind: "fluxfleet.destroy",
    manifest: "f.yaml",
    plan: {
      clusters: [{ cluster: "a", steps: [{ kind: "namespace", action: "delete", name: "ns" }] }],
      summary: { clusters: 1, changed: 1, unchanged: 0, failed: 0, skipped: 0, steps: 1 },
    },
    results: [{
      cluster: "a",
      outcome: "changed",
      applied: [{ kind: "namespace", action: "delete", name: "ns" }],
    }],
    summary: { clusters: 1, changed: 1, unchanged: 0, failed: 0, skipped: 0, steps: 1 },
  };
  assert.deepEqual(outputSchemaErrors(v2), []);
});
