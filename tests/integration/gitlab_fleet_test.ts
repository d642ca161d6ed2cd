/**
 * flux bootstrap gitlab for a fleet, in process (RunOptions.connect seams): the GitLab API
 * sandbox whose projects are real bare repositories served by git http-backend and the real sshd,
 * which enforces the deploy keys fluxfleet registers (read-only keys cannot push). Twelve
 * clusters over three projects (one in a subgroup): each project created once, each cluster's
 * key registered once under its own title; a second run plans nothing and makes no API call that
 * changes anything, with at most two API calls per project.
 */
import assert from "node:assert/strict";
import {
  contextNames,
  type FleetEnv,
  manifestYaml,
  withFleetEnv,
  withSshd,
} from "../helpers/harness.ts";
import { missing } from "../helpers/tools.ts";
import { loadManifest } from "../../lib/config/load.ts";
import { type FleetRun, planFleet } from "../../lib/apply/fleet.ts";
import type { RunOptions } from "../../lib/apply/options.ts";
import { type GitLabSandbox, startGitLabSandbox } from "../../sandbox/gitlab/server.ts";
import type { SshdServer } from "../../sandbox/ssh/sshd.ts";
import { forgetTokens } from "../../lib/providers/gitlab/mod.ts";
import { GL_ADMIN, GL_GROUPS, GL_USERS } from "../helpers/gitlab.ts";

type Env = FleetEnv & { sshd: SshdServer; gl: GitLabSandbox };

const PROJECTS = ["fleet/r0", "fleet/r1", "fleet/platform/r2"];

async function withEnv(clusters: number, fn: (env: Env) => Promise<void>): Promise<void> {
  await withSshd((sshd) => {
    let gl: GitLabSandbox | undefined;
    return withFleetEnv({
      prefix: "fluxfleet-gl-fleet-",
      git: { root: sshd.root },
      contexts: contextNames(clusters),
    }, async (env) => {
      gl = await startGitLabSandbox({
        users: GL_USERS,
        groups: GL_GROUPS,
        gitRoot: sshd.root,
        sshCloneBase: `ssh://git@127.0.0.1:${sshd.port}`,
        accessKeys: {
          authorize: (key, o) => sshd.authorize(key, { repos: o.repos }),
          revoke: (key) => sshd.revoke(key),
        },
      });
      try {
        await fn({ ...env, sshd, gl });
      } finally {
        await gl.close();
      }
    });
  });
}

/** Cluster i reads project i mod 3. */
function fleetManifest(env: Env, clusters: number): string {
  return manifestYaml({
    git: [
      "provider: gitlab",
      "allowInsecureHttp: true",
      "author: { name: fluxfleet-test, email: test@example.com }",
      "sshKey: { algorithm: ed25519 }",
      // The projects do not exist at plan time: their SSH port comes from here (as flux's
      // --ssh-hostname), not from the API's links.
      `sshHostname: "127.0.0.1:${env.sshd.port}"`,
      `gitlab: { apiUrl: "${env.gl.url}", owner: fleet, token: { env: GITLAB_TOKEN } }`,
    ],
    clusters: contextNames(clusters).map((name, i) => {
      const path = PROJECTS[i % PROJECTS.length].slice("fleet/".length);
      return { name, git: [`gitlab: { repository: ${path} }`] };
    }),
  });
}

async function run(env: Env, extra: Partial<RunOptions> = {}): Promise<FleetRun> {
  // A run of its own: nothing learnt about the token by an earlier one is kept.
  forgetTokens();
  const manifest = await loadManifest(env.manifest);
  return planFleet(manifest, manifest.clusters, {
    concurrency: 4,
    secrets: {
      readStdin: () => Promise.resolve(""),
      env: (n) => ({ GITLAB_TOKEN: GL_ADMIN })[n],
    },
    ...extra,
  });
}

async function applied(r: FleetRun) {
  try {
    return await r.apply();
  } finally {
    await r.close();
  }
}

Deno.test({
  name:
    "gitlab fleet: 12 clusters over 3 projects (one in a subgroup) — projects created once, one read-only deploy key per cluster; a second run plans nothing, changes nothing through the API and reads at most 2 calls per project",
  ignore: missing("sshd"),
  async fn() {
    const clusters = 12;
    await withEnv(clusters, async (env) => {
      await Deno.writeTextFile(env.manifest, fleetManifest(env, clusters));
      const first = await run(env);
      for (const p of first.plans) assert.equal(p.error, undefined, `${p.cluster}: ${p.error}`);
      const creates = first.plan.repositories.flatMap((r) =>
        r.providerSteps.filter((s) => s.kind === "repository").map((s) =>
          s.kind === "repository" && s.name
        )
      );
      assert.deepEqual(creates.sort(), [...PROJECTS].sort());
      const results = await applied(first);
      for (const r of results) {
        assert.equal(r.outcome, "changed", `${r.cluster}: ${r.error ?? r.reason}`);
      }
      const titles = new Set<string>();
      for (const [i, path] of PROJECTS.entries()) {
        const project = env.gl.project(path)!;
        assert.equal(project.visibility, "private");
        const members = contextNames(clusters).filter((_, c) => c % PROJECTS.length === i);
        assert.equal(project.deployKeys.length, members.length, path);
        for (const k of project.deployKeys) {
          assert.equal(k.canPush, false, `${path}: ${k.title} is read-only`);
          titles.add(k.title);
        }
        // The files of every cluster of the project landed in it.
        for (const c of members) {
          assert.ok(
            await env.sshd.readFile(path, "main", `clusters/${c}/flux-system/gotk-sync.yaml`),
            `${path}: ${c}'s files`,
          );
        }
      }
      assert.equal(titles.size, clusters, "every cluster's key has a title of its own");

      const before = env.gl.requests.length;
      const second = await run(env);
      assert.deepEqual(
        second.plans.map((p) => [p.cluster, p.steps]),
        second.plans.map((p) => [p.cluster, []]),
      );
      const again = await applied(second);
      assert.deepEqual(again.map((r) => r.outcome), again.map(() => "unchanged"));
      const calls = env.gl.requests.slice(before);
      assert.deepEqual(calls.filter((c) => c.mutating), [], "no API call that changes anything");
      // Per project its details and its deploy keys; the token is checked once for the fleet.
      const perProject = PROJECTS.map((p) =>
        calls.filter((c) => c.path.startsWith(`/api/v4/projects/${encodeURIComponent(p)}`)).length
      );
      assert.deepEqual(perProject, PROJECTS.map(() => 2), JSON.stringify(calls.map((c) => c.path)));
      assert.equal(calls.length, 2 * PROJECTS.length + 1, JSON.stringify(calls.map((c) => c.path)));

      // destroy of one cluster removes its deploy key only; the others of its project stay.
      const manifest = await loadManifest(env.manifest);
      forgetTokens();
      const one = await planFleet(manifest, manifest.clusters.filter((c) => c.name === "c0"), {
        concurrency: 1,
        secrets: {
          readStdin: () => Promise.resolve(""),
          env: (n) => ({ GITLAB_TOKEN: GL_ADMIN })[n],
        },
      });
      try {
        const plans = one.destroyPlans({ keepNamespace: false, deleteGitManifests: false });
        const access = plans[0].steps.filter((st) => st.kind === "accessKey");
        assert.deepEqual(access.map((st) => st.kind === "accessKey" && st.label), [
          "fluxfleet-c0-clusters-c0-flux-system",
        ]);
        const destroyed = await one.destroy(plans);
        assert.equal(destroyed[0].outcome, "destroyed", destroyed[0].error);
      } finally {
        await one.close();
      }
      const left = env.gl.project(PROJECTS[0])!.deployKeys.map((k) => k.title).sort();
      assert.deepEqual(
        left,
        ["c3", "c6", "c9"].map((c) => `fluxfleet-${c}-clusters-${c}-flux-system`),
      );
    });
  },
});
