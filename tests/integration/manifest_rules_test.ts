/**
 * Manifest rules that need more than the manifest, through the real CLI: two clusters on one API
 * server and Flux namespace (from the kubeconfig, before anything is contacted), one repository
 * however its URL is spelled (one commit), secret errors naming the manifest's own field, and
 * flux.sparseCheckout turned on and off again on a live GitRepository.
 */
import assert from "node:assert/strict";
import YAML from "yaml";
import { fluxObject, manifestYaml, runCli, tokenGit, withFleetEnv } from "../helpers/harness.ts";
import { apiServerKey } from "../../lib/apply/targets.ts";
import type { KubeSandbox } from "../../sandbox/kube/server.ts";

const RUN = crypto.randomUUID().slice(0, 8);
const TOKEN = `canary-rules-token-${RUN}`;

/** A kubeconfig whose contexts all reach `sandbox`, each with its own spelling of the server. */
async function writeSharedKubeconfig(
  path: string,
  sandbox: KubeSandbox,
  contexts: { name: string; server: string }[],
): Promise<void> {
  const pieces = contexts.map(({ name, server }) => {
    const p = sandbox.kubeconfigCluster(name) as {
      cluster: { name: string; cluster: Record<string, unknown> };
      user: object;
      context: object;
    };
    p.cluster.cluster.server = server;
    return p;
  });
  await Deno.writeTextFile(
    path,
    YAML.stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: pieces.map((p) => p.cluster),
      users: pieces.map((p) => p.user),
      contexts: pieces.map((p) => p.context),
      "current-context": contexts[0].name,
    }),
    { mode: 0o600 },
  );
}

Deno.test("apiServerKey: one key per API server, however the kubeconfig spells it", () => {
  const same = [
    "https://k8s.example.com:6443",
    "https://K8S.Example.com:6443/",
    "HTTPS://k8s.example.com:6443//",
  ];
  for (const s of same) assert.equal(apiServerKey(s), apiServerKey(same[0]), s);
  assert.equal(
    apiServerKey("https://k8s.example.com:443/"),
    apiServerKey("https://k8s.example.com"),
  );
  const different = [
    "https://k8s.example.com:6443",
    "https://k8s.example.com:6444",
    "https://k8s.example.com",
    "http://k8s.example.com",
    "https://k8s.example.com:6443/clusters/a",
    "https://other.example.com:6443",
  ];
  assert.equal(new Set(different.map(apiServerKey)).size, different.length);
});

Deno.test("two clusters on one API server and Flux namespace: refused before anything is contacted, naming both", async () => {
  await withFleetEnv({
    prefix: "fluxfleet-rules-",
    git: { users: { git: TOKEN } },
    repos: ["fleet"],
    cliEnv: { GIT_PASSWORD: TOKEN },
  }, async ({ git, kube, dir, cli }) => {
    const port = new URL(kube.url).port;
    // blue and green on one context; teal on another context name for the same server, spelled
    // differently; red on the same server in another Flux namespace (allowed).
    await writeSharedKubeconfig(`${dir}/kubeconfig`, kube, [
      { name: "shared", server: kube.url },
      { name: "alias", server: `HTTPS://127.0.0.1:${port}/` },
    ]);
    const manifest = `${dir}/fleet.yaml`;
    await Deno.writeTextFile(
      manifest,
      manifestYaml({
        git: tokenGit(git.repoUrl("fleet")),
        clusters: [
          { name: "blue", kube: "context: shared" },
          { name: "green", kube: "context: shared" },
          { name: "teal", kube: "context: alias" },
          { name: "red", kube: "context: alias", lines: ["flux: { namespace: flux-red }"] },
        ],
      }),
    );
    kube.resetRequests();
    git.requests.length = 0;
    for (const args of [["plan"], ["apply", "--auto-approve"], ["plan", "--cluster", "green"]]) {
      const r = await cli([...args, manifest]);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      const lines = r.stderr.trim().split("\n");
      // Placed at the context's value, on the line after the cluster's name.
      const text = (await Deno.readTextFile(manifest)).split("\n");
      const at = (cluster: string) => {
        const line = text.indexOf(`  - name: ${cluster}`) + 1;
        return `${line + 1}:${text[line].indexOf("context: ") + "context: ".length + 1}`;
      };
      const problem = (cluster: string) =>
        `${manifest}:${
          at(cluster)
        }: cluster "${cluster}": kube.context: reaches the same Kubernetes API server (https://127.0.0.1:${port}) and Flux namespace flux-system as cluster "blue": both would be one Flux installation, whose Kustomization syncs only one path; give each cluster its own cluster (kube.context), or its own flux.namespace`;
      assert.deepEqual(lines, [problem("green"), problem("teal")], r.stderr);
    }
    assert.equal(kube.requests.length, 0, "the API server was not contacted");
    assert.equal(git.requests.length, 0, "the git server was not contacted");
    assert.equal(fluxObject(kube, "Kustomization"), undefined);

    // Each in its own namespace, the same server is fine.
    const own = (await Deno.readTextFile(manifest))
      .replace(/(name: green\n.*\n.*\n)/, "$1    flux: { namespace: flux-green }\n")
      .replace(/(name: teal\n.*\n.*\n)/, "$1    flux: { namespace: flux-teal }\n");
    await Deno.writeTextFile(manifest, own);
    const plan = await cli(["plan", "--detailed-exitcode", manifest]);
    assert.equal(plan.code, 2, plan.stdout + plan.stderr);
  });
});

Deno.test("one repository spelled two ways (a trailing /): one commit for both clusters", async () => {
  await withFleetEnv({
    prefix: "fluxfleet-rules-",
    git: { users: { git: TOKEN } },
    repos: ["fleet"],
    contexts: ["c0", "c1"],
    cliEnv: { GIT_PASSWORD: TOKEN },
  }, async ({ git, dir, cli }) => {
    const url = git.repoUrl("fleet");
    const manifest = `${dir}/fleet.yaml`;
    await Deno.writeTextFile(
      manifest,
      manifestYaml({
        git: ["allowInsecureHttp: true", "author: { name: t, email: t@example.com }"],
        clusters: [
          { name: "c0", git: [`url: ${url}`] },
          // git reads it as the same repository (the cluster's git ls-remote works with it).
          { name: "c1", git: [`url: ${url}/`] },
        ],
      }),
    );
    const apply = await cli(["apply", "--auto-approve", manifest]);
    assert.equal(apply.code, 0, apply.stdout + apply.stderr);
    const log = await git.log("fleet", "main");
    assert.deepEqual(log.map((c) => c.message), ["Add Flux v2.4.0 manifests for clusters c0, c1"]);
    assert.equal(git.pushCount(), 1);
    const replan = await cli(["plan", "--detailed-exitcode", manifest]);
    assert.equal(replan.code, 0, replan.stdout + replan.stderr);
  });
});

Deno.test("secret errors through the CLI: the manifest's field (git.token for Bitbucket), file and place; short secrets refused unseen", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fluxfleet-rules-" });
  try {
    const manifest = `${dir}/fleet.yaml`;
    await Deno.writeTextFile(
      manifest,
      `defaults:
  flux: { version: v2.4.0, manifests: ./install.yaml }
clusters:
  - name: bb
    path: clusters/bb
    git: { provider: bitbucket-server, hostname: 127.0.0.1:1, owner: me, personal: true, repository: fleet }
  - name: gen
    path: clusters/gen
    git: { url: "https://127.0.0.1:1/fleet.git", auth: { type: token, token: { env: GEN_TOKEN } } }
`,
    );
    const missing = await runCli(["plan", manifest]);
    assert.equal(missing.code, 1, missing.stdout + missing.stderr);
    assert.equal(
      missing.stderr,
      `error: ${manifest}:6:10: cluster "bb": git.token: environment variable BITBUCKET_TOKEN is not set\n`,
    );
    const short = await runCli(["plan", "--cluster", "gen", manifest], { GEN_TOKEN: "pw1234" });
    assert.equal(short.code, 1, short.stdout + short.stderr);
    assert.equal(
      short.stderr,
      `error: ${manifest}:9:78: cluster "gen": git.auth.token: the secret read from environment variable GEN_TOKEN is shorter than 8 characters; fluxfleet refuses secrets that short (they could not be masked in its output)\n`,
    );
    assert.ok(!short.stdout.includes("pw1234") && !short.stderr.includes("pw1234"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("flux.sparseCheckout: written to gotk-sync.yaml and the GitRepository; off again is an update that removes it", async () => {
  await withFleetEnv({
    prefix: "fluxfleet-rules-",
    git: { users: { git: TOKEN } },
    repos: ["fleet"],
    cliEnv: { GIT_PASSWORD: TOKEN },
    manifest: ({ git }) =>
      manifestYaml({
        git: tokenGit(git.repoUrl("fleet")),
        clusters: [{ name: "c0", lines: ["flux: { sparseCheckout: [clusters/c0, apps] }"] }],
      }),
  }, async ({ git, kube, manifest, cli }) => {
    const spec = () =>
      (fluxObject(kube, "GitRepository") as { spec: Record<string, unknown> }).spec;
    const apply = await cli(["apply", "--auto-approve", manifest]);
    assert.equal(apply.code, 0, apply.stdout + apply.stderr);
    assert.deepEqual(spec().sparseCheckout, ["clusters/c0", "apps"]);
    const sync = await git.readFile("fleet", "main", "clusters/c0/flux-system/gotk-sync.yaml");
    assert.match(
      sync ?? "",
      /\n {2}secretRef:\n {4}name: flux-system\n {2}sparseCheckout:\n {2}- clusters\/c0\n {2}- apps\n {2}url: /,
    );
    const same = await cli(["plan", "--detailed-exitcode", manifest]);
    assert.equal(same.code, 0, same.stdout + same.stderr);

    await Deno.writeTextFile(
      manifest,
      (await Deno.readTextFile(manifest)).replace(
        "    flux: { sparseCheckout: [clusters/c0, apps] }\n",
        "",
      ),
    );
    const off = await cli(["plan", "--detailed-exitcode", manifest]);
    assert.equal(off.code, 2, off.stdout + off.stderr);
    assert.match(
      off.stdout,
      /~ update GitRepository flux-system\/flux-system \(spec\.sparseCheckout changed\)/,
    );
    const offApply = await cli(["apply", "--auto-approve", manifest]);
    assert.equal(offApply.code, 0, offApply.stdout + offApply.stderr);
    assert.equal(spec().sparseCheckout, undefined);
    const offSync = await git.readFile("fleet", "main", "clusters/c0/flux-system/gotk-sync.yaml");
    assert.doesNotMatch(offSync ?? "", /sparseCheckout/);
    const replan = await cli(["plan", "--detailed-exitcode", manifest]);
    assert.equal(replan.code, 0, replan.stdout + replan.stderr);
  });
});
