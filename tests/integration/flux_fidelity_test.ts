/**
 * gotk-components.yaml as flux writes it. Three checks:
 *
 * - cross-check: two independent implementations of flux's install options — the kustomize build
 *   of the release layout (fixtures/flux-manifests, lib/manifests/release.ts + overlay.ts) and
 *   fluxfleet's TypeScript renderer over fixtures/flux-install.yaml (lib/manifests/options.ts) —
 *   must produce the same objects for every option;
 * - byte fidelity: the file fluxfleet writes from the release layout is, byte for byte, the
 *   header + `kubectl kustomize` output of an overlay this test writes itself from flux's Go
 *   templates (flux2 pkg/manifestgen/install/templates.go, copied literally below as they
 *   execute for the default options);
 * - migration: a repository flux bootstrapped (files as flux writes them) shows no file change
 *   in `plan` once flux.manifests is the release layout.
 */
import assert from "node:assert/strict";
import { clusterConfig, INSTALL_YAML, ROOT } from "../helpers/fixtures.ts";
import { FLUX_KUSTOMIZATION, fluxArgsPatch, fluxWrittenSync } from "../helpers/flux_written.ts";
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

for (const [name, flux] of MATRIX) {
  Deno.test({
    name: `cross-check: kustomize build of the release = TypeScript renderer (${name})`,
    ignore: missing("kubectl"),
  }, async () => {
    const c = clusterConfig(flux ? `    flux:\n      ${flux}\n` : "");
    const opts = installOptions(c);
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
// Byte fidelity. The overlay below is flux2 pkg/manifestgen/install/templates.go executed for
// flux bootstrap's defaults (namespace flux-system, components source-, kustomize-, helm- and
// notification-controller, registry ghcr.io/fluxcd, network policy on, watch all namespaces,
// cluster.local, log level info, no pull secret, no tolerations), written out by hand here so
// that a regression in lib/manifests/overlay.ts cannot hide behind a shared code path.

const EVENTS = "--events-addr=http://notification-controller.flux-system.svc.cluster.local./";
const WATCH = "--watch-all-namespaces=true";
const LOG = "--log-level=info";

const FLUX_DEFAULT_OVERLAY: Record<string, string> = {
  "kustomization.yaml": `---
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: flux-system

transformers:
  - labels.yaml

resources:
  - namespace.yaml
  - policies.yaml
  - roles
  - source-controller.yaml
  - kustomize-controller.yaml
  - helm-controller.yaml
  - notification-controller.yaml

patches:
- path: node-selector.yaml
  target:
    kind: Deployment

patchesJson6902:
${
    fluxArgsPatch("source-controller", [
      [0, EVENTS],
      [1, WATCH],
      [2, LOG],
      [6, "--storage-adv-addr=source-controller.$(RUNTIME_NAMESPACE).svc.cluster.local."],
    ])
  }
${fluxArgsPatch("kustomize-controller", [[0, EVENTS], [1, WATCH], [2, LOG]])}
${fluxArgsPatch("helm-controller", [[0, EVENTS], [1, WATCH], [2, LOG]])}
${fluxArgsPatch("notification-controller", [[0, WATCH], [1, LOG]])}
images:
  - name: fluxcd/source-controller
    newName: ghcr.io/fluxcd/source-controller
  - name: fluxcd/kustomize-controller
    newName: ghcr.io/fluxcd/kustomize-controller
  - name: fluxcd/helm-controller
    newName: ghcr.io/fluxcd/helm-controller
  - name: fluxcd/notification-controller
    newName: ghcr.io/fluxcd/notification-controller
`,
  "roles/kustomization.yaml": `---
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: flux-system
resources:
  - rbac.yaml
nameSuffix: -flux-system
`,
  // nodeSelectorTmpl with no pull secret and no tolerations leaves an empty line.
  "node-selector.yaml": `---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: all
spec:
  template:
    spec:
      nodeSelector:
        kubernetes.io/os: linux

`,
  "labels.yaml": `---
apiVersion: builtin
kind: LabelTransformer
metadata:
  name: labels
labels:
  app.kubernetes.io/instance: flux-system
  app.kubernetes.io/version: "v2.4.0"
  app.kubernetes.io/part-of: flux
fieldSpecs:
  - path: metadata/labels
    create: true
`,
  "namespace.yaml": `---
apiVersion: v1
kind: Namespace
metadata:
  name: flux-system
  labels:
    pod-security.kubernetes.io/warn: restricted
    pod-security.kubernetes.io/warn-version: latest
`,
};

const FLUX_HEADER =
  "---\n# This manifest was generated by flux. DO NOT EDIT.\n# Flux Version: v2.4.0\n" +
  "# Components: source-controller,kustomize-controller,helm-controller,notification-controller";

/**
 * gotk-components.yaml as `flux bootstrap` would write it for the default options: the release
 * files untarred into a folder, flux's overlay written next to them, a krusty build without
 * reordering (`--reorder none`, see lib/manifests/release.ts), then GetGenWarning + "\n" + output.
 * With `--namespace=<ns>` the templates put the namespace wherever the defaults have flux-system,
 * and `generate` replaces flux-system in roles/rbac.yaml too (its ClusterRoleBinding workaround).
 */
export async function fluxWrittenComponents(namespace = "flux-system"): Promise<string> {
  const ns = (text: string) => text.replaceAll("flux-system", namespace);
  const dir = await Deno.makeTempDir({ prefix: "flux-overlay-" });
  try {
    for await (const e of Deno.readDir(RELEASE_DIR)) {
      if (e.name.endsWith(".yaml")) {
        await Deno.copyFile(`${RELEASE_DIR}/${e.name}`, `${dir}/${e.name}`);
      }
    }
    await Deno.mkdir(`${dir}/roles`);
    for (const [path, text] of Object.entries(FLUX_DEFAULT_OVERLAY)) {
      await Deno.writeTextFile(`${dir}/${path}`, ns(text));
    }
    await Deno.writeTextFile(
      `${dir}/roles/rbac.yaml`,
      ns(await Deno.readTextFile(`${dir}/rbac.yaml`)),
    );
    const out = await new Deno.Command("kubectl", {
      args: ["kustomize", "--reorder", "none", dir],
      stdin: "null",
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    return `${FLUX_HEADER}\n${new TextDecoder().decode(out.stdout)}`;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name: "byte fidelity: gotk-components.yaml from the release layout is what flux writes",
  ignore: missing("kubectl"),
}, async () => {
  const expected = await fluxWrittenComponents();
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
  // The TypeScript renderer (install.yaml) is the one that differs in formatting.
  assert.notEqual(componentsFor(INSTALL_YAML, installOptions(clusterConfig())).content, expected);
});

// ---------------------------------------------------------------------------------------------
// Migration: a repository flux bootstrapped, now planned by fluxfleet.

const TOKEN = "canary-token-fidelity-5c1e";

Deno.test({
  name: "migration: a flux-bootstrapped repository shows no file change with the release layout",
  ignore: missing("kubectl"),
}, async () => {
  await withFleetEnv({
    prefix: "fluxfleet-fidelity-",
    git: { users: { git: TOKEN } },
    cliEnv: { GIT_PASSWORD: TOKEN },
  }, async ({ git, dir, tmp, cli }) => {
    const flux = {
      "clusters/c0/flux-system/gotk-components.yaml": await fluxWrittenComponents(),
      "clusters/c0/flux-system/gotk-sync.yaml": fluxWrittenSync(
        git.repoUrl("fleet"),
        "clusters/c0",
      ),
      "clusters/c0/flux-system/kustomization.yaml": FLUX_KUSTOMIZATION,
    };
    await git.createRepo("fleet", { files: flux, message: "Add Flux v2.4.0 component manifests" });
    const manifest = (manifests: string) =>
      manifestYaml({ manifests, git: tokenGit(git.repoUrl("fleet")), clusters: [{ name: "c0" }] });
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
});

Deno.test("migration: flux bootstrap --namespace=flux — gotk-sync.yaml kept, its one secret flux-system reused, no second secret", async () => {
  await withFleetEnv({
    prefix: "fluxfleet-fidelity-",
    git: { users: { git: TOKEN } },
    cliEnv: { GIT_PASSWORD: TOKEN },
  }, async ({ git, dir, kube, tmp, cli }) => {
    // The repository as flux writes it: objects named flux in namespace flux, secretRef flux-system.
    const flux = {
      "clusters/c0/flux/gotk-components.yaml": await fluxWrittenComponents("flux"),
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
