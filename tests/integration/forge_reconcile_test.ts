/**
 * `reconcile` on an existing GitHub / Gitea repository re-applies its default branch (flux
 * bootstrap --reconcile): without it the drift is only reported; with it the plan shows the step
 * (text and JSON, valid against the output schema) and apply sets it through the API, after the
 * push; the next plan is clean. Through the CLI, against each sandbox and the real sshd.
 */
import assert from "node:assert/strict";
import {
  type ClusterSpec,
  contextNames,
  type FleetEnv,
  manifestYaml,
  withFleetEnv,
  withSshd,
} from "../helpers/harness.ts";
import { missing } from "../helpers/tools.ts";
import { outputSchemaErrors } from "../helpers/output_schema.ts";
import { mustGit } from "../helpers/forge_git.ts";
import { acmeForge, forgeGitLines, type ForgeKind } from "../helpers/forge.ts";
import type { HostedForge } from "../../sandbox/forges.ts";

const TOKEN = "forge_canary_reconcile_7d21c9e4";
const ENV: Record<ForgeKind, string> = { github: "GITHUB_TOKEN", gitea: "GITEA_TOKEN" };

/** What a user does by hand: a branch `legacy` made the repository's default (REST PATCH). */
async function defaultToLegacy(kind: ForgeKind, forge: HostedForge): Promise<void> {
  const repo = forge.repo("acme", "fleet")!;
  await mustGit(["--git-dir", repo.gitDir, "branch", "legacy", "main"], "/");
  const res = await fetch(`${forge.apiUrl}/repos/acme/fleet`, {
    method: "PATCH",
    headers: {
      authorization: kind === "github" ? `Bearer ${TOKEN}` : `token ${TOKEN}`,
      "content-type": "application/json",
    },
    body: JSON.stringify({ default_branch: "legacy" }),
  });
  await res.body?.cancel();
  assert.equal(res.status, 200);
  assert.equal(forge.repo("acme", "fleet")!.defaultBranch, "legacy");
}

/** The manifest: these clusters on acme/fleet of the sandbox, `reconcile` as given. */
function writeManifest(
  env: FleetEnv,
  forge: HostedForge,
  sshdPort: number,
  reconcile: boolean,
  clusters: ClusterSpec[],
): Promise<void> {
  return Deno.writeTextFile(
    env.manifest,
    manifestYaml({
      git: forgeGitLines(
        forge,
        sshdPort,
        `owner: acme, repository: fleet, reconcile: ${reconcile}`,
      ),
      clusters,
    }),
  );
}

/** The CLI on the manifest, with the forge's token in its usual variable. */
function runCli(env: FleetEnv, kind: ForgeKind) {
  return (args: string[]) => env.cli([...args, env.manifest], { [ENV[kind]]: TOKEN });
}

for (const kind of ["github", "gitea"] as ForgeKind[]) {
  Deno.test({
    name:
      `${kind}: reconcile sets the default branch of an existing repository back to the clusters' branch; without it the drift is a warning`,
    ignore: missing("sshd"),
    async fn() {
      await withSshd((sshd) =>
        withFleetEnv({ prefix: `fluxfleet-${kind}-reconcile-` }, async (env) => {
          const forge = await acmeForge(kind, TOKEN, sshd);
          const write = (reconcile: boolean) =>
            writeManifest(env, forge, sshd.port, reconcile, [{ name: "c0" }]);
          const cli = runCli(env, kind);
          try {
            await write(false);
            const first = await cli(["apply", "--auto-approve"]);
            assert.equal(first.code, 0, first.stdout + first.stderr);
            assert.equal(forge.repo("acme", "fleet")!.defaultBranch, "main");
            await defaultToLegacy(kind, forge);

            const drift = await cli(["plan", "--detailed-exitcode"]);
            assert.equal(drift.code, 0, drift.stdout + drift.stderr);
            assert.ok(
              drift.stdout.includes(
                "repository acme/fleet has default branch legacy, the manifest's clusters sync main; left as it is (set reconcile: true to change it)",
              ),
              drift.stdout,
            );
            assert.doesNotMatch(drift.stdout, /set default branch/);

            await write(true);
            const plan = await cli(["plan"]);
            assert.equal(plan.code, 0, plan.stdout + plan.stderr);
            assert.match(
              plan.stdout,
              /\n {2}~ set default branch of repository acme\/fleet to main \(was legacy\)\n/,
            );
            const json = await cli(["plan", "-o", "json"]);
            const doc = JSON.parse(json.stdout);
            assert.deepEqual(outputSchemaErrors(doc), []);
            assert.deepEqual(
              doc.clusters[0].steps.filter((s: { kind: string }) => s.kind === "repository"),
              [{
                kind: "repository",
                action: "defaultBranch",
                name: "acme/fleet",
                branch: "main",
                from: "legacy",
              }],
            );

            const before = forge.mutatingRequests().length;
            const apply = await cli(["apply", "--auto-approve"]);
            assert.equal(apply.code, 0, apply.stdout + apply.stderr);
            assert.equal(forge.repo("acme", "fleet")!.defaultBranch, "main");
            const changed = forge.mutatingRequests().slice(before);
            assert.deepEqual(changed.map((r) => r.method), ["PATCH"]);
            assert.equal(changed[0].status, 200);

            const clean = await cli(["plan", "--detailed-exitcode"]);
            assert.equal(clean.code, 0, clean.stdout + clean.stderr);
            assert.doesNotMatch(clean.stdout, /default branch/);
          } finally {
            await forge.close();
          }
        })
      );
    },
  });
}

Deno.test({
  name:
    "github: clusters syncing two branches of one repository leave its default branch, also when a run selects only one of them",
  ignore: missing("sshd"),
  async fn() {
    await withSshd((sshd) =>
      withFleetEnv(
        { prefix: "fluxfleet-github-branches-", contexts: contextNames(2) },
        async (env) => {
          const forge = await acmeForge("github", TOKEN, sshd);
          const write = (reconcile: boolean) =>
            writeManifest(env, forge, sshd.port, reconcile, [
              { name: "c0" },
              { name: "c1", git: ["branch: staging"] },
            ]);
          const cli = runCli(env, "github");
          try {
            await write(false);
            // One at a time: two sessions of a missing repository would each create it.
            for (const cluster of ["c0", "c1"]) {
              const first = await cli(["apply", "--auto-approve", "--cluster", cluster]);
              assert.equal(first.code, 0, first.stdout + first.stderr);
            }
            await defaultToLegacy("github", forge);
            await write(true);
            for (const args of [["plan"], ["plan", "--cluster", "c0"]]) {
              const plan = await cli(args);
              assert.equal(plan.code, 0, plan.stdout + plan.stderr);
              assert.ok(
                plan.stdout.includes(
                  "the clusters of repository acme/fleet sync branches main, staging: its default branch legacy is left as it is",
                ),
                plan.stdout,
              );
              assert.doesNotMatch(plan.stdout, /set default branch/);
            }
          } finally {
            await forge.close();
          }
        },
      )
    );
  },
});
