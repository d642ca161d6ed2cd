/**
 * The run in process, through its seams (RunOptions.connect): the real Kubernetes sandbox and git
 * server, reached through connectors that record what is asked of them. Observe, plan and apply
 * without the CLI: a plan is data, and apply carries it out as it is.
 */
import assert from "node:assert/strict";
import {
  contextNames,
  type FleetEnv,
  manifestYaml,
  tokenGit,
  withFleetEnv,
} from "../helpers/harness.ts";
import { loadManifest } from "../../lib/config/load.ts";
import { type FleetRun, planFleet } from "../../lib/apply/fleet.ts";
import { type Connectors, DEFAULT_CONNECTORS, type RunOptions } from "../../lib/apply/options.ts";
import type { ClusterResult } from "../../lib/plan/results.ts";

const TOKEN = "canary-token-fleet-run-5e1f";

interface Recorded {
  /** Every write a cluster was asked for, by cluster context: "apply Kind/name", "delete path". */
  writes: string[];
  /** Every push, and whether it carried a commit. */
  pushes: boolean[];
  /** Every provider step applied. */
  providerSteps: string[];
}

/** The real connectors, each call recorded. */
function recording(): { connect: Connectors; seen: Recorded } {
  const seen: Recorded = { writes: [], pushes: [], providerSteps: [] };
  const connect: Connectors = {
    async kubeClient(target, opts) {
      const client = await DEFAULT_CONNECTORS.kubeClient(target, opts);
      return {
        ...client,
        context: client.context,
        server: client.server,
        apply: (o) => {
          seen.writes.push(`${client.context} apply ${o.kind}/${o.metadata.name}`);
          return client.apply(o);
        },
        delete: (path) => {
          seen.writes.push(`${client.context} delete ${path}`);
          return client.delete(path);
        },
        mergePatch: (path, patch) => {
          seen.writes.push(`${client.context} patch ${path}`);
          return client.mergePatch(path, patch);
        },
      };
    },
    openRemote(access, opts) {
      const remote = DEFAULT_CONNECTORS.openRemote(access, opts);
      return {
        ...remote,
        async push(co, changes, message, author) {
          const r = await remote.push(co, changes, message, author);
          seen.pushes.push(r.pushed);
          return r;
        },
      };
    },
    openProvider(provider, access) {
      const session = DEFAULT_CONNECTORS.openProvider(provider, access);
      return {
        ...session,
        registersKeys: session.registersKeys,
        apply(step, ctx) {
          seen.providerSteps.push(step.kind);
          return session.apply(step, ctx);
        },
      };
    },
  };
  return { connect, seen };
}

function withEnv(clusters: number, fn: (env: FleetEnv) => Promise<void>): Promise<void> {
  return withFleetEnv({
    prefix: "fluxfleet-run-",
    git: { users: { git: TOKEN } },
    repos: ["fleet"],
    contexts: contextNames(clusters),
    manifest: ({ git, kubes }) =>
      manifestYaml({
        git: tokenGit(git.repoUrl("fleet")),
        clusters: kubes.map((_, i) => ({ name: `c${i}` })),
      }),
  }, fn);
}

async function run(
  env: FleetEnv,
  connect: Connectors,
  extra: Partial<RunOptions> = {},
): Promise<FleetRun> {
  const manifest = await loadManifest(env.manifest);
  return planFleet(manifest, manifest.clusters, {
    concurrency: 4,
    secrets: { readStdin: () => Promise.resolve(""), env: (n) => ({ GIT_PASSWORD: TOKEN })[n] },
    connect,
    ...extra,
  });
}

async function applied(r: FleetRun): Promise<ClusterResult[]> {
  try {
    return await r.apply();
  } finally {
    await r.close();
  }
}

Deno.test("in process: plan → apply → plan through the seams; the second run plans nothing and changes nothing", async () => {
  await withEnv(2, async (env) => {
    const first = recording();
    const planned = await run(env, first.connect);
    // The plan is data: every cluster's steps with the payloads apply needs, one commit.
    assert.deepEqual(planned.plan.repositories.map((r) => r.commit?.clusters), [["c0", "c1"]]);
    for (const p of planned.plan.clusters) {
      assert.equal(p.plan.error, undefined);
      assert.ok(p.desired!.files.every((f) => f.content.length > 0));
    }
    assert.deepEqual(first.seen.writes, [], "observing and planning write nothing");
    const results = await applied(planned);
    assert.deepEqual(results.map((r) => r.outcome), ["changed", "changed"]);
    assert.deepEqual(first.seen.pushes, [true], "one commit for both clusters");
    assert.ok(first.seen.writes.some((w) => w === "c0 apply Kustomization/flux-system"));
    assert.ok(first.seen.writes.some((w) => w === "c1 apply Kustomization/flux-system"));
    assert.deepEqual(first.seen.providerSteps, [], "the generic provider has no steps");

    const second = recording();
    const again = await run(env, second.connect);
    assert.deepEqual(again.plans.map((p) => p.steps), [[], []]);
    assert.deepEqual(again.plan.repositories.map((r) => r.commit), [undefined]);
    const results2 = await applied(again);
    assert.deepEqual(results2.map((r) => r.outcome), ["unchanged", "unchanged"]);
    assert.deepEqual(second.seen.writes, []);
    assert.deepEqual(second.seen.pushes, []);
    for (const k of env.kubes) {
      assert.equal(k.mutatingRequests().length > 0, true, "the first run wrote");
    }
  });
});

Deno.test("in process: --fail-fast: a cluster that cannot be planned leaves the others skipped, not interrupted", async () => {
  await withEnv(2, async (env) => {
    await env.kubes[1].close();
    const { connect, seen } = recording();
    const planned = await run(env, connect, { failFast: true });
    assert.match(planned.plans[1].error ?? "", /cannot reach the cluster API of context "c1"/);
    const results = await applied(planned);
    assert.deepEqual(results.map((r) => [r.outcome, r.reason]), [
      ["skipped", "another cluster failed (--fail-fast)"],
      ["failed", undefined],
    ]);
    assert.deepEqual(seen.writes, []);
    assert.deepEqual(seen.pushes, []);
  });
});

Deno.test("in process: Ctrl-C before apply starts: every cluster is interrupted, not failed, and nothing is written", async () => {
  await withEnv(2, async (env) => {
    const { connect, seen } = recording();
    const ctl = new AbortController();
    const planned = await run(env, connect, { signal: ctl.signal });
    ctl.abort();
    const results = await applied(planned);
    assert.deepEqual(results.map((r) => [r.outcome, r.reason]), [
      ["interrupted", "interrupted before pushing to " + env.git.repoUrl("fleet")],
      ["interrupted", "interrupted before pushing to " + env.git.repoUrl("fleet")],
    ]);
    assert.deepEqual(seen.writes, []);
    assert.deepEqual(seen.pushes, []);
  });
});
