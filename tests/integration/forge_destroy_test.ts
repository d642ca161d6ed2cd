/**
 * destroy removes the deploy key fluxfleet added for the cluster (GitHub sandbox, in process):
 * the uninstall plan names it, apply removes it through the API after the cluster, the key of
 * another cluster of the same repository stays, and the JSON document matches its schema.
 */
import assert from "node:assert/strict";
import { contextNames, manifestYaml, withFleetEnv, withSshd } from "../helpers/harness.ts";
import { missing } from "../helpers/tools.ts";
import { outputSchemaErrors } from "../helpers/output_schema.ts";
import { loadManifest } from "../../lib/config/load.ts";
import { planFleet } from "../../lib/apply/fleet.ts";
import { describeDestroyStep } from "../../lib/plan/destroy.ts";
import { destroyDocument } from "../../lib/report/json.ts";
import { acmeForge, forgeGitLines } from "../helpers/forge.ts";

const TOKEN = "forge_canary_destroy_51c7e3a0";

Deno.test({
  name: "github: destroy removes the cluster's own deploy key through the API, after the cluster",
  ignore: missing("sshd"),
  async fn() {
    await withSshd((sshd) =>
      withFleetEnv({ prefix: "fluxfleet-gh-destroy-", contexts: contextNames(2) }, async (env) => {
        const gh = await acmeForge("github", TOKEN, sshd);
        try {
          await Deno.writeTextFile(
            env.manifest,
            manifestYaml({
              git: forgeGitLines(
                gh,
                sshd.port,
                "owner: acme, repository: fleet, token: { env: GH }",
              ),
              clusters: contextNames(2).map((name) => ({ name })),
            }),
          );
          const manifest = await loadManifest(env.manifest);
          const run = (names: string[]) =>
            planFleet(manifest, manifest.clusters.filter((c) => names.includes(c.name)), {
              concurrency: 2,
              secrets: { readStdin: () => Promise.resolve(""), env: (n) => ({ GH: TOKEN })[n] },
            });
          const first = await run(["c0", "c1"]);
          const applied = await first.apply().finally(() => first.close());
          assert.deepEqual(applied.map((r) => r.outcome), ["changed", "changed"]);
          const titles = () => gh.repo("acme", "fleet")!.keys.map((k) => k.title).sort();
          assert.deepEqual(titles(), [
            "fluxfleet-c0-clusters-c0-flux-system",
            "fluxfleet-c1-clusters-c1-flux-system",
          ]);

          const gone = await run(["c0"]);
          try {
            const plans = gone.destroyPlans({ keepNamespace: false, deleteGitManifests: false });
            const steps = plans[0].steps;
            assert.deepEqual(steps.at(-1), {
              kind: "accessKey",
              action: "delete",
              label: "fluxfleet-c0-clusters-c0-flux-system",
              ids: [gh.repo("acme", "fleet")!.keys.find((k) => k.title.includes("-c0-"))!.id],
            });
            assert.equal(
              describeDestroyStep(steps.at(-1)!),
              "- remove deploy key fluxfleet-c0-clusters-c0-flux-system from the repository",
            );
            const results = await gone.destroy(plans);
            assert.deepEqual(results.map((r) => [r.outcome, r.error]), [["destroyed", undefined]]);
            assert.deepEqual(
              outputSchemaErrors(destroyDocument(env.manifest, plans, results)),
              [],
            );
          } finally {
            await gone.close();
          }
          assert.deepEqual(titles(), ["fluxfleet-c1-clusters-c1-flux-system"]);
          const deleted = gh.mutatingRequests().filter((r) => r.method === "DELETE");
          assert.equal(deleted.length, 1);
          assert.match(deleted[0].path, /^\/repos\/acme\/fleet\/keys\/\d+$/);
        } finally {
          await gh.close();
        }
      })
    );
  },
});
