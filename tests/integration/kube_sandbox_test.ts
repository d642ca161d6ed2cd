/**
 * Fidelity tests for the sandbox Kubernetes API server, driven by the real kubectl (1.32)
 * and Deno's fetch over verified TLS. Each test starts and stops its own sandbox.
 */

import assert from "node:assert/strict";
import { writeKubeconfig } from "../../sandbox/kube/kubeconfig.ts";
import {
  type KubeSandbox,
  type KubeSandboxOptions,
  startKubeSandbox,
} from "../../sandbox/kube/server.ts";
import { type CommandResult as Run, fluxObject, runCommand } from "../helpers/harness.ts";
import { missing } from "../helpers/tools.ts";

interface Env {
  sb: KubeSandbox;
  dir: string;
  kubeconfig: string;
  kubectl(...args: string[]): Promise<Run>;
  /** `kubectl apply --server-side` of a file, as field manager `manager`. */
  apply(manager: string, path: string): Promise<Run>;
  /** Writes YAML to a file in the temp dir and returns its path. */
  file(name: string, text: string): Promise<string>;
}

function runKubectl(kubeconfig: string, args: string[]): Promise<Run> {
  // A private cache dir: a discovery cache from an earlier sandbox on the same port must not leak in.
  return runCommand("kubectl", [
    "--kubeconfig",
    kubeconfig,
    "--cache-dir",
    `${kubeconfig}.cache`,
    ...args,
  ]);
}

/** Starts a sandbox + kubeconfig in a temp dir, runs fn, and always tears both down. */
async function withSandbox(
  opts: KubeSandboxOptions,
  fn: (env: Env) => Promise<void>,
): Promise<void> {
  const sb = await startKubeSandbox(opts);
  const dir = await Deno.makeTempDir({ prefix: "kube-sandbox-test-" });
  try {
    const kubeconfig = `${dir}/kubeconfig`;
    await writeKubeconfig(kubeconfig, [{ context: "sandbox", sandbox: sb }]);
    await fn({
      sb,
      dir,
      kubeconfig,
      kubectl: (...args) => runKubectl(kubeconfig, args),
      apply: (manager, path) =>
        runKubectl(kubeconfig, [
          "apply",
          "--server-side",
          `--field-manager=${manager}`,
          "-f",
          path,
        ]),
      file: async (name, text) => {
        await Deno.writeTextFile(`${dir}/${name}`, text);
        return `${dir}/${name}`;
      },
    });
  } finally {
    await sb.close();
    await Deno.remove(dir, { recursive: true });
  }
}

function ok(r: Run, what: string): string {
  assert.equal(r.code, 0, `${what} failed: ${r.stderr}`);
  return r.stdout;
}

/** A namespaced v1 CRD whose objects keep every field; `columns` as additionalPrinterColumns. */
function crdYaml(
  c: { group: string; kind: string; plural: string; shortName: string; columns?: string[] },
): string {
  const columns = c.columns
    ? `      additionalPrinterColumns:\n${c.columns.map((col) => `        - ${col}\n`).join("")}`
    : "";
  return `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: ${c.plural}.${c.group}
spec:
  group: ${c.group}
  names: {kind: ${c.kind}, plural: ${c.plural}, singular: ${c.kind.toLowerCase()}, listKind: ${c.kind}List, shortNames: [${c.shortName}]}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      subresources: {status: {}}
${columns}      schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
`;
}

const GITREPOSITORY_CRD = crdYaml({
  group: "source.toolkit.fluxcd.io",
  kind: "GitRepository",
  plural: "gitrepositories",
  shortName: "gitrepo",
  columns: [
    "{name: URL, type: string, jsonPath: .spec.url}",
    `{name: Ready, type: string, jsonPath: '.status.conditions[?(@.type=="Ready")].status'}`,
  ],
});

const KUSTOMIZATION_CRD = crdYaml({
  group: "kustomize.toolkit.fluxcd.io",
  kind: "Kustomization",
  plural: "kustomizations",
  shortName: "ks",
});

const BASE_MANIFEST = `
apiVersion: v1
kind: Namespace
metadata:
  name: x
---
apiVersion: v1
kind: Secret
metadata:
  name: creds
  namespace: x
stringData:
  username: git
  password: s3cret
---${GITREPOSITORY_CRD}`;

Deno.test({
  name:
    "kubectl server-side apply: namespace, secret stringData, CRD, no-op re-apply, custom object",
  ignore: missing("kubectl"),
}, async () => {
  await withSandbox({}, async ({ sb, kubectl, apply, file }) => {
    const manifest = await file("base.yaml", BASE_MANIFEST);
    const applied = ok(await apply("test", manifest), "apply");
    assert.match(applied, /secret\/creds serverside-applied/);
    assert.match(
      applied,
      /customresourcedefinition.apiextensions.k8s.io\/gitrepositories.source.toolkit.fluxcd.io/,
    );

    const secret = JSON.parse(
      ok(await kubectl("get", "secret", "-n", "x", "creds", "-o", "json"), "get secret"),
    );
    assert.deepEqual(secret.data, { username: btoa("git"), password: btoa("s3cret") });
    assert.equal(secret.stringData, undefined);
    assert.equal(secret.metadata.generation, undefined, "secrets carry no generation");
    assert.equal(
      secret.metadata.managedFields,
      undefined,
      "kubectl hides managedFields by default",
    );

    assert.match(ok(await kubectl("get", "ns"), "get ns"), /^x\s+\d+s$/m);

    const before = sb.requests.length;
    ok(await apply("test", manifest), "re-apply");
    const again = JSON.parse(
      ok(await kubectl("get", "secret", "-n", "x", "creds", "-o", "json"), "get secret"),
    );
    assert.equal(
      again.metadata.resourceVersion,
      secret.metadata.resourceVersion,
      "no-op apply keeps resourceVersion",
    );
    const applies = sb.requests.slice(before).filter((r) => r.method === "PATCH");
    assert.equal(applies.length, 3);
    assert.ok(
      applies.every((r) => r.contentType === "application/apply-patch+yaml" && r.status === 200),
    );

    const stored = sb.getObject("v1", "Secret", "x", "creds");
    const managed =
      (stored?.metadata as { managedFields: { manager: string; operation: string }[] })
        .managedFields;
    assert.deepEqual(managed.map((m) => [m.manager, m.operation]), [["test", "Apply"]]);

    const crd = sb.getObject(
      "apiextensions.k8s.io/v1",
      "CustomResourceDefinition",
      undefined,
      "gitrepositories.source.toolkit.fluxcd.io",
    );
    const conds = (crd?.status as { conditions: { type: string; status: string }[] }).conditions;
    assert.deepEqual(conds.map((c) => [c.type, c.status]), [["NamesAccepted", "True"], [
      "Established",
      "True",
    ]]);

    const repo = await file(
      "repo.yaml",
      `
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: demo, namespace: x}
spec: {url: "ssh://git@example.com/demo.git", interval: 1m}
`,
    );
    ok(await apply("test", repo), "apply custom object");
    const list = ok(await kubectl("get", "gitrepositories", "-n", "x"), "get gitrepositories");
    assert.match(list, /^NAME\s+URL\s+READY\s+AGE$/m);
    assert.match(list, /^demo\s+ssh:\/\/git@example.com\/demo.git\s/m);
    ok(await kubectl("get", "gitrepo", "demo", "-n", "x"), "short name resolves via discovery");
  });
});

Deno.test({
  name: "kubectl delete then get reports NotFound",
  ignore: missing("kubectl"),
}, async () => {
  await withSandbox({}, async ({ kubectl, apply, file }) => {
    ok(await apply("test", await file("base.yaml", BASE_MANIFEST)), "apply");
    assert.match(
      ok(await kubectl("delete", "secret", "creds", "-n", "x"), "delete"),
      /secret "creds" deleted/,
    );
    const get = await kubectl("get", "secret", "creds", "-n", "x");
    assert.notEqual(get.code, 0);
    assert.match(get.stderr, /NotFound/);
    assert.match(get.stderr, /secrets "creds" not found/);
  });
});

Deno.test({
  name: "kubectl create ns twice fails with AlreadyExists; deleting a namespace empties it",
  ignore: missing("kubectl"),
}, async () => {
  await withSandbox({}, async ({ sb, kubectl }) => {
    ok(await kubectl("create", "ns", "a"), "create ns");
    const second = await kubectl("create", "ns", "a");
    assert.notEqual(second.code, 0);
    assert.match(second.stderr, /AlreadyExists/);
    ok(
      await kubectl("create", "secret", "generic", "s", "-n", "a", "--from-literal=k=v"),
      "create secret (protobuf)",
    );
    assert.equal(
      (sb.getObject("v1", "Secret", "a", "s")?.data as Record<string, string>).k,
      btoa("v"),
    );
    ok(await kubectl("delete", "ns", "a"), "delete ns");
    assert.equal(sb.getObject("v1", "Secret", "a", "s"), undefined);
  });
});

Deno.test({
  name: "kubectl rollout status: Deployments become available via the stand-in",
  ignore: missing("kubectl"),
}, async () => {
  await withSandbox({ reconcileDelayMs: 10 }, async ({ sb, kubectl, apply, file }) => {
    const deploy = await file(
      "deploy.yaml",
      `
apiVersion: apps/v1
kind: Deployment
metadata: {name: source-controller, namespace: default}
spec:
  replicas: 2
  selector: {matchLabels: {app: source-controller}}
  template:
    metadata: {labels: {app: source-controller}}
    spec: {containers: [{name: manager, image: ghcr.io/fluxcd/source-controller}]}
`,
    );
    ok(await apply("test", deploy), "apply deployment");
    const rollout = ok(
      await kubectl("rollout", "status", "deployment/source-controller", "--timeout=10s"),
      "rollout status",
    );
    assert.match(rollout, /successfully rolled out/);
    const status = sb.getObject("apps/v1", "Deployment", "default", "source-controller")?.status;
    assert.equal((status as Record<string, unknown>).availableReplicas, 2);
  });
});

Deno.test({
  name: "wrong token is Unauthorized; forbiddenToken is forbidden",
  ignore: missing("kubectl"),
}, async () => {
  await withSandbox({ token: "right", forbiddenToken: "denied" }, async ({ sb, dir }) => {
    const kc = await Deno.readTextFile(`${dir}/kubeconfig`);
    await Deno.writeTextFile(`${dir}/bad`, kc.replace("token: right", "token: wrong"));
    await Deno.writeTextFile(`${dir}/forbidden`, kc.replace("token: right", "token: denied"));
    const bad = await runKubectl(`${dir}/bad`, ["get", "secrets", "-n", "flux-system"]);
    assert.notEqual(bad.code, 0);
    // client-go words a 401 during discovery as "provide credentials", later ones "(Unauthorized)".
    assert.match(
      bad.stderr,
      /You must be logged in to the server \((Unauthorized|the server has asked for the client to provide credentials)\)/,
    );
    const denied = await runKubectl(`${dir}/forbidden`, [
      "get",
      "secret",
      "x",
      "-n",
      "flux-system",
    ]);
    assert.notEqual(denied.code, 0);
    assert.match(denied.stderr, /forbidden/);
    assert.match(
      denied.stderr,
      /cannot get resource "secrets" in API group "" in the namespace "flux-system"/,
    );
    assert.ok(
      sb.requests.some((r) => r.status === 401) && sb.requests.some((r) => r.status === 403),
    );
  });
});

async function git(cwd: string, ...args: string[]): Promise<string> {
  const out = await new Deno.Command("git", {
    args: ["-c", "user.email=test@example.com", "-c", "user.name=test", ...args],
    cwd,
    env: { GIT_TERMINAL_PROMPT: "0" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  assert.ok(out.success, `git ${args.join(" ")}: ${dec.decode(out.stderr)}`);
  return dec.decode(out.stdout).trim();
}

/** A bare repo with one commit on main; returns its file:// URL and a commit function. */
async function gitRepo(dir: string): Promise<{ url: string; commit(): Promise<string> }> {
  await git(dir, "init", "-q", "--bare", "-b", "main", "remote.git");
  await git(dir, "init", "-q", "-b", "main", "work");
  const commit = async () => {
    await git(`${dir}/work`, "commit", "-q", "--allow-empty", "-m", "change");
    await git(`${dir}/work`, "push", "-q", `${dir}/remote.git`, "main");
    return git(`${dir}/work`, "rev-parse", "HEAD");
  };
  await commit();
  return { url: `file://${dir}/remote.git`, commit };
}

function gitRepositoryYaml(url: string, branch = "main"): string {
  return `apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: flux-system, namespace: flux-system}
spec:
  interval: 1m
  url: ${url}
  ref: {branch: ${branch}}
  secretRef: {name: flux-system}
`;
}

function fluxObjects(url: string): string {
  return `
apiVersion: v1
kind: Namespace
metadata: {name: flux-system}
---
apiVersion: v1
kind: Secret
metadata: {name: flux-system, namespace: flux-system}
stringData: {username: git, password: not-needed-for-file-urls}
---
${gitRepositoryYaml(url)}---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: flux-system, namespace: flux-system}
spec:
  interval: 10m
  path: ./clusters/demo
  prune: true
  sourceRef: {kind: GitRepository, name: flux-system}
`;
}

async function installCrds(env: Env): Promise<void> {
  const crds = await env.file("crds.yaml", `${GITREPOSITORY_CRD}---${KUSTOMIZATION_CRD}`);
  ok(await env.apply("flux", crds), "apply CRDs");
}

/** CRDs first, then the objects: what flux bootstrap does (kind lookups need the CRDs). */
async function installFlux(env: Env, url: string): Promise<void> {
  await installCrds(env);
  const objs = await env.file("flux.yaml", fluxObjects(url));
  ok(await env.apply("flux", objs), "apply flux objects");
}

/** `kubectl wait` for the flux-system Kustomization's Ready condition. */
function waitForKustomization(env: Env, timeout: string): Promise<Run> {
  return env.kubectl(
    "wait",
    "--for=condition=Ready",
    "kustomization/flux-system",
    "-n",
    "flux-system",
    `--timeout=${timeout}`,
  );
}

type Obj = Record<string, unknown>;

function readyOf(o: Obj | undefined): Obj | undefined {
  const conds = (o?.status as { conditions?: Obj[] } | undefined)?.conditions ?? [];
  return conds.find((c) => c.type === "Ready");
}

/** Polls a condition for at most timeoutMs. */
async function eventually(what: string, timeoutMs: number, check: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`timed out waiting for ${what}`);
}

Deno.test({
  name:
    "kubectl wait: Kustomization becomes Ready from a real git repo (file://), new pushes are picked up",
  ignore: missing("kubectl"),
}, async () => {
  await withSandbox({ reconcileDelayMs: 300 }, async (env) => {
    const repo = await gitRepo(env.dir);
    const first = await git(`${env.dir}/work`, "rev-parse", "HEAD");
    await installFlux(env, repo.url);
    env.sb.resetRequests();
    const wait = await waitForKustomization(env, "20s");
    assert.equal(wait.code, 0, wait.stderr);
    assert.match(wait.stdout, /condition met/);
    assert.ok(env.sb.requests.some((r) => r.query.includes("watch=true")), "kubectl wait watches");
    assert.equal(env.sb.mutatingRequests().length, 0, "stand-in status writes are not recorded");

    const ks = fluxObject(env.sb, "Kustomization");
    const status = ks?.status as Obj;
    assert.equal(status.lastAppliedRevision, `main@sha1:${first}`);
    assert.equal(status.observedGeneration, 1);
    assert.equal(readyOf(ks)?.message, `Applied revision: main@sha1:${first}`);
    const src = fluxObject(env.sb, "GitRepository");
    assert.equal(readyOf(src)?.message, `stored artifact for revision 'main@sha1:${first}'`);
    assert.equal((src?.metadata as Obj).generation, 1, "status writes never bump generation");

    const second = await repo.commit();
    await eventually("new revision", 5000, () => {
      const k = fluxObject(env.sb, "Kustomization");
      return (k?.status as Obj).lastAppliedRevision === `main@sha1:${second}`;
    });
  });
});

Deno.test({
  name: "git failures: missing branch and missing secret give Ready=False GitOperationFailed",
  ignore: missing("kubectl"),
}, async () => {
  await withSandbox({ reconcileDelayMs: 10 }, async (env) => {
    const repo = await gitRepo(env.dir);
    await installFlux(env, repo.url);
    const patch = await env.file("ref.yaml", `\n${gitRepositoryYaml(repo.url, "nope")}`);
    ok(await env.apply("flux", patch), "apply bad ref");
    const get = () => fluxObject(env.sb, "GitRepository");
    await eventually(
      "branch failure",
      5000,
      () => /couldn't find remote ref "refs\/heads\/nope"/.test(String(readyOf(get())?.message)),
    );
    assert.equal(readyOf(get())?.reason, "GitOperationFailed");
    assert.equal(readyOf(get())?.status, "False");
    assert.equal((get()?.status as Obj).observedGeneration, 2);
    const ks = () => fluxObject(env.sb, "Kustomization");
    await eventually(
      "kustomization sees source not ready",
      5000,
      () => readyOf(ks())?.status === "False",
    );
    assert.match(String(readyOf(ks())?.message), /Source artifact not found/);

    ok(await env.kubectl("delete", "secret", "flux-system", "-n", "flux-system"), "delete secret");
    await eventually(
      "secret failure",
      5000,
      () => /secrets "flux-system" not found/.test(String(readyOf(get())?.message)),
    );
  });
});

/**
 * A smart-HTTP git server (git http-backend as CGI) demanding Basic auth, so the stand-in's
 * credential path is exercised against real git over HTTP.
 */
function startGitHttp(root: string, user: string, password: string) {
  const expected = `Basic ${btoa(`${user}:${password}`)}`;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    if (req.headers.get("authorization") !== expected) {
      await req.body?.cancel();
      return new Response("unauthorized", {
        status: 401,
        headers: { "www-authenticate": 'Basic realm="git"' },
      });
    }
    return cgi(root, req);
  });
  return { url: `http://127.0.0.1:${server.addr.port}`, close: () => server.shutdown() };
}

async function cgi(root: string, req: Request): Promise<Response> {
  const url = new URL(req.url);
  const child = new Deno.Command("git", {
    args: ["http-backend"],
    env: {
      GIT_PROJECT_ROOT: root,
      GIT_HTTP_EXPORT_ALL: "1",
      REQUEST_METHOD: req.method,
      PATH_INFO: decodeURIComponent(url.pathname),
      QUERY_STRING: url.search.slice(1),
      CONTENT_TYPE: req.headers.get("content-type") ?? "",
      HTTP_CONTENT_ENCODING: req.headers.get("content-encoding") ?? "",
      GIT_PROTOCOL: req.headers.get("git-protocol") ?? "",
      HTTP_GIT_PROTOCOL: req.headers.get("git-protocol") ?? "",
      REMOTE_USER: "test",
      REMOTE_ADDR: "127.0.0.1",
    },
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const body = new Uint8Array(await req.arrayBuffer());
  const writer = child.stdin.getWriter();
  await writer.write(body);
  await writer.close();
  const out = (await child.output()).stdout;
  return cgiResponse(out);
}

/** CGI output is headers, a blank line, then the body; "Status:" sets the code. */
function cgiResponse(out: Uint8Array): Response {
  let split = 0;
  for (let i = 0; i + 1 < out.length; i++) {
    if (out[i] === 10 && out[i + 1] === 10) {
      split = i + 2;
      break;
    }
    if (out[i] === 13 && out[i + 1] === 10 && out[i + 2] === 13 && out[i + 3] === 10) {
      split = i + 4;
      break;
    }
  }
  const head = new TextDecoder().decode(out.subarray(0, split)).trim().split(/\r?\n/);
  const headers = new Headers();
  let status = 200;
  for (const line of head) {
    const idx = line.indexOf(":");
    const name = line.slice(0, idx).trim();
    const value = line.slice(idx + 1).trim();
    if (name.toLowerCase() === "status") status = Number(value.split(" ")[0]);
    else if (name) headers.append(name, value);
  }
  return new Response(out.slice(split), { status, headers });
}

Deno.test({
  name:
    "http(s) GitRepository: Basic auth from the secret, wrong password fails, fixing the secret recovers",
  ignore: missing("kubectl"),
}, async () => {
  await withSandbox({ reconcileDelayMs: 10 }, async (env) => {
    await gitRepo(env.dir);
    const http = startGitHttp(env.dir, "git", "letmein");
    try {
      const url = `${http.url}/remote.git`;
      const wrong = fluxObjects(url).replace("not-needed-for-file-urls", "wrong-password");
      await installCrds(env);
      ok(await env.apply("flux", await env.file("f.yaml", wrong)), "apply");
      const src = () => fluxObject(env.sb, "GitRepository");
      await eventually("auth failure", 8000, () => readyOf(src())?.status === "False");
      assert.equal(readyOf(src())?.reason, "GitOperationFailed");
      assert.match(
        String(readyOf(src())?.message),
        /unable to list remote for 'http:.*': authentication required$/,
      );

      const right = fluxObjects(url).replace("not-needed-for-file-urls", "letmein");
      ok(await env.apply("flux", await env.file("f.yaml", right)), "fix secret");
      await eventually("auth success", 8000, () => readyOf(src())?.status === "True");
      assert.match(
        String(readyOf(src())?.message),
        /^stored artifact for revision 'main@sha1:[0-9a-f]{40}'$/,
      );
    } finally {
      await http.close();
    }
  });
});

Deno.test({
  name: "flux behaviour fail gives Ready=False with the message; hang gives no Ready condition",
  ignore: missing("kubectl"),
}, async () => {
  await withSandbox({ flux: "fail", reconcileDelayMs: 10 }, async (env) => {
    const repo = await gitRepo(env.dir);
    await installFlux(env, repo.url);
    const ks = () => fluxObject(env.sb, "Kustomization");
    await eventually("build failure", 5000, () => readyOf(ks())?.status === "False");
    assert.equal(readyOf(ks())?.reason, "BuildFailed");
    assert.equal(readyOf(ks())?.message, "kustomize build failed: accumulating resources");
    assert.equal((ks()?.status as Obj).lastAppliedRevision, undefined);

    env.sb.setFluxBehaviour("fail", "kustomization path not found: ./clusters/demo");
    await eventually(
      "custom message",
      5000,
      () => readyOf(ks())?.message === "kustomization path not found: ./clusters/demo",
    );

    env.sb.setFluxBehaviour("ready");
    await eventually("recovery", 5000, () => readyOf(ks())?.status === "True");
  });
  await withSandbox({ flux: "hang", reconcileDelayMs: 10 }, async (env) => {
    const repo = await gitRepo(env.dir);
    await installFlux(env, repo.url);
    const src = () => fluxObject(env.sb, "GitRepository");
    await eventually(
      "source ready even when hanging",
      5000,
      () => readyOf(src())?.status === "True",
    );
    await new Promise((r) => setTimeout(r, 700));
    const ks = fluxObject(env.sb, "Kustomization");
    assert.equal(ks?.status, undefined);
    const wait = await waitForKustomization(env, "1s");
    assert.notEqual(wait.code, 0);
    assert.match(wait.stderr, /timed out/);
  });
});

interface StatusBody {
  kind: string;
  apiVersion: string;
  status: string;
  reason: string;
  code: number;
  message: string;
  details?: Record<string, unknown>;
}

Deno.test("REST errors are Status objects with the apiserver's codes and reasons (Deno fetch, verified TLS)", async () => {
  await withSandbox({}, async ({ sb }) => {
    const client = Deno.createHttpClient({ caCerts: [sb.caPem] });
    try {
      const call = async (
        method: string,
        path: string,
        body?: unknown,
        contentType = "application/json",
      ) => {
        const res = await fetch(`${sb.url}${path}`, {
          method,
          client,
          headers: { authorization: `Bearer ${sb.token}`, "content-type": contentType },
          body: body === undefined
            ? undefined
            : typeof body === "string"
            ? body
            : JSON.stringify(body),
        });
        return { status: res.status, body: await res.json() };
      };
      const expectStatus = (
        r: { status: number; body: StatusBody },
        code: number,
        reason: string,
      ) => {
        assert.equal(r.status, code, JSON.stringify(r.body));
        assert.equal(r.body.kind, "Status");
        assert.equal(r.body.apiVersion, "v1");
        assert.equal(r.body.status, "Failure");
        assert.equal(r.body.code, code);
        assert.equal(r.body.reason, reason);
      };
      const cm = {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "cm" },
        data: { a: "1" },
      };
      const created = await call("POST", "/api/v1/namespaces/default/configmaps", cm);
      assert.equal(created.status, 201);

      const stale = { ...cm, metadata: { name: "cm", resourceVersion: "1" } };
      const conflict = await call("PUT", "/api/v1/namespaces/default/configmaps/cm", stale);
      expectStatus(conflict, 409, "Conflict");
      assert.match(
        conflict.body.message,
        /Operation cannot be fulfilled on configmaps "cm": the object has been modified/,
      );

      const fresh = { ...cm, metadata: created.body.metadata, data: { a: "2" } };
      assert.equal(
        (await call("PUT", "/api/v1/namespaces/default/configmaps/cm", fresh)).status,
        200,
      );

      expectStatus(
        await call("PATCH", "/api/v1/namespaces/default/configmaps/cm", "{}", "application/foo"),
        415,
        "UnsupportedMediaType",
      );

      const noManager = await call(
        "PATCH",
        "/api/v1/namespaces/default/configmaps/cm",
        cm,
        "application/apply-patch+yaml",
      );
      expectStatus(noManager, 422, "Invalid");
      assert.match(
        noManager.body.message,
        /fieldManager: Required value: is required for apply patch/,
      );

      const missingNs = await call("POST", "/api/v1/namespaces/nope/secrets", {
        metadata: { name: "s" },
      });
      expectStatus(missingNs, 404, "NotFound");
      assert.equal(missingNs.body.message, 'namespaces "nope" not found');
      assert.deepEqual(missingNs.body.details, { name: "nope", kind: "namespaces" });

      const noName = await call("POST", "/api/v1/namespaces/default/configmaps", { metadata: {} });
      expectStatus(noName, 422, "Invalid");
      assert.match(noName.body.message, /metadata.name: Required value/);

      expectStatus(
        await call("POST", "/api/v1/namespaces/default/configmaps", cm),
        409,
        "AlreadyExists",
      );
      const missing = await call("GET", "/api/v1/namespaces/default/secrets/x");
      expectStatus(missing, 404, "NotFound");
      assert.deepEqual(missing.body, {
        kind: "Status",
        apiVersion: "v1",
        metadata: {},
        status: "Failure",
        message: 'secrets "x" not found',
        reason: "NotFound",
        details: { name: "x", kind: "secrets" },
        code: 404,
      });
      expectStatus(await call("GET", "/apis/example.com/v1/widgets"), 404, "NotFound");
      expectStatus(
        await call("DELETE", "/api/v1/namespaces/default/configmaps/zzz"),
        404,
        "NotFound",
      );
      expectStatus(
        await call("POST", "/api/v1/namespaces/default/configmaps", { ...cm, kind: "Secret" }),
        400,
        "BadRequest",
      );

      const res = await fetch(`${sb.url}/api/v1/namespaces`, { client });
      expectStatus({ status: res.status, body: await res.json() }, 401, "Unauthorized");
    } finally {
      client.close();
    }
  });
});

Deno.test("server-side apply: creates, removes dropped fields, tracks generation, detects conflicts", async () => {
  await withSandbox({}, async ({ sb }) => {
    const client = Deno.createHttpClient({ caCerts: [sb.caPem] });
    try {
      const apply = async (manager: string, yaml: string, force = false) => {
        const res = await fetch(
          `${sb.url}/apis/apps/v1/namespaces/default/deployments/web?fieldManager=${manager}${
            force ? "&force=true" : ""
          }`,
          {
            method: "PATCH",
            client,
            headers: {
              authorization: `Bearer ${sb.token}`,
              "content-type": "application/apply-patch+yaml",
            },
            body: yaml,
          },
        );
        return { status: res.status, body: await res.json() };
      };
      const v1 = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {tier: front, team: a}}
spec: {replicas: 1, paused: false}
`;
      const created = await apply("one", v1);
      assert.equal(created.status, 201);
      assert.equal(created.body.metadata.generation, 1);
      const same = await apply("one", v1);
      assert.equal(same.status, 200);
      assert.equal(same.body.metadata.resourceVersion, created.body.metadata.resourceVersion);

      const v2 = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {tier: front}}
spec: {replicas: 2}
`;
      const changed = await apply("one", v2);
      assert.deepEqual(changed.body.metadata.labels, { tier: "front" });
      assert.deepEqual(changed.body.spec, { replicas: 2 });
      assert.equal(changed.body.metadata.generation, 2);

      const other = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec: {replicas: 5}
`;
      const clash = await apply("two", other);
      assert.equal(clash.status, 409);
      assert.equal(clash.body.reason, "Conflict");
      assert.match(clash.body.message, /conflict with "one": \.spec\.replicas/);
      const forced = await apply("two", other, true);
      assert.equal(forced.status, 200);
      assert.equal(forced.body.spec.replicas, 5);
    } finally {
      client.close();
    }
  });
});

Deno.test("watch streams ADDED for existing objects, then live MODIFIED/DELETED events", async () => {
  await withSandbox({}, async ({ sb }) => {
    const client = Deno.createHttpClient({ caCerts: [sb.caPem] });
    const headers = { authorization: `Bearer ${sb.token}`, "content-type": "application/json" };
    try {
      const base = `${sb.url}/api/v1/namespaces/default/configmaps`;
      const post = await fetch(base, {
        method: "POST",
        client,
        headers,
        body: JSON.stringify({ metadata: { name: "w", labels: { a: "b" } } }),
      });
      await post.body?.cancel();
      const res = await fetch(`${base}?watch=true&labelSelector=a%3Db`, { client, headers });
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
      const events: { type: string; object: { metadata: { name: string } } }[] = [];
      let buffered = "";
      const next = async () => {
        for (let i = 0; i < 20 && !buffered.includes("\n"); i++) {
          const { value, done } = await reader.read();
          if (done) break;
          buffered += value;
        }
        const line = buffered.slice(0, buffered.indexOf("\n"));
        buffered = buffered.slice(buffered.indexOf("\n") + 1);
        events.push(JSON.parse(line));
      };
      await next();
      const patch = await fetch(`${base}/w`, {
        method: "PATCH",
        client,
        headers: { ...headers, "content-type": "application/merge-patch+json" },
        body: JSON.stringify({ data: { k: "v" } }),
      });
      await patch.body?.cancel();
      await next();
      const del = await fetch(`${base}/w`, { method: "DELETE", client, headers });
      await del.body?.cancel();
      await next();
      assert.deepEqual(events.map((e) => [e.type, e.object.metadata.name]), [
        ["ADDED", "w"],
        ["MODIFIED", "w"],
        ["DELETED", "w"],
      ]);
      await reader.cancel();
    } finally {
      client.close();
    }
  });
});
