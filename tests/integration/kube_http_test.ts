/**
 * A kubeconfig whose server is plain http:// is refused unless the manifest opts in with
 * kube.allowInsecureHttp: the bearer token must not cross the network in clear text by accident.
 */
import assert from "node:assert/strict";
import { createKubeClient } from "../../lib/kube/client.ts";
import { parseManifest } from "../../lib/config/load.ts";

const TOKEN = `canary-kube-token-${crypto.randomUUID()}`;

async function withHttpApi(
  fn: (kubeconfig: string, requests: { auth: string | null }[]) => Promise<void>,
) {
  const requests: { auth: string | null }[] = [];
  // Answers like an API server that has no such secret (a Status 404), over plain HTTP.
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    requests.push({ auth: req.headers.get("authorization") });
    return Response.json({
      kind: "Status",
      apiVersion: "v1",
      status: "Failure",
      reason: "NotFound",
      code: 404,
      message: "not found",
    }, { status: 404 });
  });
  const dir = await Deno.makeTempDir();
  try {
    const kubeconfig = `${dir}/kubeconfig`;
    await Deno.writeTextFile(
      kubeconfig,
      `clusters: [{ name: c, cluster: { server: "http://127.0.0.1:${server.addr.port}" } }]
users: [{ name: u, user: { token: ${TOKEN} } }]
contexts: [{ name: plain, context: { cluster: c, user: u } }]
current-context: plain
`,
    );
    await fn(kubeconfig, requests);
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("http:// API server without kube.allowInsecureHttp: refused in words, no request sent", async () => {
  await withHttpApi(async (kubeconfig, requests) => {
    const err = await createKubeClient({ kubeconfig, context: "plain" }).then(
      () => assert.fail("expected a refusal"),
      (e: Error) => e,
    );
    assert.match(
      err.message,
      /kube\.context "plain": the API server http:\/\/127\.0\.0\.1:\d+ is plain http:\/\//,
    );
    assert.match(err.message, /set kube\.allowInsecureHttp: true/);
    assert.ok(!err.message.includes(TOKEN));
    assert.equal(requests.length, 0);
  });
});

Deno.test("http:// API server with kube.allowInsecureHttp: true is used", async () => {
  await withHttpApi(async (kubeconfig, requests) => {
    const client = await createKubeClient({
      kubeconfig,
      context: "plain",
      allowInsecureHttp: true,
    });
    try {
      const secret = await client.get("/api/v1/namespaces/flux-system/secrets/flux-system");
      assert.equal(secret, undefined);
    } finally {
      client.close();
    }
    assert.ok(requests.length >= 1);
    assert.equal(requests[0].auth, `Bearer ${TOKEN}`);
  });
});

Deno.test("kube.allowInsecureHttp is read from the manifest (defaults and per cluster)", () => {
  const m = parseManifest(
    `defaults:
  kube: { allowInsecureHttp: true }
clusters:
  - name: a
    path: clusters/a
    git: { url: "https://g/x.git" }
  - name: b
    path: clusters/b
    git: { url: "https://g/x.git" }
    kube: { context: b, allowInsecureHttp: false }
`,
    "/tmp/fleet/fleet.yaml",
  );
  assert.equal(m.clusters[0].kube.allowInsecureHttp, true);
  assert.equal(m.clusters[1].kube.allowInsecureHttp, undefined);
});
