/**
 * The process killed (SIGKILL) at each step boundary of an apply: a re-run converges to the same
 * end state as an uninterrupted run, with nothing duplicated (one commit, one secret, ...).
 * The boundary is made exact by holding the next step's request in the local API server.
 */
import assert from "node:assert/strict";
import { type GitServer, startGitServer } from "../../sandbox/git/http_server.ts";
import { type KubeSandbox, startKubeSandbox } from "../../sandbox/kube/server.ts";
import { writeKubeconfig } from "../../sandbox/kube/kubeconfig.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const TOKEN = "canary-crash-token-6b0e";

async function withEnv(
  fn: (git: GitServer, kube: KubeSandbox, manifest: string, dir: string) => Promise<void>,
) {
  const git = await startGitServer({ users: { git: TOKEN } });
  const kube = await startKubeSandbox({ reconcileDelayMs: 10 });
  const dir = await Deno.makeTempDir({ prefix: "fluxfleet-crash-" });
  try {
    await git.createRepo("fleet");
    await writeKubeconfig(`${dir}/kubeconfig`, [{ context: "c0", sandbox: kube }]);
    const manifest = `${dir}/fleet.yaml`;
    await Deno.writeTextFile(
      manifest,
      `defaults:
  flux: { version: v2.4.0, manifests: ${ROOT}fixtures/flux-install.yaml, timeout: 30s }
clusters:
  - name: c0
    kube: { kubeconfig: ./kubeconfig, context: c0 }
    path: clusters/c0
    git:
      url: ${git.repoUrl("fleet")}
      allowInsecureHttp: true
      auth: { type: token, token: { env: GIT_PASSWORD } }
`,
    );
    await Deno.mkdir(`${dir}/tmp`);
    await fn(git, kube, manifest, dir);
  } finally {
    await kube.close();
    await git.close();
    await Deno.remove(dir, { recursive: true });
  }
}

function spawnApply(manifest: string, dir: string): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}main.ts`, "apply", "--auto-approve", "--quiet", manifest],
    env: { GIT_PASSWORD: TOKEN, TMPDIR: `${dir}/tmp`, NO_COLOR: "1" },
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
}

async function until(what: string, cond: () => boolean, ms = 30_000) {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function rerunConverges(git: GitServer, kube: KubeSandbox, manifest: string, dir: string) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}main.ts`, "apply", "--auto-approve", manifest],
    env: { GIT_PASSWORD: TOKEN, TMPDIR: `${dir}/tmp`, NO_COLOR: "1" },
    stdin: "null",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, text);
  const log = await git.log("fleet", "main");
  assert.equal(log.length, 1, "no second commit with the same content");
  const ks = kube.getObject(
    "kustomize.toolkit.fluxcd.io/v1",
    "Kustomization",
    "flux-system",
    "flux-system",
  ) as {
    status: { lastAppliedRevision: string };
  };
  assert.equal(ks.status.lastAppliedRevision, `main@sha1:${log[0].sha}`);
  const plan = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}main.ts`, "plan", "--detailed-exitcode", manifest],
    env: { GIT_PASSWORD: TOKEN, NO_COLOR: "1" },
    stdin: "null",
  }).output();
  assert.equal(plan.code, 0, new TextDecoder().decode(plan.stdout));
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
    await withEnv(async (git, kube, manifest, dir) => {
      kube.failNext({ ...b.hold, delayMs: 5_000 });
      const child = spawnApply(manifest, dir);
      await until(
        "the held request",
        () =>
          kube.requests.some((r) =>
            r.method === b.hold.method && r.path.includes(b.hold.pathIncludes)
          ),
      );
      child.kill("SIGKILL");
      const status = await child.status;
      assert.equal(status.signal, "SIGKILL");
      await rerunConverges(git, kube, manifest, dir);
    });
  });
}

Deno.test("SIGKILL while waiting for Flux: a re-run converges", async () => {
  await withEnv(async (git, kube, manifest, dir) => {
    kube.setFluxBehaviour("hang");
    const child = spawnApply(manifest, dir);
    await until(
      "the Kustomization",
      () =>
        kube.getObject(
          "kustomize.toolkit.fluxcd.io/v1",
          "Kustomization",
          "flux-system",
          "flux-system",
        ) !== undefined,
    );
    child.kill("SIGKILL");
    await child.status;
    kube.setFluxBehaviour("ready");
    await rerunConverges(git, kube, manifest, dir);
  });
});

Deno.test("two fluxfleet runs at once on the same repository: both finish, history linear, nothing lost", async () => {
  await withEnv(async (git, kube, manifest, dir) => {
    // A second manifest: another cluster (its own API server) with another path in the same repository.
    const other = await startKubeSandbox({ reconcileDelayMs: 10 });
    try {
      await writeKubeconfig(`${dir}/kubeconfig-b`, [{ context: "c1", sandbox: other }]);
      const second = `${dir}/fleet-b.yaml`;
      await Deno.writeTextFile(
        second,
        (await Deno.readTextFile(manifest)).replace("name: c0", "name: c1").replace(
          "clusters/c0",
          "clusters/c1",
        )
          .replace(
            "kubeconfig: ./kubeconfig, context: c0",
            "kubeconfig: ./kubeconfig-b, context: c1",
          ),
      );
      const [sa, sb] = await Promise.all([
        spawnApply(manifest, dir).status,
        spawnApply(second, dir).status,
      ]);
      assert.ok(sa.success && sb.success, "both runs finish");
      for (const p of ["clusters/c0", "clusters/c1"]) {
        assert.ok(
          await git.readFile("fleet", "main", `${p}/flux-system/gotk-sync.yaml`),
          `${p} is in the repository`,
        );
      }
      const merges = await new Deno.Command("git", {
        args: ["--git-dir", `${git.root}/fleet.git`, "rev-list", "--merges", "main"],
      }).output();
      assert.equal(new TextDecoder().decode(merges.stdout), "", "history is linear");
      assert.equal((await git.log("fleet", "main")).length, 2, "one commit per run");
      for (const k of [kube, other]) {
        const ks = k.getObject(
          "kustomize.toolkit.fluxcd.io/v1",
          "Kustomization",
          "flux-system",
          "flux-system",
        ) as {
          status: { conditions: { type: string; status: string }[] };
        };
        assert.equal(ks.status.conditions.find((c) => c.type === "Ready")?.status, "True");
      }
    } finally {
      await other.close();
    }
  });
});
