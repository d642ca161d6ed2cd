/**
 * kubeconfig credential plugins, through the CLI against the local API server: as with kubectl,
 * an exec plugin (or an auth-provider's command) the kubeconfig names is run, and `plan` says
 * which command (its name only); with `kube.execPlugins: deny` such a cluster is refused before
 * anything is run or contacted. The plugin is a real script that leaves a marker file when run.
 */
import assert from "node:assert/strict";
import { type FleetEnv, manifestYaml, tokenGit, withFleetEnv } from "../helpers/harness.ts";
import { outputSchemaErrors } from "../helpers/output_schema.ts";

const TOKEN = "canary-exec-plugin-git-token-51d2";
/** An argument of the plugin: plans show the command's name, never its arguments. */
const ARG = "canary-plugin-argument-9c4e";

/**
 * `${dir}/bin/creds.sh MARK`: touches `${dir}/ran-MARK`, then prints an ExecCredential with the
 * sandbox's token (the gcp auth-provider reads the same JSON through its token-key).
 */
async function writePlugin(env: FleetEnv): Promise<string> {
  await Deno.mkdir(`${env.dir}/bin`);
  const script = `${env.dir}/bin/creds.sh`;
  await Deno.writeTextFile(
    script,
    `#!/bin/sh
touch "${env.dir}/ran-$1"
printf '{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","status":{"token":"%s"}}' "${env.kube.token}"
`,
    { mode: 0o755 },
  );
  return script;
}

/** exec-kubeconfig: context c0-exec (an exec plugin) and c0-gcp (the gcp auth-provider). */
async function writeKubeconfig(env: FleetEnv, script: string): Promise<void> {
  const { cluster } = env.kube.kubeconfigCluster("c0");
  const config = {
    apiVersion: "v1",
    kind: "Config",
    clusters: [cluster],
    users: [
      {
        name: "exec-user",
        user: {
          exec: {
            apiVersion: "client.authentication.k8s.io/v1beta1",
            command: script,
            args: ["exec", ARG],
            interactiveMode: "Never",
          },
        },
      },
      {
        name: "gcp-user",
        user: {
          "auth-provider": {
            name: "gcp",
            config: {
              "cmd-path": script,
              "cmd-args": `gcp ${ARG}`,
              "token-key": "{.status.token}",
              "expiry-key": "{.status.expirationTimestamp}",
            },
          },
        },
      },
    ],
    contexts: [
      { name: "c0-exec", context: { cluster: "c0", user: "exec-user" } },
      { name: "c0-gcp", context: { cluster: "c0", user: "gcp-user" } },
    ],
    "current-context": "c0-exec",
  };
  await Deno.writeTextFile(`${env.dir}/exec-kubeconfig`, JSON.stringify(config, null, 2), {
    mode: 0o600,
  });
}

/** Cluster c0 on repository fleet, its kube settings as given. */
function withEnv(
  kube: { defaults?: string; cluster: string },
  fn: (env: FleetEnv) => Promise<void>,
): Promise<void> {
  return withFleetEnv({
    prefix: "fluxfleet-exec-plugins-",
    git: { users: { git: TOKEN } },
    repos: ["fleet"],
    cliEnv: { GIT_PASSWORD: TOKEN },
    manifest: ({ git }) =>
      manifestYaml({
        git: tokenGit(git.repoUrl("fleet")),
        kubeconfig: null,
        clusters: [{ name: "c0", kube: kube.cluster }],
      }).replace(
        "clusters:\n",
        `  kube: { kubeconfig: ./exec-kubeconfig${kube.defaults ?? ""} }\nclusters:\n`,
      ),
  }, async (env) => {
    await writeKubeconfig(env, await writePlugin(env));
    await fn(env);
  });
}

async function ran(env: FleetEnv, mark: string): Promise<boolean> {
  return await Deno.stat(`${env.dir}/ran-${mark}`).then(() => true, () => false);
}

Deno.test("kube.execPlugins: deny refuses a cluster whose user has an exec plugin, before anything is run or contacted", async () => {
  await withEnv({ defaults: ", execPlugins: deny", cluster: "context: c0-exec" }, async (env) => {
    for (const args of [["plan"], ["apply", "--auto-approve"]]) {
      const r = await env.cli([...args, env.manifest]);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(
        r.stderr,
        /^error: \/\S+\/flux-bootstrap\.yaml:\d+:\d+: cluster "c0": kube\.execPlugins: deny, but the user "exec-user" of context "c0-exec" in kubeconfig \/\S+\/exec-kubeconfig gets its credentials from the exec plugin "creds\.sh" \(users\[\]\.user\.exec\); it was not run\./,
      );
      assert.ok(!(r.stdout + r.stderr).includes(ARG), "the plugin's arguments were printed");
    }
    assert.equal(await ran(env, "exec"), false, "the exec plugin was run");
    assert.deepEqual(env.kube.requests, [], "the cluster was contacted");
    assert.deepEqual(env.git.requests, [], "the git server was contacted");
  });
});

Deno.test("kube.execPlugins: deny on a cluster refuses the gcp auth-provider's command too", async () => {
  await withEnv({ cluster: "context: c0-gcp, execPlugins: deny" }, async (env) => {
    const r = await env.cli(["plan", env.manifest]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(
      r.stderr,
      /cluster "c0": kube\.execPlugins: deny, but the user "gcp-user" of context "c0-gcp" in kubeconfig \S+ gets its credentials from the auth-provider gcp command "creds\.sh"/,
    );
    assert.equal(await ran(env, "gcp"), false, "the auth-provider's command was run");
    assert.deepEqual(env.kube.requests, []);
  });
});

Deno.test("exec plugins are allowed by default, as with kubectl: plan names the command the credentials come from", async () => {
  await withEnv({ cluster: "context: c0-exec" }, async (env) => {
    const r = await env.cli(["plan", env.manifest]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /\n {2}> credentials from exec plugin: creds\.sh\n/);
    assert.ok(!(r.stdout + r.stderr).includes(ARG), "the plugin's arguments were printed");
    assert.ok(!r.stdout.includes(`${env.dir}/bin`), "the plugin's folder was printed");
    assert.equal(await ran(env, "exec"), true, "the exec plugin was not run");
    const json = await env.cli(["plan", "--output", "json", env.manifest]);
    const doc = JSON.parse(json.stdout);
    assert.deepEqual(outputSchemaErrors(doc), []);
    assert.deepEqual(doc.clusters[0].kubeCredentials, { plugin: "exec", command: "creds.sh" });
  });
});

Deno.test("the gcp auth-provider's command runs when allowed, and plan names it", async () => {
  await withEnv({ defaults: ", execPlugins: allow", cluster: "context: c0-gcp" }, async (env) => {
    const r = await env.cli(["plan", "--output", "json", env.manifest]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const doc = JSON.parse(r.stdout);
    assert.deepEqual(outputSchemaErrors(doc), []);
    assert.deepEqual(doc.clusters[0].kubeCredentials, {
      plugin: "auth-provider",
      provider: "gcp",
      command: "creds.sh",
    });
    assert.equal(await ran(env, "gcp"), true, "the auth-provider's command was not run");
  });
});
