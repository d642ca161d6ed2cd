/**
 * The Flux stand-in's apply mode (`flux: { mode: "apply" }`) and its per-cluster controls,
 * observed the way a user would: with the real kubectl against the sandbox API server, after
 * commits to a real git repository (file://, HTTP with Basic auth, SSH with a key).
 */

import assert from "node:assert/strict";
import YAML from "yaml";
import { startGitServer } from "../../sandbox/git/http_server.ts";
import { writeKubeconfig } from "../../sandbox/kube/kubeconfig.ts";
import {
  type KubeSandbox,
  type KubeSandboxOptions,
  startKubeSandbox,
} from "../../sandbox/kube/server.ts";
import { startSshd } from "../../sandbox/ssh/sshd.ts";
import { missing } from "../helpers/tools.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
/** Flux v2.4.0's install.yaml as fluxfleet's fixture has it: the components file of commit A. */
const COMPONENTS = Deno.readTextFileSync(`${ROOT}fixtures/flux-install.yaml`);

type Obj = Record<string, unknown>;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(cmd: string, args: string[], cwd?: string): Promise<Run> {
  const out = await new Deno.Command(cmd, { args, cwd, stdin: "null" }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

interface Env {
  sb: KubeSandbox;
  dir: string;
  /** The stand-in's tempDir: artifacts and builds, emptied on close. */
  tmp: string;
  kubectl(...args: string[]): Promise<Run>;
  /** kubectl's stdout; fails the test when kubectl fails. */
  get(...args: string[]): Promise<string>;
}

/** A sandbox in apply mode with a kubeconfig; afterwards the stand-in's temp dir must be empty. */
async function withSandbox(
  opts: KubeSandboxOptions,
  fn: (env: Env) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "flux-standin-test-" });
  const tmp = `${dir}/standin-tmp`;
  await Deno.mkdir(tmp);
  const sb = await startKubeSandbox({ flux: { mode: "apply", tempDir: tmp }, ...opts });
  try {
    const kubeconfig = `${dir}/kubeconfig`;
    await writeKubeconfig(kubeconfig, [{ context: "sandbox", sandbox: sb }]);
    const kubectl = (...args: string[]) =>
      run("kubectl", ["--kubeconfig", kubeconfig, "--cache-dir", `${dir}/kube-cache`, ...args]);
    await fn({
      sb,
      dir,
      tmp,
      kubectl,
      get: async (...args) => {
        const r = await kubectl(...args);
        assert.equal(r.code, 0, `kubectl ${args.join(" ")}: ${r.stderr}`);
        return r.stdout;
      },
    });
    await sb.close();
    const left: string[] = [];
    for await (const e of Deno.readDir(tmp)) left.push(e.name);
    assert.deepEqual(left, [], "the stand-in left artifacts or builds behind");
  } finally {
    await sb.close();
    await Deno.remove(dir, { recursive: true });
  }
}

async function git(cwd: string, ...args: string[]): Promise<string> {
  const r = await run("git", args, cwd);
  assert.equal(r.code, 0, `git ${args.join(" ")}: ${r.stderr}`);
  return r.stdout.trim();
}

interface Repo {
  url: string;
  /** Writes (string), symlinks ({ link }) or deletes (null) files, commits and pushes; the sha. */
  commit(files: Record<string, string | { link: string } | null>): Promise<string>;
}

/** A bare repository (file://) and a work tree pushing to it. */
async function localRepo(dir: string): Promise<Repo> {
  await git(dir, "init", "-q", "--bare", "-b", "main", "remote.git");
  await git(dir, "init", "-q", "-b", "main", "work");
  const work = `${dir}/work`;
  await git(work, "config", "user.email", "test@example.com");
  await git(work, "config", "user.name", "Test");
  return {
    url: `file://${dir}/remote.git`,
    async commit(files) {
      for (const [path, content] of Object.entries(files)) {
        const full = `${work}/${path}`;
        await Deno.mkdir(full.slice(0, full.lastIndexOf("/")), { recursive: true });
        await Deno.remove(full).catch(() => {});
        if (typeof content === "string") await Deno.writeTextFile(full, content);
        else if (content) await Deno.symlink(content.link, full);
      }
      await git(work, "add", "-A");
      await git(work, "commit", "-q", "--allow-empty", "-m", "change");
      await git(work, "push", "-q", `${dir}/remote.git`, "main");
      return await git(work, "rev-parse", "HEAD");
    },
  };
}

/** gotk-sync.yaml as flux bootstrap writes it (prune on). */
function syncYaml(url: string, path = "./clusters/c0"): string {
  return `---
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: flux-system
  namespace: flux-system
spec:
  interval: 1m0s
  ref:
    branch: main
  secretRef:
    name: flux-system
  url: ${url}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: flux-system
  namespace: flux-system
spec:
  interval: 10m0s
  path: ${path}
  prune: true
  sourceRef:
    kind: GitRepository
    name: flux-system
`;
}

const KUSTOMIZATION = `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- gotk-components.yaml
- gotk-sync.yaml
`;

function docs(yaml: string): Obj[] {
  return YAML.parseAllDocuments(yaml).map((d) => d.toJSON()).filter((d) => d) as Obj[];
}

function nameOf(o: Obj): string {
  return String((o.metadata as Obj).name);
}

/** The two Flux CRDs the stand-in needs to see before anything syncs, from the fixture. */
function fluxCrds(): string {
  return docs(COMPONENTS)
    .filter((d) =>
      d.kind === "CustomResourceDefinition" &&
      ["gitrepositories.source.toolkit.fluxcd.io", "kustomizations.kustomize.toolkit.fluxcd.io"]
        .includes(nameOf(d))
    )
    .map((d) => `---\n${YAML.stringify(d)}`).join("");
}

/**
 * What bootstrap leaves in a cluster: the CRDs and namespace first (a CRD's kinds exist only
 * once it is stored), then the source secret and the sync objects.
 */
async function bootstrap(env: Env, url: string, secret: Record<string, string> = {}) {
  const crds = `${env.dir}/bootstrap-crds.yaml`;
  await Deno.writeTextFile(
    crds,
    `${fluxCrds()}---\napiVersion: v1\nkind: Namespace\nmetadata: {name: flux-system}\n`,
  );
  await env.get("apply", "--server-side", "--field-manager=flux", "-f", crds);
  const sync = `${env.dir}/bootstrap-sync.yaml`;
  const secretYaml = YAML.stringify({
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "flux-system", namespace: "flux-system" },
    stringData: secret,
  });
  await Deno.writeTextFile(sync, `---\n${secretYaml}${syncYaml(url)}`);
  await env.get("apply", "--server-side", "--field-manager=flux", "-f", sync);
}

/** Flux v2.5.1-like: every version label and image tag moved on. */
function upgraded(yaml: string): string {
  return yaml.replaceAll("v2.4.0", "v2.5.1").replace(
    /(image: ghcr\.io\/fluxcd\/[a-z-]+:v)(\d+)\.(\d+)\.(\d+)/g,
    (_m, head, major, minor) => `${head}${major}.${Number(minor) + 1}.0`,
  );
}

/** Every `image` of the Deployments a components file asks for, sorted. */
function imagesIn(yaml: string): string[] {
  const found: string[] = [];
  const walk = (v: unknown) => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === "object") {
      for (const [k, x] of Object.entries(v)) {
        if (k === "image" && typeof x === "string") found.push(x);
        else walk(x);
      }
    }
  };
  docs(yaml).filter((d) => d.kind === "Deployment").forEach(walk);
  return found.sort();
}

function without(yaml: string, kind: string, name: string): string {
  return yaml.split(/\n---\n/).filter((doc) => {
    const d = YAML.parse(doc) as Obj | null;
    return !(d && d.kind === kind && nameOf(d) === name);
  }).join("\n---\n");
}

function fluxKustomization(sb: KubeSandbox): Obj | undefined {
  return sb.getObject(
    "kustomize.toolkit.fluxcd.io/v1",
    "Kustomization",
    "flux-system",
    "flux-system",
  );
}

function statusOf(o: Obj | undefined): Obj {
  return (o?.status ?? {}) as Obj;
}

function conditionOf(o: Obj | undefined, type = "Ready"): Obj | undefined {
  const conds = (statusOf(o).conditions ?? []) as Obj[];
  return conds.find((c) => c.type === type);
}

/** Polls `check` for at most timeoutMs; the failure shows the Kustomization's status. */
async function eventually(
  env: Env,
  what: string,
  timeoutMs: number,
  check: () => boolean,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  const status = JSON.stringify(statusOf(fluxKustomization(env.sb)));
  assert.fail(`timed out waiting for ${what}; the Kustomization's status: ${status}`);
}

async function appliedAt(env: Env, sha: string): Promise<void> {
  await eventually(env, `Ready at ${sha}`, 30_000, () => {
    const ks = fluxKustomization(env.sb);
    return statusOf(ks).lastAppliedRevision === `main@sha1:${sha}` &&
      conditionOf(ks)?.status === "True";
  });
}

async function attemptedAt(env: Env, sha: string, status: string): Promise<void> {
  await eventually(env, `attempt at ${sha}`, 30_000, () => {
    const ks = fluxKustomization(env.sb);
    return statusOf(ks).lastAttemptedRevision === `main@sha1:${sha}` &&
      conditionOf(ks)?.status === status;
  });
}

async function deployImages(env: Env): Promise<string[]> {
  return (await env.get("get", "deploy", "-n", "flux-system", "-o", "jsonpath={..image}"))
    .split(" ").filter((s) => s).sort();
}

async function versionLabels(env: Env): Promise<string[]> {
  const out = await env.get(
    "get",
    "deploy",
    "-n",
    "flux-system",
    "-o",
    "jsonpath={.items[*].metadata.labels.app\\.kubernetes\\.io/version}",
  );
  return [...new Set(out.split(" ").filter((s) => s))];
}

async function ksJson(env: Env, path: string): Promise<string> {
  return await env.get(
    "get",
    "kustomization",
    "flux-system",
    "-n",
    "flux-system",
    "-o",
    `jsonpath=${path}`,
  );
}

Deno.test({
  name:
    "apply mode: committed components change the controllers' images and labels; inventory, revisions and prune as kustomize-controller",
  ignore: missing("kubectl"),
}, async () => {
  await withSandbox({ reconcileDelayMs: 10 }, async (env) => {
    const repo = await localRepo(env.dir);
    // Commit A: no kustomization.yaml, so one is generated over the YAML files, as flux does.
    const a = await repo.commit({
      "clusters/c0/gotk-components.yaml": COMPONENTS,
      "clusters/c0/gotk-sync.yaml": syncYaml(repo.url),
    });
    await bootstrap(env, repo.url);
    await appliedAt(env, a);

    assert.deepEqual(await deployImages(env), imagesIn(COMPONENTS));
    assert.deepEqual(await versionLabels(env), ["v2.4.0"]);
    assert.equal(await ksJson(env, "{.status.lastAppliedRevision}"), `main@sha1:${a}`);
    assert.equal(await ksJson(env, "{.status.lastAttemptedRevision}"), `main@sha1:${a}`);
    assert.equal(
      await ksJson(env, '{.status.conditions[?(@.type=="Ready")].message}'),
      `Applied revision: main@sha1:${a}`,
    );
    const inventory = JSON.parse(await ksJson(env, "{.status.inventory.entries}")) as Obj[];
    assert.equal(inventory.length, docs(COMPONENTS).length + 2, "every applied object, once");
    for (
      const id of [
        "_gitrepositories.source.toolkit.fluxcd.io_apiextensions.k8s.io_CustomResourceDefinition",
        "_flux-system__Namespace",
        "flux-system_source-controller_apps_Deployment",
        "flux-system_allow-egress_networking.k8s.io_NetworkPolicy",
        "_cluster-reconciler-flux-system_rbac.authorization.k8s.io_ClusterRoleBinding",
        "flux-system_flux-system_kustomize.toolkit.fluxcd.io_Kustomization",
      ]
    ) {
      assert.deepEqual(inventory.filter((e) => e.id === id), [{ id, v: "v1" }], id);
    }
    // Applied in stages as flux does: CRDs (and the namespace) before anything that needs them.
    assert.match(String(inventory[0].id), /_CustomResourceDefinition$/);
    const managers = await env.get(
      "get",
      "deploy",
      "source-controller",
      "-n",
      "flux-system",
      "-o",
      "jsonpath={.metadata.managedFields[*].manager} {.metadata.labels.kustomize\\.toolkit\\.fluxcd\\.io/name}",
    );
    assert.match(managers, /kustomize-controller/);
    assert.match(managers, / flux-system$/);
    await env.get("rollout", "status", "deploy/kustomize-controller", "-n", "flux-system");

    // Commit B: the upgrade, a kustomization.yaml of its own, and a NetworkPolicy less.
    const next = without(upgraded(COMPONENTS), "NetworkPolicy", "allow-egress");
    assert.notDeepEqual(imagesIn(next), imagesIn(COMPONENTS));
    const b = await repo.commit({
      "clusters/c0/gotk-components.yaml": next,
      "clusters/c0/kustomization.yaml": KUSTOMIZATION,
    });
    await appliedAt(env, b);
    assert.deepEqual(await deployImages(env), imagesIn(next));
    assert.deepEqual(await versionLabels(env), ["v2.5.1"]);
    const pruned = await env.kubectl("get", "networkpolicy", "allow-egress", "-n", "flux-system");
    assert.notEqual(pruned.code, 0, "pruned from the cluster");
    assert.match(pruned.stderr, /NotFound/);
    const ids = JSON.parse(await ksJson(env, "{.status.inventory.entries}")) as Obj[];
    assert.equal(ids.length, inventory.length - 1);
    assert.ok(!ids.some((e) => String(e.id).includes("allow-egress")), "left the inventory");
    await env.get("rollout", "status", "deploy/source-controller", "-n", "flux-system");
  });
});

/** A components file plus a CRD that still serves v1beta2 (stored objects may be in it). */
function widgetCrd(versions: string[]): string {
  const list = versions.map((v) =>
    `  - name: ${v}\n    served: true\n    storage: ${
      v === "v1"
    }\n    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}\n`
  ).join("");
  return `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
  scope: Namespaced
  versions:
${list}`;
}

Deno.test({
  name:
    "per-cluster controls through kubectl: never Ready, a failed gate, Ready after a delay at the new revision",
  ignore: missing("kubectl"),
}, async () => {
  await withSandbox({ reconcileDelayMs: 10 }, async (env) => {
    const repo = await localRepo(env.dir);
    const a = await repo.commit({
      "clusters/c0/gotk-components.yaml": COMPONENTS,
      "clusters/c0/gotk-sync.yaml": syncYaml(repo.url),
    });
    await bootstrap(env, repo.url);
    await appliedAt(env, a);

    // Never Ready: the new revision is applied, the Kustomization stays Unknown/Progressing.
    env.sb.flux.setKustomizationOutcome({ kind: "progressing" });
    const next = upgraded(COMPONENTS);
    const b = await repo.commit({ "clusters/c0/gotk-components.yaml": next });
    await attemptedAt(env, b, "Unknown");
    assert.deepEqual(await deployImages(env), imagesIn(next));
    assert.equal(
      await ksJson(env, '{.status.conditions[?(@.type=="Ready")].reason}'),
      "Progressing",
    );
    assert.equal(
      await ksJson(env, '{.status.conditions[?(@.type=="Reconciling")].message}'),
      `Running health checks for revision main@sha1:${b} with a timeout of 10m0s`,
    );
    assert.equal(await ksJson(env, "{.status.lastAppliedRevision}"), `main@sha1:${a}`);
    const wait = await env.kubectl(
      "wait",
      "--for=condition=Ready",
      "kustomization/flux-system",
      "-n",
      "flux-system",
      "--timeout=2s",
    );
    assert.notEqual(wait.code, 0);
    assert.match(wait.stderr, /timed out/);

    // A failed gate: Ready=False with the message.
    const message =
      "health check failed after 5m0s: timeout waiting for: [Deployment/flux-system/source-controller status: 'InProgress']";
    env.sb.flux.setKustomizationOutcome({ kind: "fail", reason: "HealthCheckFailed", message });
    await env.get(
      "wait",
      "--for=condition=Ready=False",
      "kustomization/flux-system",
      "-n",
      "flux-system",
      "--timeout=20s",
    );
    assert.equal(
      await ksJson(
        env,
        '{.status.conditions[?(@.type=="Ready")].reason}: {.status.conditions[?(@.type=="Ready")].message}',
      ),
      `HealthCheckFailed: ${message}`,
    );
    assert.equal(await ksJson(env, "{.status.lastAppliedRevision}"), `main@sha1:${a}`);

    // Ready after a delay: Unknown/Progressing at the revision first, then Ready=True.
    const seen: string[] = [];
    const sample = () => {
      const state = String(conditionOf(fluxKustomization(env.sb))?.status);
      if (seen[seen.length - 1] !== state) seen.push(state);
    };
    const watcher = setInterval(sample, 10);
    try {
      env.sb.flux.setKustomizationOutcome({ kind: "ready", delayMs: 3000 });
      await appliedAt(env, b);
    } finally {
      clearInterval(watcher);
    }
    sample();
    assert.deepEqual(seen, ["False", "Unknown", "True"]);
    assert.equal(await ksJson(env, "{.status.lastAppliedRevision}"), `main@sha1:${b}`);
    assert.equal(await ksJson(env, "{.status.conditions[*].type}"), "Ready", "Reconciling is gone");
  });
});

Deno.test({
  name:
    "per-cluster controls through kubectl: an unavailable controller Deployment; storedVersions that need a migration, and the migration's write",
  ignore: missing("kubectl"),
}, async () => {
  await withSandbox({ reconcileDelayMs: 10 }, async (env) => {
    const repo = await localRepo(env.dir);
    const a = await repo.commit({
      "clusters/c0/gotk-components.yaml": COMPONENTS,
      "clusters/c0/widgets.yaml": widgetCrd(["v1beta2", "v1"]),
      "clusters/c0/gotk-sync.yaml": syncYaml(repo.url),
    });
    await bootstrap(env, repo.url);
    await appliedAt(env, a);

    env.sb.flux.setDeploymentUnavailable("kustomize-controller");
    const next = upgraded(COMPONENTS);
    const b = await repo.commit({ "clusters/c0/gotk-components.yaml": next });
    await appliedAt(env, b);
    assert.deepEqual(await deployImages(env), imagesIn(next));
    const available = (name: string) =>
      env.get(
        "get",
        "deploy",
        name,
        "-n",
        "flux-system",
        "-o",
        'jsonpath={.status.conditions[?(@.type=="Available")].status} {.status.unavailableReplicas} {.status.conditions[?(@.type=="Available")].reason}',
      );
    assert.equal(await available("kustomize-controller"), "False 1 MinimumReplicasUnavailable");
    assert.equal(await available("source-controller"), "True  MinimumReplicasAvailable");
    const rollout = await env.kubectl(
      "rollout",
      "status",
      "deploy/kustomize-controller",
      "-n",
      "flux-system",
      "--timeout=10s",
    );
    assert.notEqual(rollout.code, 0);
    assert.match(rollout.stderr, /exceeded its progress deadline/);
    env.sb.flux.setDeploymentUnavailable("kustomize-controller", false);
    await env.get("rollout", "status", "deploy/kustomize-controller", "-n", "flux-system");

    // Stored versions an older Flux left: dropping v1beta2 is refused until they are migrated.
    env.sb.flux.setStoredVersions("widgets.example.com", ["v1beta2", "v1"]);
    const stored = () =>
      env.get("get", "crd", "widgets.example.com", "-o", "jsonpath={.status.storedVersions}");
    assert.equal(await stored(), '["v1beta2","v1"]');
    const c = await repo.commit({ "clusters/c0/widgets.yaml": widgetCrd(["v1"]) });
    await attemptedAt(env, c, "False");
    assert.equal(
      await ksJson(env, '{.status.conditions[?(@.type=="Ready")].reason}'),
      "ReconciliationFailed",
    );
    assert.equal(
      await ksJson(env, '{.status.conditions[?(@.type=="Ready")].message}'),
      'CustomResourceDefinition/widgets.example.com dry-run failed (Invalid): CustomResourceDefinition.apiextensions.k8s.io "widgets.example.com" is invalid: status.storedVersions[0]: Invalid value: "v1beta2": must appear in spec.versions',
    );
    assert.equal(await ksJson(env, "{.status.lastAppliedRevision}"), `main@sha1:${b}`);
    assert.deepEqual(env.sb.flux.storedVersionsWrites(), [], "setting them is no client write");

    await env.get(
      "patch",
      "crd",
      "widgets.example.com",
      "--subresource=status",
      "--type=merge",
      "-p",
      '{"status":{"storedVersions":["v1"]}}',
    );
    const writes = env.sb.flux.storedVersionsWrites().map(({ at: _at, ...w }) => w);
    assert.deepEqual(writes, [{
      crd: "widgets.example.com",
      previous: ["v1beta2", "v1"],
      storedVersions: ["v1"],
      manager: "kubectl-patch",
    }]);
    await appliedAt(env, c);
    assert.equal(
      await env.get("get", "crd", "widgets.example.com", "-o", "jsonpath={.spec.versions[*].name}"),
      "v1",
    );
    assert.equal(await stored(), '["v1"]');
  });
});

Deno.test({
  name:
    "apply mode is bounded: a hostile repository cannot make the build read outside its clone; build errors are BuildFailed",
  ignore: missing("kubectl"),
}, async () => {
  await withSandbox({ reconcileDelayMs: 10 }, async (env) => {
    // What a build must never read: a kustomization and a manifest outside the clone.
    const outside = `${env.dir}/outside`;
    await Deno.mkdir(outside);
    await Deno.writeTextFile(`${outside}/kustomization.yaml`, "resources: [cm.yaml]\n");
    await Deno.writeTextFile(
      `${outside}/cm.yaml`,
      "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: stolen, namespace: default}\ndata: {canary: outside-canary}\n",
    );
    const app =
      "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app, namespace: default}\ndata: {a: b}\n";
    const repo = await localRepo(env.dir);
    const a = await repo.commit({
      "clusters/c0/app.yaml": app,
      "clusters/c0/gotk-sync.yaml": syncYaml(repo.url),
    });
    await bootstrap(env, repo.url);
    await appliedAt(env, a);

    const ups = "../".repeat(40);
    const withEntry = (entry: string) => `resources:\n- app.yaml\n- gotk-sync.yaml\n- ${entry}\n`;
    const attempts: [string, Record<string, string | { link: string } | null>, RegExp][] = [
      [
        "an absolute path",
        { "clusters/c0/kustomization.yaml": withEntry(outside) },
        /^kustomize build failed: '.*\/outside' in clusters\/c0\/kustomization.yaml lies outside the source$/,
      ],
      [
        "a relative path climbing out",
        { "clusters/c0/kustomization.yaml": withEntry(`${ups}${outside.slice(1)}`) },
        /^kustomize build failed: '(\.\.\/)+.*outside' in clusters\/c0\/kustomization.yaml lies outside the source$/,
      ],
      [
        "a symlinked directory",
        {
          "clusters/c0/escape": { link: outside },
          "clusters/c0/kustomization.yaml": withEntry("escape"),
        },
        /^kustomize build failed: symlink 'clusters\/c0\/escape' points outside the source$/,
      ],
      [
        "a symlinked manifest in a generated kustomization",
        {
          "clusters/c0/kustomization.yaml": null,
          "clusters/c0/escape": null,
          "clusters/c0/stolen.yaml": { link: `${outside}/cm.yaml` },
        },
        /^kustomize build failed: symlink 'clusters\/c0\/stolen.yaml' points outside the source$/,
      ],
      [
        "a remote base",
        {
          "clusters/c0/stolen.yaml": null,
          "clusters/c0/kustomization.yaml": withEntry(
            "https://github.com/fluxcd/flux2//manifests/install?ref=main",
          ),
        },
        /^kustomize build failed: 'https:\/\/github.com\/.*' in clusters\/c0\/kustomization.yaml is a remote base \(the stand-in builds none\)$/,
      ],
      [
        "a github.com base",
        {
          "clusters/c0/kustomization.yaml": withEntry("github.com/fluxcd/flux2/manifests/install"),
        },
        /^kustomize build failed: 'github.com\/fluxcd\/flux2\/manifests\/install' in clusters\/c0\/kustomization.yaml is a remote base \(the stand-in builds none\)$/,
      ],
      [
        "a missing file (kubectl kustomize's own error)",
        { "clusters/c0/kustomization.yaml": withEntry("missing.yaml") },
        /^kustomize build failed: accumulating resources: .*missing\.yaml/,
      ],
    ];
    for (const [what, files, message] of attempts) {
      const sha = await repo.commit(files);
      await attemptedAt(env, sha, "False");
      const ready = conditionOf(fluxKustomization(env.sb));
      assert.equal(ready?.reason, "BuildFailed", what);
      assert.match(String(ready?.message), message, `${what}: ${ready?.message}`);
      assert.equal(statusOf(fluxKustomization(env.sb)).lastAppliedRevision, `main@sha1:${a}`, what);
      const stolen = await env.kubectl("get", "configmap", "stolen", "-n", "default");
      assert.notEqual(stolen.code, 0, `${what}: nothing from outside the clone was applied`);
    }

    // spec.path is joined securely: `..` cannot climb out of the source either.
    await env.get(
      "patch",
      "kustomization",
      "flux-system",
      "-n",
      "flux-system",
      "--type=merge",
      "-p",
      `{"spec":{"path":"${ups}${outside.slice(1)}"}}`,
    );
    await eventually(env, "path not found", 30_000, () => {
      const r = conditionOf(fluxKustomization(env.sb));
      return r?.reason === "ArtifactFailed";
    });
    const message = String(conditionOf(fluxKustomization(env.sb))?.message);
    assert.ok(
      message.startsWith(`kustomization path not found: stat ${env.tmp}/`) &&
        message.endsWith(`${outside}: no such file or directory`),
      message,
    );
  });
});

const TOKEN = "canary-token-6f1e2d";

Deno.test({
  name:
    "apply mode fetches over HTTP with the secret's Basic credentials; nothing of the token is left in the stand-in's files",
  ignore: missing("kubectl"),
}, async () => {
  const server = await startGitServer({ users: { git: TOKEN } });
  try {
    await withSandbox({ reconcileDelayMs: 10 }, async (env) => {
      const url = server.repoUrl("fleet");
      await server.createRepo("fleet", {
        files: {
          "clusters/c0/app.yaml":
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app, namespace: default}\ndata: {from: http}\n",
          "clusters/c0/gotk-sync.yaml": syncYaml(url),
        },
      });
      const sha = await server.headSha("fleet", "main");
      await bootstrap(env, url, { username: "git", password: TOKEN });
      await appliedAt(env, String(sha));
      assert.equal(
        await env.get("get", "configmap", "app", "-n", "default", "-o", "jsonpath={.data.from}"),
        "http",
      );
      const fetches = server.requests.filter((r) =>
        r.service === "git-upload-pack" && r.method === "POST"
      );
      assert.ok(fetches.length > 0 && fetches.every((r) => r.user === "git" && r.status === 200));
      const forms = [TOKEN, btoa(`git:${TOKEN}`), encodeURIComponent(TOKEN)];
      for await (const f of walkFiles(env.tmp)) {
        const text = new TextDecoder("latin1").decode(await Deno.readFile(f));
        for (const form of forms) assert.ok(!text.includes(form), `${f} holds the token`);
      }
    });
  } finally {
    await server.close();
  }
});

async function* walkFiles(dir: string): AsyncGenerator<string> {
  for await (const e of Deno.readDir(dir)) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) yield* walkFiles(p);
    else if (e.isFile) yield p;
  }
}

Deno.test({
  name: "apply mode fetches over SSH with the secret's identity and known_hosts",
  ignore: missing("kubectl") || missing("sshd"),
}, async () => {
  const sshd = await startSshd();
  try {
    await withSandbox({ reconcileDelayMs: 10 }, async (env) => {
      const keyFile = `${env.dir}/id_ed25519`;
      const gen = await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", keyFile]);
      assert.equal(gen.code, 0, gen.stderr);
      await sshd.authorize(await Deno.readTextFile(`${keyFile}.pub`), { readOnly: true });
      const url = sshd.repoUrl("fleet");
      await sshd.createRepo("fleet", {
        files: {
          "clusters/c0/app.yaml":
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app, namespace: default}\ndata: {from: ssh}\n",
          "clusters/c0/gotk-sync.yaml": syncYaml(url),
        },
      });
      const sha = await sshd.headSha("fleet", "main");
      await bootstrap(env, url, {
        identity: await Deno.readTextFile(keyFile),
        known_hosts: sshd.knownHosts(),
      });
      await appliedAt(env, String(sha));
      assert.equal(
        await env.get("get", "configmap", "app", "-n", "default", "-o", "jsonpath={.data.from}"),
        "ssh",
      );
    });
  } finally {
    await sshd.stop();
  }
});
