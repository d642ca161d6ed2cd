/**
 * The process killed (SIGKILL) at each step boundary of an apply: a re-run converges to the same
 * end state as an uninterrupted run, with nothing duplicated (one commit, one secret, ...).
 * The boundary is made exact by holding the next step's request in the local API server.
 */
import assert from "node:assert/strict";
import {
  type FleetEnv,
  fluxObject,
  manifestYaml,
  mergeCommits,
  withFleetEnv,
} from "../helpers/harness.ts";
import { startKubeSandbox } from "../../sandbox/kube/server.ts";
import { writeKubeconfig } from "../../sandbox/kube/kubeconfig.ts";

const TOKEN = "canary-crash-token-6b0e";

/** Cluster c0 on repository fleet, its kubeconfig and git settings in the cluster's entry. */
function withEnv(fn: (env: FleetEnv) => Promise<void>): Promise<void> {
  return withFleetEnv({
    prefix: "fluxfleet-crash-",
    git: { users: { git: TOKEN } },
    repos: ["fleet"],
    kube: { reconcileDelayMs: 10 },
    manifestName: "fleet.yaml",
    cliEnv: { GIT_PASSWORD: TOKEN },
    manifest: ({ git }) =>
      manifestYaml({
        kubeconfig: null,
        clusters: [{
          name: "c0",
          kube: "kubeconfig: ./kubeconfig, context: c0",
          git: [
            `url: ${git.repoUrl("fleet")}`,
            "allowInsecureHttp: true",
            "auth: { type: token, token: { env: GIT_PASSWORD } }",
          ],
        }],
      }),
  }, fn);
}

function spawnApply(env: FleetEnv, manifest = env.manifest): Deno.ChildProcess {
  return env.spawn(["apply", "--auto-approve", "--quiet", manifest], { output: "null" });
}

async function until(what: string, cond: () => boolean, ms = 30_000) {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function rerunConverges(env: FleetEnv) {
  const out = await env.cli(["apply", "--auto-approve", env.manifest]);
  assert.equal(out.code, 0, out.stdout + out.stderr);
  const log = await env.git.log("fleet", "main");
  assert.equal(log.length, 1, "no second commit with the same content");
  const ks = fluxObject(env.kube, "Kustomization") as {
    status: { lastAppliedRevision: string };
  };
  assert.equal(ks.status.lastAppliedRevision, `main@sha1:${log[0].sha}`);
  const plan = await env.cli(["plan", "--detailed-exitcode", env.manifest]);
  assert.equal(plan.code, 0, plan.stdout);
}

const boundaries: { name: string; hold: { pathIncludes: string; method: string } }[] = [
  {
    name: "after the push, before the namespace",
    hold: { pathIncludes: "/api/v1/namespaces/flux-system", method: "PATCH" },
  },
  {
    name: "after the components, before the secret",
    hold: { pathIncludes: "/secrets/flux-system", method: "PATCH" },
  },
  {
    name: "after the secret, before the sync objects",
    hold: { pathIncludes: "/gitrepositories/", method: "PATCH" },
  },
  {
    name: "after the GitRepository, before the Kustomization",
    hold: { pathIncludes: "/kustomizations/", method: "PATCH" },
  },
];

for (const b of boundaries) {
  Deno.test(`SIGKILL ${b.name}: a re-run converges, nothing duplicated`, async () => {
    await withEnv(async (env) => {
      env.kube.failNext({ ...b.hold, delayMs: 5_000 });
      const child = spawnApply(env);
      await until(
        "the held request",
        () =>
          env.kube.requests.some((r) =>
            r.method === b.hold.method && r.path.includes(b.hold.pathIncludes)
          ),
      );
      child.kill("SIGKILL");
      const status = await child.status;
      assert.equal(status.signal, "SIGKILL");
      await rerunConverges(env);
    });
  });
}

Deno.test("SIGKILL while waiting for Flux: a re-run converges", async () => {
  await withEnv(async (env) => {
    env.kube.setFluxBehaviour("hang");
    const child = spawnApply(env);
    await until("the Kustomization", () => fluxObject(env.kube, "Kustomization") !== undefined);
    child.kill("SIGKILL");
    await child.status;
    env.kube.setFluxBehaviour("ready");
    await rerunConverges(env);
  });
});

Deno.test("two fluxfleet runs at once on the same repository: both finish, history linear, nothing lost", async () => {
  await withEnv(async (env) => {
    const { git, kube } = env;
    // A second manifest: another cluster (its own API server) with another path in the same repository.
    const other = await startKubeSandbox({ reconcileDelayMs: 10 });
    try {
      await writeKubeconfig(`${env.dir}/kubeconfig-b`, [{ context: "c1", sandbox: other }]);
      const second = `${env.dir}/fleet-b.yaml`;
      await Deno.writeTextFile(
        second,
        (await Deno.readTextFile(env.manifest)).replace("name: c0", "name: c1").replace(
          "clusters/c0",
          "clusters/c1",
        )
          .replace(
            "kubeconfig: ./kubeconfig, context: c0",
            "kubeconfig: ./kubeconfig-b, context: c1",
          ),
      );
      const [sa, sb] = await Promise.all([
        spawnApply(env).status,
        spawnApply(env, second).status,
      ]);
      assert.ok(sa.success && sb.success, "both runs finish");
      for (const p of ["clusters/c0", "clusters/c1"]) {
        assert.ok(
          await git.readFile("fleet", "main", `${p}/flux-system/gotk-sync.yaml`),
          `${p} is in the repository`,
        );
      }
      assert.equal(await mergeCommits(git, "fleet"), "", "history is linear");
      assert.equal((await git.log("fleet", "main")).length, 2, "one commit per run");
      for (const k of [kube, other]) {
        const ks = fluxObject(k, "Kustomization") as {
          status: { conditions: { type: string; status: string }[] };
        };
        assert.equal(ks.status.conditions.find((c) => c.type === "Ready")?.status, "True");
      }
    } finally {
      await other.close();
    }
  });
});
