/**
 * flux bootstrap github|gitea for a fleet, in process (planFleet, as the CLI runs it): 12 clusters
 * over 3 repositories of the GitHub or Gitea sandbox, each cluster with its own generated deploy
 * key (enforced by the sandbox sshd, which the Flux stand-in reads through), then a second run that
 * plans nothing, changes nothing through the API, and asks 2 things per repository.
 */
import assert from "node:assert/strict";
import {
  contextNames,
  fluxObject,
  manifestYaml,
  withFleetEnv,
  withSshd,
} from "../helpers/harness.ts";
import { missing } from "../helpers/tools.ts";
import { loadManifest } from "../../lib/config/load.ts";
import { type FleetRun, planFleet } from "../../lib/apply/fleet.ts";
import type { ClusterResult } from "../../lib/plan/results.ts";
import { acmeForge, forgeGitLines } from "../helpers/forge.ts";

const TOKEN = "forge_canary_fleet_0d6e2a91";
const CLUSTERS = 12;
const REPOS = ["fleet-a", "fleet-b", "fleet-c"];

async function applied(r: FleetRun): Promise<ClusterResult[]> {
  try {
    return await r.apply();
  } finally {
    await r.close();
  }
}

for (const kind of ["github", "gitea"] as const) {
  Deno.test({
    name:
      `${kind}: 12 clusters over 3 repositories: created, one deploy key each; a second run plans nothing, changes nothing, 2 API calls a repository`,
    ignore: missing("sshd"),
    async fn() {
      await withSshd((sshd) =>
        withFleetEnv(
          { prefix: `fluxfleet-${kind}-fleet-`, contexts: contextNames(CLUSTERS) },
          async (env) => {
            const forge = await acmeForge(kind, TOKEN, sshd);
            try {
              await Deno.writeTextFile(
                env.manifest,
                manifestYaml({
                  git: forgeGitLines(forge, sshd.port, "owner: acme, token: { env: FORGE_TOKEN }"),
                  clusters: contextNames(CLUSTERS).map((name, i) => ({
                    name,
                    git: [`${kind}: { repository: ${REPOS[i % REPOS.length]} }`],
                  })),
                }),
              );
              const run = async () => {
                const manifest = await loadManifest(env.manifest);
                return planFleet(manifest, manifest.clusters, {
                  concurrency: 4,
                  secrets: {
                    readStdin: () => Promise.resolve(""),
                    env: (n) => ({ FORGE_TOKEN: TOKEN })[n],
                  },
                });
              };
              const first = await run();
              assert.deepEqual(first.plans.map((p) => p.error), Array(CLUSTERS).fill(undefined));
              const results = await applied(first);
              assert.deepEqual(
                results.map((r) => [r.cluster, r.outcome, r.error]),
                contextNames(CLUSTERS).map((c) => [c, "changed", undefined]),
              );
              for (const repo of REPOS) {
                const held = forge.repo("acme", repo)!;
                assert.equal(held.private, true, repo);
                assert.equal(held.keys.length, 4, repo);
                assert.ok(held.keys.every((k) => k.readOnly), repo);
                assert.deepEqual(
                  held.keys.map((k) => k.title).sort(),
                  contextNames(CLUSTERS).filter((_, i) => REPOS[i % REPOS.length] === repo)
                    .map((c) => `fluxfleet-${c}-clusters-${c}-flux-system`).sort(),
                );
              }
              // Each cluster's Flux read its repository over SSH with its own key.
              for (const k of env.kubes) {
                const source = fluxObject(k, "GitRepository") as
                  | { spec: { url: string } }
                  | undefined;
                assert.match(
                  source?.spec.url ?? "",
                  new RegExp(`^ssh://git@127\\.0\\.0\\.1:${sshd.port}/acme/fleet-[abc]\\.git$`),
                );
              }

              const mutations = forge.mutatingRequests().length;
              const before = forge.requests.length;
              const second = await run();
              assert.deepEqual(second.plans.map((p) => p.steps), Array(CLUSTERS).fill([]));
              const asked = forge.requests.slice(before).map((r) => `${r.method} ${r.path}`);
              assert.equal(asked.length, 2 * REPOS.length, asked.join("\n"));
              const again = await applied(second);
              assert.deepEqual(again.map((r) => r.outcome), Array(CLUSTERS).fill("unchanged"));
              assert.equal(
                forge.mutatingRequests().length,
                mutations,
                "the second run changed something",
              );
            } finally {
              await forge.close();
            }
          },
        )
      );
    },
  });
}
