/**
 * flux.recurseSubmodules, flux.sourceProvider and flux.registryCredentials end to end through the
 * real CLI: the real git http-backend and the local Kubernetes API server, whose Flux stand-in
 * fetches the repository with the source secret fluxfleet stored.
 */
import assert from "node:assert/strict";
import {
  assertTempClean,
  type CommandResult,
  type FleetEnv,
  fluxObject,
  manifestYaml,
  tokenGit,
  withFleetEnv,
} from "../helpers/harness.ts";
import type { KubeSandbox } from "../../sandbox/kube/server.ts";
import { createKubeClient } from "../../lib/kube/client.ts";
import { outputSchemaErrors } from "../helpers/output_schema.ts";

const RUN = crypto.randomUUID().slice(0, 8);
const GIT_TOKEN = `canary-sync-options-token-${RUN}`;
const PASSWORD = `canary-registry-password-${RUN}`;
const NEW_PASSWORD = `canary-registry-password-new-${RUN}`;
const REGISTRY_HOST = "registry.example.com:5000";
const PULL_SECRET_PATH = "/api/v1/namespaces/flux-system/secrets/regcred";

/** One cluster c0 on repository fleet, with the three options set. */
function withEnv(fn: (env: FleetEnv) => Promise<void>): Promise<void> {
  return withFleetEnv({
    prefix: "fluxfleet-sync-options-",
    git: { users: { git: GIT_TOKEN } },
    repos: ["fleet"],
    // Request bodies are kept, to check where the registry password travels.
    kube: { reconcileDelayMs: 20, recordBodies: true },
    cliEnv: { GIT_PASSWORD: GIT_TOKEN },
    manifest: ({ git }) =>
      manifestYaml({
        git: tokenGit(git.repoUrl("fleet")),
        clusters: [{
          name: "c0",
          lines: [
            "flux:",
            "  recurseSubmodules: true",
            "  sourceProvider: generic",
            `  registry: ${REGISTRY_HOST}/fluxcd`,
            "  imagePullSecret: regcred",
            "  registryCredentials: { username: fluxbot, password: { env: REGISTRY_PASSWORD } }",
          ],
        }],
      }),
  }, fn);
}

function cli(env: FleetEnv, args: string[], password = PASSWORD): Promise<CommandResult> {
  return env.cli(args, { REGISTRY_PASSWORD: password });
}

/** The flux-system GitRepository's spec, as the sandbox stores it. */
function gitRepositorySpec(kube: KubeSandbox): Record<string, unknown> {
  return (fluxObject(kube, "GitRepository") as { spec: Record<string, unknown> }).spec;
}

const b64 = (s: string) => btoa(String.fromCharCode(...new TextEncoder().encode(s)));

/** The password as it is, in a Secret's base64, and in the docker `auth` (base64 user:password). */
function needles(password: string): string[] {
  return [password, b64(password), b64(`fluxbot:${password}`)];
}

function assertNoPassword(results: CommandResult[], ...passwords: string[]) {
  for (const [i, r] of results.entries()) {
    for (const n of passwords.flatMap(needles)) {
      assert.ok(!r.stdout.includes(n), `registry password leaked to stdout of command #${i}`);
      assert.ok(!r.stderr.includes(n), `registry password leaked to stderr of command #${i}`);
    }
  }
}

interface LiveSecret {
  type: string;
  metadata: { annotations?: Record<string, string> };
  data: Record<string, string>;
}

function pullSecret(kube: KubeSandbox): LiveSecret | undefined {
  return kube.getObject("v1", "Secret", "flux-system", "regcred") as LiveSecret | undefined;
}

/** The docker config the secret holds, with its `auth` decoded. */
function dockerLogin(secret: LiveSecret) {
  const config = JSON.parse(atob(secret.data[".dockerconfigjson"])) as {
    auths: Record<string, { username: string; password: string; auth: string }>;
  };
  // Keyed by the registry option as given, as flux does.
  assert.deepEqual(Object.keys(config.auths), [`${REGISTRY_HOST}/fluxcd`]);
  const entry = config.auths[`${REGISTRY_HOST}/fluxcd`];
  return { ...entry, decodedAuth: atob(entry.auth) };
}

Deno.test("recurseSubmodules, sourceProvider, registryCredentials: applied, converged, password rotated, never printed", async () => {
  await withEnv(async (env) => {
    const outputs: CommandResult[] = [];
    const run = async (args: string[], password = PASSWORD) => {
      const r = await cli(env, args, password);
      outputs.push(r);
      return r;
    };

    // Plan: the pull secret is created after the components, before the source secret.
    const plan = await run(["plan", "--output", "json", env.manifest]);
    assert.equal(plan.code, 0, plan.stderr);
    const doc = JSON.parse(plan.stdout);
    assert.deepEqual(outputSchemaErrors(doc), []);
    const kinds = doc.clusters[0].steps.map((s: { kind: string }) => s.kind);
    assert.deepEqual(
      [...new Set(kinds)],
      ["file", "namespace", "components", "pullSecret", "secret", "sync"],
    );
    assert.deepEqual(
      doc.clusters[0].steps.find((s: { kind: string }) => s.kind === "pullSecret"),
      {
        kind: "pullSecret",
        action: "create",
        namespace: "flux-system",
        name: "regcred",
        reason: `kubernetes.io/dockerconfigjson for ${REGISTRY_HOST}/fluxcd`,
      },
    );

    const apply = await run(["apply", "--auto-approve", env.manifest]);
    assert.equal(apply.code, 0, apply.stdout + apply.stderr);
    assert.match(apply.stdout, /c0: changed \(\d+ steps\), synced main@sha1:[0-9a-f]{40}/);

    // The GitRepository in the API and gotk-sync.yaml in git carry both fields.
    const repo = gitRepositorySpec(env.kube);
    assert.equal(repo.recurseSubmodules, true);
    assert.equal(repo.provider, "generic");
    const sync = await env.git.readFile("fleet", "main", "clusters/c0/flux-system/gotk-sync.yaml");
    assert.match(
      sync ?? "",
      /\nspec:\n {2}interval: 1m0s\n {2}provider: generic\n {2}recurseSubmodules: true\n {2}ref:\n/,
    );

    // The pull secret: dockerconfigjson for the registry host, auth = base64(user:password).
    const secret = pullSecret(env.kube)!;
    assert.equal(secret.type, "kubernetes.io/dockerconfigjson");
    assert.deepEqual(Object.keys(secret.data), [".dockerconfigjson"]);
    assert.ok(secret.metadata.annotations?.["fluxfleet.dev/credentials-digest"]);
    const login = dockerLogin(secret);
    assert.equal(login.decodedAuth, `fluxbot:${PASSWORD}`);
    assert.equal(login.username, "fluxbot");
    assert.equal(login.password, PASSWORD);
    // The controllers pull with it.
    const deployment = env.kube.getObject(
      "apps/v1",
      "Deployment",
      "flux-system",
      "source-controller",
    ) as {
      spec: { template: { spec: { imagePullSecrets?: unknown; containers: { image: string }[] } } };
    };
    assert.deepEqual(deployment.spec.template.spec.imagePullSecrets, [{ name: "regcred" }]);
    assert.match(
      deployment.spec.template.spec.containers[0].image,
      /^registry\.example\.com:5000\//,
    );

    // Second plan: nothing to do.
    const replan = await run(["plan", "--detailed-exitcode", env.manifest]);
    assert.equal(replan.code, 0, replan.stdout + replan.stderr);
    assert.match(replan.stdout, /No changes\. Every cluster matches the manifest\./);

    // A new password in the environment: exactly one step, the pull secret's update.
    const rotated = await run(["plan", "--detailed-exitcode", env.manifest], NEW_PASSWORD);
    assert.equal(rotated.code, 2, rotated.stdout + rotated.stderr);
    assert.match(
      rotated.stdout,
      /\n {2}~ update image pull secret flux-system\/regcred \(password changed\)\n/,
    );
    assert.match(rotated.stdout, /Plan: 1 change in 1 cluster, 0 unchanged\./);
    const rotatedJson = await run(["plan", "--output", "json", env.manifest], NEW_PASSWORD);
    const rotatedDoc = JSON.parse(rotatedJson.stdout);
    assert.deepEqual(outputSchemaErrors(rotatedDoc), []);
    assert.deepEqual(rotatedDoc.clusters[0].steps, [{
      kind: "pullSecret",
      action: "update",
      namespace: "flux-system",
      name: "regcred",
      reason: "password changed",
    }]);
    const pushes = env.git.pushCount();
    const reapply = await run(["apply", "--auto-approve", env.manifest], NEW_PASSWORD);
    assert.equal(reapply.code, 0, reapply.stdout + reapply.stderr);
    assert.match(reapply.stdout, /c0: changed \(1 step\)/);
    assert.equal(env.git.pushCount(), pushes, "a password change commits nothing");
    assert.equal(dockerLogin(pullSecret(env.kube)!).decodedAuth, `fluxbot:${NEW_PASSWORD}`);
    const converged = await run(["plan", "--detailed-exitcode", env.manifest], NEW_PASSWORD);
    assert.equal(converged.code, 0, converged.stdout + converged.stderr);

    // Someone edits the secret in the cluster: reported, left alone (the manifest did not change).
    const client = await createKubeClient({ kubeconfig: `${env.dir}/kubeconfig`, context: "c0" });
    try {
      const edited = `{"auths":{"${REGISTRY_HOST}/fluxcd":{"auth":"${
        b64("fluxbot:edited-by-hand")
      }"}}}`;
      await client.mergePatch(PULL_SECRET_PATH, { data: { ".dockerconfigjson": b64(edited) } });
    } finally {
      client.close();
    }
    const drift = await run(["plan", "--detailed-exitcode", env.manifest], NEW_PASSWORD);
    assert.equal(drift.code, 0, drift.stdout + drift.stderr);
    assert.match(
      drift.stdout,
      /! image pull secret flux-system\/regcred was changed in the cluster; the manifest's registry credentials did not change, so it is left as it is/,
    );

    // Options turned off again: gotk-sync.yaml as without them, the field gone from the API.
    const text = await Deno.readTextFile(env.manifest);
    await Deno.writeTextFile(
      env.manifest,
      text.replace("      recurseSubmodules: true\n", "").replace(
        "      sourceProvider: generic\n",
        "",
      ),
    );
    const off = await run(["plan", env.manifest], NEW_PASSWORD);
    assert.match(
      off.stdout,
      /~ commit clusters\/c0\/flux-system\/gotk-sync\.yaml \(content differs from the manifest\)\n(.*\n)* {2}~ update GitRepository flux-system\/flux-system \(spec\.recurseSubmodules changed\)\n/,
    );
    const offApply = await run(["apply", "--auto-approve", env.manifest], NEW_PASSWORD);
    assert.equal(offApply.code, 0, offApply.stdout + offApply.stderr);
    const offRepo = gitRepositorySpec(env.kube);
    assert.equal(offRepo.recurseSubmodules, undefined);
    assert.equal(offRepo.provider, undefined);
    const offSync = await env.git.readFile(
      "fleet",
      "main",
      "clusters/c0/flux-system/gotk-sync.yaml",
    );
    assert.doesNotMatch(offSync ?? "", /recurseSubmodules|provider/);
    const offReplan = await run(["plan", "--detailed-exitcode", env.manifest], NEW_PASSWORD);
    assert.equal(offReplan.code, 0, offReplan.stdout + offReplan.stderr);

    // The password never appears in any output, and reaches the API only in the pull secret.
    assertNoPassword(outputs, PASSWORD, NEW_PASSWORD);
    const writes = env.kube.requests.filter((q) => q.body !== undefined);
    const elsewhere = writes.filter((q) => q.path !== PULL_SECRET_PATH);
    for (const q of elsewhere) {
      for (const n of [PASSWORD, NEW_PASSWORD].flatMap(needles)) {
        assert.ok(!q.body!.includes(n), `registry password in ${q.method} ${q.path}`);
      }
    }
    const applied = writes.filter((q) => q.path === PULL_SECRET_PATH && q.method === "PATCH");
    assert.ok(applied.length >= 2, "the pull secret was applied twice (positive control)");

    // destroy --keep-namespace removes the pull secret fluxfleet wrote, with the source secret.
    const destroy = await run(
      ["destroy", "--auto-approve", "--keep-namespace", env.manifest],
      NEW_PASSWORD,
    );
    assert.equal(destroy.code, 0, destroy.stdout + destroy.stderr);
    assert.match(
      destroy.stdout,
      /- delete image pull secret flux-system\/regcred \(namespace kept\)/,
    );
    assert.equal(pullSecret(env.kube), undefined);
    assert.ok(env.kube.getObject("v1", "Namespace", undefined, "flux-system"));
    assertNoPassword([destroy], PASSWORD, NEW_PASSWORD);
    await assertTempClean(env.tmp);
  });
});

Deno.test("registryCredentials: a missing password variable stops the run before anything is contacted", async () => {
  await withEnv(async (env) => {
    const r = await cli(env, ["plan", env.manifest], "");
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /cluster "c0": flux\.registryCredentials\.password: environment variable REGISTRY_PASSWORD is not set/,
    );
    assert.equal(env.git.requests.length, 0);
    assert.equal(env.kube.requests.length, 0);
  });
});
