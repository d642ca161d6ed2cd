/**
 * Kubernetes API faults injected into the local API server (KubeSandbox.failNext): transient ones
 * (429 with Retry-After, 5xx, a dropped answer, no answer in time) are retried with bounded
 * backoff (DEFAULT_RETRY: 4 attempts) and named in words when they persist; permanent ones
 * (401, 403, 404, 409, 422) are answered after exactly one request.
 */
import assert from "node:assert/strict";
import {
  type FleetEnv,
  fluxObject,
  manifestYaml,
  tokenGit,
  withFleetEnv,
} from "../helpers/harness.ts";
import { type KubeSandbox, startKubeSandbox } from "../../sandbox/kube/server.ts";
import {
  createKubeClient,
  type KubeClient,
  type KubeClientOptions,
} from "../../lib/kube/client.ts";
import { DEFAULT_RETRY } from "../../lib/util/retry.ts";

const TOKEN = "canary-kube-fault-token-3b7e";
const SECRET = "/api/v1/namespaces/flux-system/secrets/flux-system";
const GIT_REPOSITORY =
  "/apis/source.toolkit.fluxcd.io/v1/namespaces/flux-system/gitrepositories/flux-system";

/** Cluster c0 on repository fleet. */
function withEnv(fn: (env: FleetEnv) => Promise<void>): Promise<void> {
  return withFleetEnv({
    prefix: "fluxfleet-kube-faults-",
    git: { users: { git: TOKEN } },
    repos: ["fleet"],
    cliEnv: { GIT_PASSWORD: TOKEN },
    manifest: ({ git }) =>
      manifestYaml({ git: tokenGit(git.repoUrl("fleet")), clusters: [{ name: "c0" }] }),
  }, fn);
}

function cli(env: FleetEnv, args: string[]) {
  return env.cli([...args, env.manifest]);
}

/** A client on the sandbox; `token` replaces the kubeconfig user's bearer token. */
async function withClient(
  kube: KubeSandbox,
  opts: { token?: string } & KubeClientOptions,
  fn: (client: KubeClient) => Promise<void>,
) {
  const dir = await Deno.makeTempDir({ prefix: "fluxfleet-kube-client-" });
  let client: KubeClient | undefined;
  try {
    const { cluster, context } = kube.kubeconfigCluster("c0");
    const user = { name: "c0", user: { token: opts.token ?? kube.token } };
    await Deno.writeTextFile(
      `${dir}/kubeconfig`,
      JSON.stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [cluster],
        users: [user],
        contexts: [context],
        "current-context": "c0",
      }),
      { mode: 0o600 },
    );
    client = await createKubeClient({ kubeconfig: `${dir}/kubeconfig`, context: "c0" }, opts);
    await fn(client);
  } finally {
    client?.close();
    await Deno.remove(dir, { recursive: true });
  }
}

function on(kube: KubeSandbox, method: string, path: string) {
  return kube.requests.filter((r) => r.method === method && r.path === path);
}

Deno.test("429 with Retry-After: 1 on the secret GET: plan waits the second asked for, retries, succeeds", async () => {
  await withEnv(async (env) => {
    const apply = await cli(env, ["apply", "--auto-approve"]);
    assert.equal(apply.code, 0, apply.stdout + apply.stderr);
    env.kube.resetRequests();
    env.kube.failNext({ status: 429, retryAfterSeconds: 1, method: "GET", pathIncludes: SECRET });
    const plan = await cli(env, ["plan", "--detailed-exitcode"]);
    assert.equal(plan.code, 0, plan.stdout + plan.stderr);
    assert.match(plan.stdout, /No changes\. Every cluster matches the manifest\./);
    const gets = on(env.kube, "GET", SECRET);
    assert.deepEqual(gets.map((r) => [r.status, r.fault]), [[429, "status"], [200, undefined]]);
    const waited = gets[1].at - gets[0].at;
    // A lower bound only: the client must have honoured Retry-After (1 s, a few ms of clock slack).
    assert.ok(waited >= 950, `retried after ${waited} ms, before the 1 s Retry-After`);
  });
});

Deno.test("500 twice on the Secret's server-side apply: apply retries it, the Secret exists once", async () => {
  await withEnv(async (env) => {
    env.kube.failNext({ status: 500, times: 2, method: "PATCH", pathIncludes: SECRET });
    const apply = await cli(env, ["apply", "--auto-approve"]);
    assert.equal(apply.code, 0, apply.stdout + apply.stderr);
    assert.match(apply.stdout, /c0: changed \(\d+ steps\), synced main@sha1:[0-9a-f]{40}/);
    assert.deepEqual(on(env.kube, "PATCH", SECRET).map((r) => r.status), [500, 500, 201]);
    await withClient(env.kube, {}, async (client) => {
      const list = await client.get("/api/v1/namespaces/flux-system/secrets");
      const names = (list?.items as { metadata: { name: string } }[]).map((s) => s.metadata.name);
      assert.deepEqual(names.filter((n) => n === "flux-system"), ["flux-system"]);
    });
    const replan = await cli(env, ["plan", "--detailed-exitcode"]);
    assert.equal(replan.code, 0, replan.stdout + replan.stderr);
  });
});

Deno.test("503 on every request: the cluster fails in words after 4 attempts per request, nothing pushed", async () => {
  await withEnv(async (env) => {
    env.kube.failNext({ status: 503, times: 20 });
    const apply = await cli(env, ["apply", "--auto-approve"]);
    assert.equal(apply.code, 1, apply.stdout + apply.stderr);
    const m = apply.stdout.match(
      /c0: failed: the API server failed \(503\) on GET (\S+): the server is currently unable to handle the request; retry later/,
    );
    assert.ok(m, apply.stdout);
    assert.match(apply.stdout, /Apply: 0 changed, 0 unchanged, 1 failed\./);
    assert.equal(env.git.pushCount(), 0, "a cluster that cannot be planned gets no commit");
    const reqs = env.kube.requests;
    assert.ok(reqs.length > 0 && reqs.length <= 20, `${reqs.length} requests`);
    assert.ok(reqs.every((r) => r.status === 503), "every request was answered by the fault");
    const attempts = new Map<string, number>();
    for (const r of reqs) attempts.set(r.path, (attempts.get(r.path) ?? 0) + 1);
    assert.equal(attempts.get(m[1]), DEFAULT_RETRY.attempts, `attempts: ${[...attempts]}`);
    for (const [path, n] of attempts) {
      assert.ok(n <= DEFAULT_RETRY.attempts, `${path} was tried ${n} times`);
    }
  });
});

Deno.test("an answer dropped once (connection reset) on the GitRepository apply: retried, apply succeeds", async () => {
  await withEnv(async (env) => {
    env.kube.failNext({ reset: true, method: "PATCH", pathIncludes: GIT_REPOSITORY });
    const apply = await cli(env, ["apply", "--auto-approve"]);
    assert.equal(apply.code, 0, apply.stdout + apply.stderr);
    assert.deepEqual(
      on(env.kube, "PATCH", GIT_REPOSITORY).map((r) => [r.status, r.fault]),
      [[0, "reset"], [201, undefined]],
    );
    assert.ok(fluxObject(env.kube, "GitRepository"));
  });
});

Deno.test("a dropped answer reaches the client as a connection failure, not as a status", async () => {
  await withEnv(async (env) => {
    const once = { attempts: 1, initialDelayMs: 1, maxDelayMs: 1 };
    await withClient(env.kube, { retry: once }, async (client) => {
      env.kube.failNext({ reset: true });
      await assert.rejects(
        client.get("/api/v1/namespaces/default"),
        (e: Error & { status?: number }) => {
          assert.equal(e.status, 0);
          assert.match(e.message, /^cannot reach the cluster API of context "c0" at https:/);
          return true;
        },
      );
      // The connection is still usable: the next request is answered normally.
      assert.ok(await client.get("/api/v1/namespaces/default"));
      assert.deepEqual(env.kube.requests.map((r) => r.status), [0, 200]);
    });
  });
});

Deno.test("401, 403, 404, 409 and 422 are answered after exactly one request (no retry)", async () => {
  const forbidden = "canary-forbidden-token-71c0";
  const kube = await startKubeSandbox({ forbiddenToken: forbidden, sourcePollMs: 0 });
  try {
    const once = async (what: string, fn: () => Promise<void>) => {
      kube.resetRequests();
      await fn();
      assert.equal(kube.requests.length, 1, `${what}: ${kube.requests.length} requests`);
    };
    await withClient(
      kube,
      { token: "canary-wrong-kube-token" },
      (client) =>
        once("401", () =>
          assert.rejects(
            client.get("/api/v1/namespaces/default"),
            /cluster API \(context "c0"\) rejected the credentials \(401 Unauthorized\); refresh the kubeconfig user's token or certificate/,
          )),
    );
    await withClient(kube, { token: forbidden }, (client) =>
      once("403", () =>
        assert.rejects(
          client.get("/api/v1/namespaces/default"),
          /refused GET \/api\/v1\/namespaces\/default \(403 Forbidden\): .*cannot get resource "namespaces".*; bootstrapping needs cluster-admin rights/,
        )));
    await withClient(kube, {}, async (client) => {
      await once("404 get", async () => {
        assert.equal(await client.get("/api/v1/namespaces/default/secrets/missing"), undefined);
      });
      await once("404 patch", () =>
        assert.rejects(
          client.mergePatch("/api/v1/namespaces/default/secrets/missing", { data: {} }),
          /not found \(404\) on PATCH \/api\/v1\/namespaces\/default\/secrets\/missing: secrets "missing" not found/,
        ));
      await once("409", async () => {
        kube.failNext({ status: 409, method: "PATCH" });
        await assert.rejects(
          client.mergePatch("/api/v1/namespaces/default", { metadata: { labels: { a: "b" } } }),
          /conflict \(409 Conflict\) on PATCH \/api\/v1\/namespaces\/default/,
        );
      });
      await once("422", () =>
        assert.rejects(
          client.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: "Not_Valid" } }),
          /the API server rejected the object as invalid \(422\) on PATCH \/api\/v1\/namespaces\/Not_Valid/,
        ));
    });
    assert.deepEqual(kube.mutatingRequests().filter((r) => r.status < 300), []);
  } finally {
    await kube.close();
  }
});

Deno.test("no answer before the per-request timeout: retried 4 times, then named as a timeout", async () => {
  await withEnv(async (env) => {
    await withClient(env.kube, { timeoutMs: 300 }, async (client) => {
      env.kube.failNext({ delayMs: 5_000, times: DEFAULT_RETRY.attempts + 1 });
      await assert.rejects(
        client.get("/api/v1/namespaces/default"),
        (e: Error & { status?: number }) => {
          assert.equal(e.status, 0);
          assert.match(
            e.message,
            /cannot reach the cluster API of context "c0" at https:\/\/127\.0\.0\.1:\d+: no answer before the timeout/,
          );
          return true;
        },
      );
    });
    // Closing ends the delays; the delayed requests (recorded on arrival) are then answered.
    await env.kube.close();
    assert.deepEqual(
      env.kube.requests.map((r) => r.fault),
      Array(DEFAULT_RETRY.attempts).fill("delay"),
    );
  });
});

Deno.test({
  // A reset after the headers arrived used to escape send() as a raw TypeError (the body was
  // read outside the connection-fault handling); it is now retried like a dropped connection.
  name: "an answer cut off mid-body is retried like a dropped connection",
  async fn() {
    await withEnv(async (env) => {
      await withClient(env.kube, {}, async (client) => {
        env.kube.failNext({ reset: "mid-body", method: "GET" });
        const ns = await client.get("/api/v1/namespaces/default");
        assert.equal((ns?.metadata as { name?: string } | undefined)?.name, "default");
        assert.deepEqual(
          env.kube.requests.map((r) => [r.status, r.fault]),
          [[200, "mid-body"], [200, undefined]],
        );
      });
    });
  },
});
