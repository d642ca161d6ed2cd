/** Kubeconfig reading: merged files, relative paths, tokens, and exec plugins through client-node. */
import assert from "node:assert/strict";
import { resolveKubeContext, simpleConnection } from "../../lib/kube/kubeconfig.ts";
import { createKubeClient } from "../../lib/kube/client.ts";
import { startKubeSandbox } from "../../sandbox/kube/server.ts";

Deno.test("KUBECONFIG with two files: first file wins per name, relative CA paths, token file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/ca.pem`, "CA-PEM");
    await Deno.writeTextFile(`${dir}/token`, "tok-from-file\n");
    await Deno.writeTextFile(
      `${dir}/a.yaml`,
      `clusters: [{ name: one, cluster: { server: "https://one.example:6443/", certificate-authority: ca.pem } }]
users: [{ name: u, user: { tokenFile: token } }]
contexts: [{ name: one, context: { cluster: one, user: u } }]
current-context: one
`,
    );
    await Deno.writeTextFile(
      `${dir}/b.yaml`,
      `clusters: [{ name: one, cluster: { server: "https://ignored" } }, { name: two, cluster: { server: "https://two" } }]
users: [{ name: v, user: { username: admin, password: pw } }]
contexts: [{ name: two, context: { cluster: two, user: v } }]
current-context: two
`,
    );
    const prev = Deno.env.get("KUBECONFIG");
    Deno.env.set("KUBECONFIG", `${dir}/a.yaml:${dir}/b.yaml`);
    try {
      assert.equal(resolveKubeContext({}), "one");
      const one = simpleConnection({})!;
      assert.equal(one.server, "https://one.example:6443");
      assert.equal(one.ca, "CA-PEM");
      assert.equal(one.headers.Authorization, "Bearer tok-from-file");
      const two = simpleConnection({ context: "two" })!;
      assert.equal(two.server, "https://two");
      assert.equal(two.headers.Authorization, `Basic ${btoa("admin:pw")}`);
      assert.throws(
        () => resolveKubeContext({ context: "three" }),
        /context "three" is not in kubeconfig .* \(contexts: one, two\)/,
      );
    } finally {
      if (prev === undefined) Deno.env.delete("KUBECONFIG");
      else Deno.env.set("KUBECONFIG", prev);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an exec credential plugin (EKS/GKE style) is handled by client-node, loaded only then", async () => {
  const kube = await startKubeSandbox();
  const dir = await Deno.makeTempDir();
  try {
    const plugin = `${dir}/creds.sh`;
    await Deno.writeTextFile(
      plugin,
      `#!/bin/sh\nprintf '{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","status":{"token":"%s"}}' "${kube.token}"\n`,
      { mode: 0o755 },
    );
    const file = `${dir}/kubeconfig`;
    await Deno.writeTextFile(
      file,
      `apiVersion: v1
kind: Config
clusters: [{ name: s, cluster: { server: "${kube.url}", certificate-authority-data: "${
        btoa(kube.caPem)
      }" } }]
users: [{ name: e, user: { exec: { apiVersion: client.authentication.k8s.io/v1beta1, command: "${plugin}", interactiveMode: Never } } }]
contexts: [{ name: s, context: { cluster: s, user: e } }]
current-context: s
`,
    );
    assert.equal(
      simpleConnection({ kubeconfig: file }),
      undefined,
      "exec users go to the plugin path",
    );
    const client = await createKubeClient({ kubeconfig: file });
    try {
      const ns = await client.get("/api/v1/namespaces/default");
      assert.equal((ns?.metadata as { name: string }).name, "default");
    } finally {
      client.close();
    }
  } finally {
    await kube.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("kubeconfig YAML: block scalars, anchors and quoting read as kubectl reads them; an error names the line, never a tag, alias or value from it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/kubeconfig`,
      `apiVersion: v1
kind: Config
clusters:
- name: one
  cluster: &c
    server: 'https://one.example:6443'
    certificate-authority-data: >-
      ${btoa("CA-ONE")}
- name: two
  cluster: *c
users:
- name: u
  user:
    token: "tok-one"
contexts:
- {name: one, context: {cluster: one, user: u}}
- {name: two, context: {cluster: two, user: u}}
current-context: one
`,
    );
    const one = simpleConnection({ kubeconfig: `${dir}/kubeconfig` })!;
    assert.equal(one.server, "https://one.example:6443");
    assert.equal(one.ca, "CA-ONE");
    assert.equal(one.headers.Authorization, "Bearer tok-one");
    const two = simpleConnection({ kubeconfig: `${dir}/kubeconfig`, context: "two" })!;
    assert.equal(two.server, "https://one.example:6443");

    for (
      const [name, line] of [
        ["tag", "    token: !<canary-tag-71c> x"],
        ["alias", "    token: *canary-alias-71c"],
        ["value", "    token: canary-value-71c: {"],
      ]
    ) {
      const file = `${dir}/bad-${name}`;
      await Deno.writeTextFile(file, `users:\n- name: u\n  user:\n${line}\n`);
      const err = (() => {
        try {
          resolveKubeContext({ kubeconfig: file, context: "x" });
        } catch (e) {
          return (e as Error).message;
        }
        return "";
      })();
      assert.match(err, new RegExp(`${file} is not valid YAML at line 4, column \\d+`), name);
      assert.ok(!err.includes("canary"), err);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
