/**
 * gotk-components.yaml as flux writes it. Three checks:
 *
 * - cross-check: two independent implementations of flux's install options — the kustomize build
 *   of the release layout (fixtures/flux-manifests, lib/manifests/release.ts + overlay.ts) and
 *   fluxfleet's TypeScript renderer over fixtures/flux-install.yaml (lib/manifests/options.ts) —
 *   must produce the same objects for every option, with the overlay of the flux CLI v2.4 and of
 *   v2.9 (flux.version chooses it, lib/manifests/flux_cli.ts);
 * - byte fidelity: the file fluxfleet writes from the release layout is, byte for byte, the
 *   header + `kubectl kustomize` output of an overlay written out in tests/helpers/flux_written.ts
 *   from flux's Go templates (flux2 pkg/manifestgen/install/templates.go at v2.4.0 and v2.9.4);
 * - migration: a repository flux bootstrapped (files as flux writes them) shows no file change
 *   in `plan` once flux.manifests is the release layout.
 */
import assert from "node:assert/strict";
import { clusterConfig, INSTALL_YAML, ROOT } from "../helpers/fixtures.ts";
import {
  FLUX_KUSTOMIZATION,
  FLUX_V24_OVERLAY,
  FLUX_V29_OVERLAY,
  FLUX_V29_SOURCE_WATCHER_KUSTOMIZATION,
  fluxWrittenComponents,
  fluxWrittenSync,
} from "../helpers/flux_written.ts";
import { componentsFor, installOptions } from "../../lib/plan/desired.ts";
import { buildReleaseComponents, type ReleaseFiles } from "../../lib/manifests/release.ts";
import { loadManifests } from "../../lib/manifests/source.ts";
import { parseObjects } from "../../lib/manifests/render.ts";
import type { KubeObject } from "../../lib/manifests/types.ts";
import {
  assertTempClean,
  contextNames,
  INSTALL_MANIFEST,
  manifestYaml,
  tokenGit,
  withFleetEnv,
} from "../helpers/harness.ts";
import { missing } from "../helpers/tools.ts";

const RELEASE_DIR = `${ROOT}fixtures/flux-manifests`;

async function release(): Promise<ReleaseFiles> {
  const m = await loadManifests(RELEASE_DIR);
  assert.equal(m.kind, "release");
  return m as ReleaseFiles;
}

/** kustomize's legacy order (install.yaml) and flux's unsorted build differ: compare by identity. */
function byIdentity(objects: KubeObject[]): KubeObject[] {
  const id = (o: KubeObject) =>
    `${o.apiVersion}/${o.kind}/${o.metadata.namespace ?? ""}/${o.metadata.name}`;
  const ids = objects.map(id);
  assert.equal(new Set(ids).size, ids.length, "duplicate objects");
  return [...objects].sort((a, b) => id(a) < id(b) ? -1 : id(a) > id(b) ? 1 : 0);
}

const MATRIX: [string, string][] = [
  ["defaults", ""],
  ["registry (with a trailing slash)", "registry: registry.example.com/mirror/"],
  ["imagePullSecret", "imagePullSecret: regcred"],
  ["networkPolicy false", "networkPolicy: false"],
  ["watchAllNamespaces false", "watchAllNamespaces: false"],
  ["clusterDomain", "clusterDomain: k8s.internal"],
  ["tolerationKeys", "tolerationKeys: [CriticalAddonsOnly, flux]"],
  ["logLevel debug", "logLevel: debug"],
  ["componentsExtra", "componentsExtra: [image-reflector-controller, image-automation-controller]"],
  ["namespace other than flux-system", "namespace: gitops"],
  ["without notification-controller", "components: [source-controller, kustomize-controller]"],
  [
    "everything at once",
    "namespace: fleet-flux\n      registry: mirror.example.com/fluxcd\n      imagePullSecret: pull\n" +
    "      networkPolicy: false\n      watchAllNamespaces: false\n      clusterDomain: corp.internal\n" +
    "      tolerationKeys: [dedicated]\n      logLevel: error\n" +
    "      components: [source-controller, kustomize-controller, helm-controller]\n" +
    "      componentsExtra: [image-reflector-controller]",
  ],
];

/** source-watcher exists from flux v2.7 on: only with the v2.9 overlay. */
const SOURCE_WATCHER_MATRIX: [string, string][] = [
  ["source-watcher", "componentsExtra: [source-watcher]"],
  [
    "source-watcher, every extra, not watching all namespaces, another namespace and domain",
    "componentsExtra: [image-reflector-controller, image-automation-controller, source-watcher]\n" +
    "      watchAllNamespaces: false\n      namespace: gitops\n      clusterDomain: corp.internal",
  ],
  [
    "source-watcher without helm-controller and notification-controller",
    "components: [source-controller, kustomize-controller]\n" +
    "      componentsExtra: [source-watcher]\n      logLevel: debug",
  ],
];

const CROSS_CHECKS: [string, string, string][] = [
  ...MATRIX.map(([name, flux]): [string, string, string] => ["v2.4.0", name, flux]),
  ...[...MATRIX, ...SOURCE_WATCHER_MATRIX].map((
    [name, flux],
  ): [string, string, string] => ["v2.9.4", name, flux]),
];

for (const [version, name, flux] of CROSS_CHECKS) {
  Deno.test({
    name:
      `cross-check: kustomize build of the release = TypeScript renderer (flux ${version}: ${name})`,
    ignore: missing("kubectl"),
  }, async () => {
    const c = clusterConfig(
      `    flux:\n      version: ${version}\n${flux ? `      ${flux}\n` : ""}`,
    );
    const opts = installOptions(c);
    assert.equal(opts.version, version);
    const built = await buildReleaseComponents(await release(), opts);
    const rendered = componentsFor(INSTALL_YAML, opts);
    // The header is shared; the objects must be the same, in whatever order each one lists them.
    assert.equal(
      built.content.split("\n").slice(0, 4).join("\n"),
      rendered.content.split("\n")
        .slice(0, 4).join("\n"),
    );
    assert.deepEqual(byIdentity(built.objects), byIdentity(rendered.objects));
    // Not vacuous: the options really show in the objects.
    const ns = built.objects.find((o) => o.kind === "Namespace");
    assert.equal(ns?.metadata.name, opts.namespace);
    assert.equal(
      built.objects.filter((o) => o.kind === "Deployment").length,
      opts.components.length,
    );
  });
}

Deno.test({
  name: "cross-check: options that differ produce different builds (the comparison can fail)",
  ignore: missing("kubectl"),
}, async () => {
  const rel = await release();
  const a = await buildReleaseComponents(rel, installOptions(clusterConfig()));
  const b = await buildReleaseComponents(
    rel,
    installOptions(clusterConfig("    flux:\n      logLevel: debug\n")),
  );
  assert.notDeepEqual(byIdentity(a.objects), byIdentity(b.objects));
});

// ---------------------------------------------------------------------------------------------
// Byte fidelity: fluxfleet's build against flux's overlay as tests/helpers/flux_written.ts writes
// it out from flux2's templates, for the CLI of the flux.version given.

const DEFAULT_COMPONENTS = [
  "source-controller",
  "kustomize-controller",
  "helm-controller",
  "notification-controller",
];

/** The release layout built by fluxfleet for a cluster with these `flux:` lines. */
async function fluxfleetBuilt(fluxLines: string): Promise<string> {
  const opts = installOptions(clusterConfig(`    flux:\n${fluxLines}`));
  return (await buildReleaseComponents(await release(), opts)).content;
}

function deployment(text: string, name: string): KubeObject & { spec: DeploymentSpec } {
  const d = parseObjects(text).find((o) => o.kind === "Deployment" && o.metadata.name === name);
  assert.ok(d, `Deployment ${name}`);
  return d as KubeObject & { spec: DeploymentSpec };
}

interface DeploymentSpec {
  template: {
    metadata: { labels: Record<string, string> };
    spec: { containers: { args: string[] }[] };
  };
}

Deno.test({
  name:
    "byte fidelity: flux v2.4.0 — gotk-components.yaml from the release layout is what the v2.4 CLI writes",
  ignore: missing("kubectl"),
}, async () => {
  const expected = await fluxWrittenComponents(RELEASE_DIR, FLUX_V24_OVERLAY, {
    version: "v2.4.0",
    components: DEFAULT_COMPONENTS,
  });
  const built = await buildReleaseComponents(await release(), installOptions(clusterConfig()));
  assert.equal(built.content, expected);
  // flux's build keeps the kustomization's order: Namespace, policies, RBAC, then controllers.
  assert.deepEqual(
    parseObjects(expected).slice(0, 5).map((o) => `${o.kind}/${o.metadata.name}`),
    [
      "Namespace/flux-system",
      "NetworkPolicy/allow-egress",
      "NetworkPolicy/allow-scraping",
      "NetworkPolicy/allow-webhooks",
      "ClusterRole/crd-controller-flux-system",
    ],
  );
  // The v2.4 CLI labels metadata only and names the namespace in --events-addr.
  const kc = deployment(expected, "kustomize-controller");
  assert.equal(kc.spec.template.metadata.labels["app.kubernetes.io/version"], undefined);
  assert.equal(
    kc.spec.template.spec.containers[0].args[0],
    "--events-addr=http://notification-controller.flux-system.svc.cluster.local./",
  );
  // The TypeScript renderer (install.yaml) is the one that differs in formatting.
  assert.notEqual(componentsFor(INSTALL_YAML, installOptions(clusterConfig())).content, expected);
});

Deno.test({
  name:
    "byte fidelity: flux v2.9.4 — gotk-components.yaml is what the v2.9 CLI writes (pod template labels, $(RUNTIME_NAMESPACE))",
  ignore: missing("kubectl"),
}, async () => {
  const expected = await fluxWrittenComponents(RELEASE_DIR, FLUX_V29_OVERLAY, {
    version: "v2.9.4",
    components: DEFAULT_COMPONENTS,
  });
  assert.equal(await fluxfleetBuilt("      version: v2.9.4\n"), expected);
  // What changed since the v2.4 CLI, as a user sees it in the file.
  for (const name of DEFAULT_COMPONENTS) {
    const d = deployment(expected, name);
    assert.equal(d.spec.template.metadata.labels["app.kubernetes.io/version"], "v2.9.4");
    assert.equal(d.spec.template.metadata.labels["app.kubernetes.io/instance"], "flux-system");
    assert.equal(d.spec.template.metadata.labels["app.kubernetes.io/part-of"], "flux");
    assert.ok(
      !d.spec.template.spec.containers[0].args.some((a) => a.startsWith("--feature-gates")),
    );
  }
  assert.equal(
    deployment(expected, "helm-controller").spec.template.spec.containers[0].args[0],
    "--events-addr=http://notification-controller.$(RUNTIME_NAMESPACE).svc.cluster.local./",
  );
});

Deno.test({
  name:
    "byte fidelity: flux v2.9.4 --components-extra=source-watcher — its own address, the feature gate on kustomize- and helm-controller",
  ignore: missing("kubectl"),
}, async () => {
  const components = [...DEFAULT_COMPONENTS, "source-watcher"];
  const expected = await fluxWrittenComponents(
    RELEASE_DIR,
    { ...FLUX_V29_OVERLAY, "kustomization.yaml": FLUX_V29_SOURCE_WATCHER_KUSTOMIZATION },
    { version: "v2.9.4", components },
  );
  assert.equal(
    await fluxfleetBuilt("      version: v2.9.4\n      componentsExtra: [source-watcher]\n"),
    expected,
  );
  assert.deepEqual(deployment(expected, "source-watcher").spec.template.spec.containers[0].args, [
    "--events-addr=http://notification-controller.$(RUNTIME_NAMESPACE).svc.cluster.local./",
    "--watch-all-namespaces=true",
    "--log-level=info",
    "--log-encoding=json",
    "--enable-leader-election",
    "--storage-path=/data",
    "--storage-adv-addr=source-watcher.$(RUNTIME_NAMESPACE).svc.cluster.local.",
  ]);
  for (const name of ["kustomize-controller", "helm-controller"]) {
    assert.equal(
      deployment(expected, name).spec.template.spec.containers[0].args.at(-1),
      "--feature-gates=ExternalArtifact=true",
    );
  }
  assert.ok(
    !deployment(expected, "source-controller").spec.template.spec.containers[0].args
      .some((a) => a.startsWith("--feature-gates")),
  );
  assert.match(expected, /\n {8}image: ghcr\.io\/fluxcd\/source-watcher:v2\.2\.1\n/);
});

Deno.test({
  name:
    "byte fidelity: flux v2.9.4 --namespace=gitops — --events-addr keeps $(RUNTIME_NAMESPACE), the rest names gitops",
  ignore: missing("kubectl"),
}, async () => {
  const expected = await fluxWrittenComponents(RELEASE_DIR, FLUX_V29_OVERLAY, {
    version: "v2.9.4",
    components: DEFAULT_COMPONENTS,
    namespace: "gitops",
  });
  assert.equal(await fluxfleetBuilt("      version: v2.9.4\n      namespace: gitops\n"), expected);
  assert.equal(
    deployment(expected, "kustomize-controller").spec.template.spec.containers[0].args[0],
    "--events-addr=http://notification-controller.$(RUNTIME_NAMESPACE).svc.cluster.local./",
  );
  assert.ok(!expected.includes("flux-system"), "no flux-system left anywhere");
  assert.match(expected, /\n {2}name: crd-controller-gitops\n/);
});

// ---------------------------------------------------------------------------------------------
// Migration: a repository flux bootstrapped, now planned by fluxfleet.

const TOKEN = "canary-token-fidelity-5c1e";

/** A repository as a flux CLI bootstrapped it, and the manifest's `flux:` saying the same. */
const MIGRATIONS: {
  name: string;
  overlay: Record<string, string>;
  version: string;
  components: string[];
  flux: string;
}[] = [
  {
    name: "flux v2.4.0",
    overlay: FLUX_V24_OVERLAY,
    version: "v2.4.0",
    components: DEFAULT_COMPONENTS,
    flux: "{ version: v2.4.0 }",
  },
  {
    name: "flux v2.9.4 --components-extra=source-watcher",
    overlay: { ...FLUX_V29_OVERLAY, "kustomization.yaml": FLUX_V29_SOURCE_WATCHER_KUSTOMIZATION },
    version: "v2.9.4",
    components: [...DEFAULT_COMPONENTS, "source-watcher"],
    flux: "{ version: v2.9.4, componentsExtra: [source-watcher] }",
  },
];

for (const m of MIGRATIONS) {
  Deno.test({
    name:
      `migration: a repository bootstrapped by ${m.name} shows no file change with the release layout`,
    ignore: missing("kubectl"),
  }, () => migrationShowsNoChange(m));
}

async function migrationShowsNoChange(m: (typeof MIGRATIONS)[number]): Promise<void> {
  await withFleetEnv({
    prefix: "fluxfleet-fidelity-",
    git: { users: { git: TOKEN } },
    cliEnv: { GIT_PASSWORD: TOKEN },
  }, async ({ git, dir, tmp, cli }) => {
    const flux = {
      "clusters/c0/flux-system/gotk-components.yaml": await fluxWrittenComponents(
        RELEASE_DIR,
        m.overlay,
        m,
      ),
      "clusters/c0/flux-system/gotk-sync.yaml": fluxWrittenSync(
        git.repoUrl("fleet"),
        "clusters/c0",
      ),
      "clusters/c0/flux-system/kustomization.yaml": FLUX_KUSTOMIZATION,
    };
    await git.createRepo("fleet", {
      files: flux,
      message: `Add Flux ${m.version} component manifests`,
    });
    const manifest = (manifests: string) =>
      manifestYaml({
        manifests,
        git: tokenGit(git.repoUrl("fleet")),
        clusters: [{ name: "c0", lines: [`flux: ${m.flux}`] }],
      });
    const release = `${dir}/release.yaml`;
    const install = `${dir}/install.yaml`;
    await Deno.writeTextFile(release, manifest(RELEASE_DIR));
    await Deno.writeTextFile(install, manifest(INSTALL_MANIFEST));

    // Before fluxfleet touches anything: the files are already what it would write.
    const first = await cli(["plan", "--detailed-exitcode", release]);
    assert.equal(first.code, 2, first.stdout + first.stderr);
    assert.doesNotMatch(first.stdout, /commit clusters\//, first.stdout);
    assert.match(first.stdout, /\+ install Flux components \(\d+ objects/);

    // The cluster is bootstrapped without a commit, then nothing is left to do.
    const apply = await cli(["apply", "--auto-approve", release]);
    assert.equal(apply.code, 0, apply.stdout + apply.stderr);
    assert.equal(git.pushCount(), 0, "no file needed rewriting");
    for (const [path, text] of Object.entries(flux)) {
      assert.equal(await git.readFile("fleet", "main", path), text);
    }
    const replan = await cli(["plan", "--detailed-exitcode", release]);
    assert.equal(replan.code, 0, replan.stdout + replan.stderr);
    assert.match(replan.stdout, /No changes\. Every cluster matches the manifest\./);

    // With an install.yaml the TypeScript renderer is used: same objects, flux's file differs.
    const viaInstall = await cli(["plan", "--detailed-exitcode", install]);
    assert.equal(viaInstall.code, 2, viaInstall.stdout + viaInstall.stderr);
    assert.match(
      viaInstall.stdout,
      /~ commit clusters\/c0\/flux-system\/gotk-components\.yaml \(content differs from the manifest\)/,
    );
    assert.doesNotMatch(viaInstall.stdout, /commit clusters\/c0\/flux-system\/gotk-sync\.yaml/);

    for (const r of [first, apply, replan, viaInstall]) {
      assert.ok(!r.stdout.includes(TOKEN) && !r.stderr.includes(TOKEN), "token leaked");
    }
    await assertTempClean(tmp, "temporary files (the kustomize folder) left behind");
  });
}

Deno.test("migration: flux bootstrap --namespace=flux — gotk-sync.yaml kept, its one secret flux-system reused, no second secret", async () => {
  await withFleetEnv({
    prefix: "fluxfleet-fidelity-",
    git: { users: { git: TOKEN } },
    cliEnv: { GIT_PASSWORD: TOKEN },
  }, async ({ git, dir, kube, tmp, cli }) => {
    // The repository as flux writes it: objects named flux in namespace flux, secretRef flux-system.
    const flux = {
      "clusters/c0/flux/gotk-components.yaml": await fluxWrittenComponents(
        RELEASE_DIR,
        FLUX_V24_OVERLAY,
        { version: "v2.4.0", components: DEFAULT_COMPONENTS, namespace: "flux" },
      ),
      "clusters/c0/flux/gotk-sync.yaml": fluxWrittenSync(git.repoUrl("fleet"), "clusters/c0", [], {
        namespace: "flux",
      }),
      "clusters/c0/flux/kustomization.yaml": FLUX_KUSTOMIZATION,
    };
    await git.createRepo("fleet", { files: flux, message: "Add Flux v2.4.0 component manifests" });
    // The cluster as `flux bootstrap git --namespace=flux --token-auth` leaves its source secret.
    const kubectl = async (...args: string[]) => {
      const out = await new Deno.Command("kubectl", {
        args: ["--kubeconfig", `${dir}/kubeconfig`, "--context", "c0", ...args],
        stdin: "null",
      }).output();
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    };
    await kubectl("create", "namespace", "flux");
    await kubectl(
      "-n",
      "flux",
      "create",
      "secret",
      "generic",
      "flux-system",
      "--from-literal=username=git",
      `--from-literal=password=${TOKEN}`,
    );
    const manifest = `${dir}/fleet.yaml`;
    await Deno.writeTextFile(
      manifest,
      manifestYaml({
        manifests: RELEASE_DIR,
        git: tokenGit(git.repoUrl("fleet")),
        clusters: [{ name: "c0", lines: ["flux: { namespace: flux }"] }],
      }),
    );

    const plan = await cli(["plan", manifest]);
    assert.equal(plan.code, 0, plan.stdout + plan.stderr);
    assert.doesNotMatch(plan.stdout, /commit clusters\//, "no file is rewritten");
    assert.doesNotMatch(plan.stdout, /secret flux\/flux\b/, "no second secret");
    assert.doesNotMatch(plan.stdout, /secret flux\/flux-system/, "the secret is as flux left it");

    const apply = await cli(["apply", "--auto-approve", manifest]);
    assert.equal(apply.code, 0, apply.stdout + apply.stderr);
    assert.equal(git.pushCount(), 0, "no file needed rewriting");
    for (const [path, text] of Object.entries(flux)) {
      assert.equal(await git.readFile("fleet", "main", path), text);
    }
    assert.equal(kube.getObject("v1", "Secret", "flux", "flux"), undefined);
    assert.ok(kube.getObject("v1", "Secret", "flux", "flux-system"));
    const repo = kube.getObject("source.toolkit.fluxcd.io/v1", "GitRepository", "flux", "flux") as {
      spec: { secretRef: { name: string } };
    };
    assert.equal(repo.spec.secretRef.name, "flux-system");
    assert.ok(kube.getObject("kustomize.toolkit.fluxcd.io/v1", "Kustomization", "flux", "flux"));
    for (const r of [plan, apply]) {
      assert.ok(!r.stdout.includes(TOKEN) && !r.stderr.includes(TOKEN), "token leaked");
    }
    await assertTempClean(tmp);
  });
});

Deno.test({
  name: "fleet: the kustomize build runs once per distinct (source, options), not per cluster",
  ignore: missing("kubectl"),
}, async () => {
  await withFleetEnv({
    prefix: "fluxfleet-fidelity-",
    git: { users: { git: TOKEN } },
    repos: ["fleet"],
    // One API server each: two clusters on one server and namespace are refused.
    contexts: contextNames(6),
    cliEnv: { GIT_PASSWORD: TOKEN },
    manifest: ({ git }) =>
      manifestYaml({
        manifests: RELEASE_DIR,
        git: tokenGit(git.repoUrl("fleet"), null),
        clusters: Array.from({ length: 6 }, (_, i) => ({
          name: `c${i}`,
          lines: i >= 4 ? ["flux: { logLevel: debug }"] : [],
        })),
      }),
  }, async ({ dir, manifest, cli }) => {
    // A kubectl that logs its calls, then runs the real one.
    const which = await new Deno.Command("sh", { args: ["-c", "command -v kubectl"] }).output();
    const kubectl = new TextDecoder().decode(which.stdout).trim();
    assert.ok(kubectl, "kubectl is needed");
    await Deno.mkdir(`${dir}/bin`);
    await Deno.writeTextFile(
      `${dir}/bin/kubectl`,
      `#!/bin/sh\necho "$*" >> ${dir}/kubectl.log\nexec ${kubectl} "$@"\n`,
      { mode: 0o755 },
    );
    const out = await cli(["plan", "--output", "json", manifest], {
      PATH: `${dir}/bin:${Deno.env.get("PATH")}`,
    });
    assert.equal(out.code, 0, out.stdout + out.stderr);
    const calls = (await Deno.readTextFile(`${dir}/kubectl.log`)).trim().split("\n");
    assert.equal(calls.length, 2, calls.join("\n"));
    for (const c of calls) assert.match(c, /^kustomize --reorder none /);
    const doc = JSON.parse(out.stdout);
    assert.equal(doc.clusters.length, 6);
    for (const c of doc.clusters) {
      assert.ok(
        c.steps.some((s: { kind: string; path?: string }) =>
          s.kind === "file" && s.path === `clusters/${c.cluster}/flux-system/gotk-components.yaml`
        ),
        `cluster ${c.cluster} commits its gotk-components.yaml`,
      );
    }
  });
});
