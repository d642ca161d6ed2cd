/**
 * Two clusters syncing two branches (main, staging) of one forge repository that does not exist
 * yet: the plan creates the repository once, apply creates it once and pushes both branches with
 * their clusters' files, and a second run changes nothing.
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
import { mustGit } from "../helpers/forge_git.ts";
import { acmeForge } from "../helpers/forge.ts";

const TOKEN = "forge_canary_branches_5b1f93c7";
const BRANCHES = ["main", "staging"];

/** The files of `branch` in the bare repository (empty when it has no such branch). */
async function filesOf(gitDir: string, branch: string, cwd: string): Promise<string[]> {
  const out = await mustGit(["--git-dir", gitDir, "ls-tree", "-r", "--name-only", branch], cwd);
  return out.split("\n").filter((l) => l !== "").sort();
}

for (const kind of ["github", "gitea"] as const) {
  Deno.test({
    name:
      `${kind}: two clusters on two branches of a missing repository: created once, both branches pushed, a second run changes nothing`,
    ignore: missing("sshd"),
    async fn() {
      await withSshd((sshd) =>
        withFleetEnv(
          { prefix: `fluxfleet-${kind}-branches-`, contexts: contextNames(2) },
          async (env) => {
            const forge = await acmeForge(kind, TOKEN, sshd);
            try {
              await Deno.writeTextFile(
                env.manifest,
                manifestYaml({
                  git: [
                    `provider: ${kind}`,
                    "allowInsecureHttp: true",
                    `sshHostname: 127.0.0.1:${sshd.port}`,
                    `${kind}: { apiUrl: ${forge.apiUrl}, owner: acme, repository: fleet, token: { env: FORGE_TOKEN } }`,
                  ],
                  clusters: contextNames(2).map((name, i) => ({
                    name,
                    git: [`branch: ${BRANCHES[i]}`],
                  })),
                }),
              );
              const cliEnv = { FORGE_TOKEN: TOKEN };
              const plan = await env.cli(["plan", env.manifest], cliEnv);
              assert.equal(plan.code, 0, plan.stdout + plan.stderr);
              const creates = plan.stdout.match(/\+ create repository acme\/fleet/g) ?? [];
              assert.equal(creates.length, 1, plan.stdout);

              const apply = await env.cli(["apply", "--auto-approve", env.manifest], cliEnv);
              assert.equal(apply.code, 0, apply.stdout + apply.stderr);
              assert.ok(!(apply.stdout + apply.stderr).includes(TOKEN));
              const created = forge.mutatingRequests().filter((q) =>
                q.method === "POST" && /\/repos$/.test(q.path)
              );
              assert.deepEqual(created.map((q) => q.status), [201]);
              const held = forge.repo("acme", "fleet")!;
              for (const [i, branch] of BRANCHES.entries()) {
                const files = await filesOf(held.gitDir, branch, env.dir);
                // Each branch holds its own cluster's files, and only those.
                assert.deepEqual(files.filter((f) => !f.startsWith(`clusters/c${i}/`)), [], branch);
                assert.ok(files.includes(`clusters/c${i}/flux-system/gotk-components.yaml`));
                const source = fluxObject(env.kubes[i], "GitRepository") as
                  | { spec: { ref: { branch: string } } }
                  | undefined;
                assert.equal(source?.spec.ref.branch, branch);
              }
              assert.equal(held.keys.length, 2);

              const mutations = forge.mutatingRequests().length;
              const again = await env.cli(["plan", env.manifest], cliEnv);
              assert.equal(again.code, 0, again.stdout + again.stderr);
              assert.match(again.stdout, /No changes/);
              const second = await env.cli(["apply", "--auto-approve", env.manifest], cliEnv);
              assert.equal(second.code, 0, second.stdout + second.stderr);
              assert.equal(forge.mutatingRequests().length, mutations);
            } finally {
              await forge.close();
            }
          },
        )
      );
    },
  });
}
