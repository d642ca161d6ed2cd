/**
 * The process killed (SIGKILL) at each step boundary of an apply: a re-run converges to the same
 * end state as an uninterrupted run, with nothing duplicated (one commit, one secret, ...).
 * The boundary is made exact by holding the next step's request in the local API server, which
 * records it on arrival: the kill lands while it is held, and the state at that moment is asserted
 * (what exists in the cluster, what is on the branch) before the re-run.
 */
import assert from "node:assert/strict";
import { parseAllDocuments } from "yaml";
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

/** What is in the repository and the cluster: checked at the moment of the kill. */
interface State {
  /** Commits on main, and whether the last holds the cluster's flux-system files. */
  commits: number;
  fluxSystemFiles: boolean;
  namespace: boolean;
  /** Objects of the pushed gotk-components.yaml in the cluster: "none", "all" or "n of m". */
  components: string;
  secret: boolean;
  gitRepository: boolean;
  kustomization: boolean;
}

const FLUX_SYSTEM = "clusters/c0/flux-system";

async function stateOf(env: FleetEnv): Promise<State> {
  const { git, kube } = env;
  const components = await git.readFile("fleet", "main", `${FLUX_SYSTEM}/gotk-components.yaml`);
  const objects = parseAllDocuments(components ?? "").map((d) => d.toJS()).filter((o) => o) as {
    apiVersion: string;
    kind: string;
    metadata: { name: string; namespace?: string };
  }[];
  const present =
    objects.filter((o) =>
      kube.getObject(o.apiVersion, o.kind, o.metadata.namespace, o.metadata.name) !== undefined
    ).length;
  const files = await Promise.all(
    ["gotk-components.yaml", "gotk-sync.yaml", "kustomization.yaml"].map((f) =>
      git.readFile("fleet", "main", `${FLUX_SYSTEM}/${f}`)
    ),
  );
  return {
    commits: (await git.log("fleet", "main")).length,
    fluxSystemFiles: files.every((f) => f !== null),
    namespace: kube.getObject("v1", "Namespace", undefined, "flux-system") !== undefined,
    components: present === 0
      ? "none"
      : present === objects.length
      ? "all"
      : `${present} of ${objects.length}`,
    secret: kube.getObject("v1", "Secret", "flux-system", "flux-system") !== undefined,
    gitRepository: fluxObject(kube, "GitRepository") !== undefined,
    kustomization: fluxObject(kube, "Kustomization") !== undefined,
  };
}

/** The one commit is pushed first; then each cluster step in this order. */
const PUSHED: State = {
  commits: 1,
  fluxSystemFiles: true,
  namespace: false,
  components: "none",
  secret: false,
  gitRepository: false,
  kustomization: false,
};

/**
 * Each boundary "after X, before Y": the request that starts Y is held, the process killed as
 * soon as that request arrives, and the state then must be exactly X done, Y not.
 */
const boundaries: { name: string; hold: { pathIncludes: string; method: string }; state: State }[] =
  [
    {
      name: "after the push, before the namespace",
      hold: { pathIncludes: "/api/v1/namespaces/flux-system", method: "PATCH" },
      state: PUSHED,
    },
    {
      name: "after the components, before the secret",
      hold: { pathIncludes: "/secrets/flux-system", method: "PATCH" },
      state: { ...PUSHED, namespace: true, components: "all" },
    },
    {
      name: "after the secret, before the sync objects",
      hold: { pathIncludes: "/gitrepositories/", method: "PATCH" },
      state: { ...PUSHED, namespace: true, components: "all", secret: true },
    },
    {
      name: "after the GitRepository, before the Kustomization",
      hold: { pathIncludes: "/kustomizations/", method: "PATCH" },
      state: {
        ...PUSHED,
        namespace: true,
        components: "all",
        secret: true,
        gitRepository: true,
      },
    },
  ];

/**
 * Held until the sandbox closes, then dropped unanswered: the request never reaches the store,
 * as when the process dies before the API server acts on it.
 */
const HOLD_UNTIL_CLOSE_MS = 10 * 60_000;

for (const b of boundaries) {
  Deno.test(`SIGKILL ${b.name}: a re-run converges, nothing duplicated`, async () => {
    await withEnv(async (env) => {
      env.kube.failNext({ ...b.hold, delayMs: HOLD_UNTIL_CLOSE_MS, reset: true });
      const child = spawnApply(env);
      // The sandbox records a request on arrival, while it is still held.
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
      const state = await stateOf(env);
      assert.deepEqual(state, b.state, `killed ${b.name}, the state was ${JSON.stringify(state)}`);
      const held = env.kube.requests.filter((r) =>
        r.method === b.hold.method && r.path.includes(b.hold.pathIncludes)
      );
      assert.deepEqual(held.map((r) => r.answered), [false], "the held request is unanswered");
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

Deno.test("two fluxfleet runs at once on the same repository: the push race happens, the loser retries on top, history linear, nothing lost", async () => {
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
      // The race made certain: the first push to arrive is held at the server until the other
      // run's push has landed, so it was built on a branch that has moved.
      const hold = git.holdNext("receive");
      const runs = [spawnApply(env), spawnApply(env, second)];
      const held = await hold.arrived;
      const deadline = Date.now() + 60_000;
      while (await git.headSha("fleet", "main") === null) {
        assert.ok(Date.now() < deadline, "the other run's push never landed");
        await new Promise((r) => setTimeout(r, 20));
      }
      hold.release();
      const [sa, sb] = await Promise.all(runs.map((r) => r.status));
      assert.ok(sa.success && sb.success, "both runs finish");

      // Three pushes in the order they arrived: the held one, refused by git because the branch
      // moved meanwhile; the other run's; the held run's retry, on top of the other's commit.
      const pushes = git.requests.filter((r) =>
        r.method === "POST" && r.service === "git-receive-pack"
      );
      assert.equal(pushes[0], held);
      assert.deepEqual(
        pushes.map((r) => r.pushReport?.map((l) => l.replace(/^ng (\S+) .*/, "ng $1"))),
        [
          ["unpack ok", "ng refs/heads/main"],
          ["unpack ok", "ok refs/heads/main"],
          ["unpack ok", "ok refs/heads/main"],
        ],
      );
      const log = await git.log("fleet", "main");
      assert.equal(log.length, 2, "one commit per run");
      assert.equal(await mergeCommits(git, "fleet"), "", "history is linear");
      // The retry's commit is the head, with the other run's commit as its parent.
      const parent = await new Deno.Command("git", {
        args: ["--git-dir", `${git.root}/fleet.git`, "rev-parse", `${log[0].sha}^`],
      }).output();
      assert.equal(new TextDecoder().decode(parent.stdout).trim(), log[1].sha);
      for (const p of ["clusters/c0", "clusters/c1"]) {
        assert.ok(
          await git.readFile("fleet", "main", `${p}/flux-system/gotk-sync.yaml`),
          `${p} is in the repository`,
        );
      }
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
