/**
 * Bitbucket Server: two clusters syncing two branches (main, staging) of one project repository
 * that does not exist yet, with a group: the plan creates the repository and grants the group
 * once, apply does each once and pushes both branches, and a second run changes nothing.
 */
import assert from "node:assert/strict";
import { startBitbucketSandbox } from "../../sandbox/bitbucket/server.ts";
import {
  contextNames,
  fluxObject,
  manifestYaml,
  withFleetEnv,
  withSshd,
} from "../helpers/harness.ts";
import { mustGit } from "../helpers/forge_git.ts";
import { missing } from "../helpers/tools.ts";

const ALICE = "canary-bitbucket-token-branches-93d1";
const BRANCHES = ["main", "staging"];

Deno.test({
  name:
    "bitbucket: two clusters on two branches of a missing repository: created and granted once, both branches pushed, a second run changes nothing",
  ignore: missing("sshd"),
  async fn() {
    await withSshd((sshd) =>
      withFleetEnv({
        prefix: "fluxfleet-bb-branches-",
        git: { root: sshd.root, users: { alice: ALICE } },
        contexts: contextNames(2),
      }, async (env) => {
        const bb = await startBitbucketSandbox({
          users: { alice: { token: ALICE, admin: true } },
          projects: ["PROJ"],
          groups: ["devs"],
          gitRoot: sshd.root,
          httpCloneBase: env.git.url,
          sshCloneBase: `ssh://git@127.0.0.1:${sshd.port}`,
          accessKeys: {
            authorize: (key, o) => sshd.authorize(key, { readOnly: o.readOnly }),
            revoke: (key) => sshd.revoke(key),
          },
        });
        try {
          await Deno.writeTextFile(
            env.manifest,
            manifestYaml({
              git: [
                "provider: bitbucket-server",
                "allowInsecureHttp: true",
                `bitbucketServer: { hostname: bitbucket.example.com, apiUrl: ${bb.url}, owner: PROJ, repository: fleet, username: alice, tokenAuth: true, groups: [devs], token: { env: BITBUCKET_TOKEN } }`,
              ],
              clusters: contextNames(2).map((name, i) => ({
                name,
                git: [`branch: ${BRANCHES[i]}`],
              })),
            }),
          );
          const cli = async (args: string[]) => {
            const r = await env.cli([...args, env.manifest], { BITBUCKET_TOKEN: ALICE });
            assert.ok(!(r.stdout + r.stderr).includes(ALICE), "the token leaked into the output");
            return r;
          };
          const plan = await cli(["plan"]);
          assert.equal(plan.code, 0, plan.stdout + plan.stderr);
          assert.equal(
            plan.stdout.match(/\+ create repository PROJ\/fleet/g)?.length,
            1,
            plan.stdout,
          );
          assert.equal(
            plan.stdout.match(/\+ grant group devs REPO_WRITE on the repository/g)?.length,
            1,
            plan.stdout,
          );

          const apply = await cli(["apply", "--auto-approve"]);
          assert.equal(apply.code, 0, apply.stdout + apply.stderr);
          const creates = bb.mutatingRequests().filter((q) =>
            q.method === "POST" && /\/projects\/PROJ\/repos$/.test(q.path)
          );
          assert.deepEqual(creates.map((q) => q.status), [201]);
          const repo = bb.repo("PROJ", "fleet")!;
          assert.deepEqual(repo.groups, { devs: "REPO_WRITE" });
          for (const [i, branch] of BRANCHES.entries()) {
            const files = (await mustGit(
              ["--git-dir", repo.gitDir, "ls-tree", "-r", "--name-only", branch],
              env.dir,
            )).split("\n").filter((l) => l !== "");
            // Each branch holds its own cluster's files, and only those.
            assert.deepEqual(files.filter((f) => !f.startsWith(`clusters/c${i}/`)), [], branch);
            assert.ok(files.includes(`clusters/c${i}/flux-system/gotk-sync.yaml`), branch);
            const source = fluxObject(env.kubes[i], "GitRepository") as
              | { spec: { ref: { branch: string } } }
              | undefined;
            assert.equal(source?.spec.ref.branch, branch);
          }

          const mutations = bb.mutatingRequests().length;
          const again = await cli(["plan"]);
          assert.equal(again.code, 0, again.stdout + again.stderr);
          assert.match(again.stdout, /No changes/);
          const second = await cli(["apply", "--auto-approve"]);
          assert.equal(second.code, 0, second.stdout + second.stderr);
          assert.equal(bb.mutatingRequests().length, mutations, "the second run changed something");
        } finally {
          await bb.close();
        }
      })
    );
  },
});
