/** Generated files: flux's shapes, valid against the Flux CRD schemas, buildable with kubectl kustomize. */
import assert from "node:assert/strict";
import YAML from "yaml";
import { GitRepository } from "@kubernetes-models/flux-cd/source.toolkit.fluxcd.io/v1";
import { Kustomization } from "@kubernetes-models/flux-cd/kustomize.toolkit.fluxcd.io/v1";
import { clusterConfig, desired, desiredFor, INSTALL_YAML } from "./helpers/fixtures.ts";
import {
  FLUX_DEFAULT_OPTIONS,
  FLUX_KUSTOMIZATION,
  FLUX_V29_OPTIONS,
  fluxArgsPatch,
  fluxWrittenSync,
} from "./helpers/flux_written.ts";
import { formatGoDuration, parseDuration } from "../lib/config/duration.ts";
import {
  eventsAddr,
  fluxOverlay,
  kustomizationYaml,
  labelsYaml,
  nodeSelectorYaml,
} from "../lib/manifests/overlay.ts";
import { fluxCliOverlay } from "../lib/manifests/flux_cli.ts";
import { parseManifest } from "../lib/config/load.ts";
import { DEFAULT_FLUX_VERSION } from "../lib/config/load.ts";
import type { InstallOptions } from "../lib/manifests/options.ts";
import { safeEntryPath, TarError, untar } from "../lib/manifests/tar.ts";
import { releaseFilesFor } from "../lib/manifests/release.ts";
import {
  componentsFor,
  desiredCluster,
  installOptions,
  tokenSecretData,
} from "../lib/plan/desired.ts";
import { pullSecretObject } from "../lib/kube/apply.ts";
import { concatBytes } from "../lib/util/bytes.ts";
import { missing } from "./helpers/tools.ts";

Deno.test("gotk-sync.yaml renders like flux (sorted keys, Go durations)", () => {
  const sync = desired().files.find((f) => f.path.endsWith("gotk-sync.yaml"))!.content;
  assert.equal(
    sync,
    fluxWrittenSync("https://git.example.com/org/fleet.git", "clusters/dev"),
  );
});

Deno.test("kustomization.yaml lists both files", () => {
  const k = desired().files.find((f) => f.path.endsWith("/kustomization.yaml"))!.content;
  assert.equal(k, FLUX_KUSTOMIZATION);
});

Deno.test("sync objects validate against the Flux v1 CRD schemas", () => {
  const d = desired();
  new GitRepository(d.gitRepository as never).validate();
  new Kustomization(d.kustomization as never).validate();
  const bad = structuredClone(d.kustomization) as unknown as { spec: { prune: unknown } };
  bad.spec.prune = "yes";
  assert.throws(() => new Kustomization(bad as never).validate(), /prune/);
});

Deno.test("gotk-sync.yaml with recurseSubmodules and sourceProvider: flux's omitempty fields, sorted", () => {
  const c = clusterConfig(`    flux: { recurseSubmodules: true, sourceProvider: azure }\n`);
  const sync = desiredFor(c).files.find((f) => f.path.endsWith("gotk-sync.yaml"))!.content;
  assert.equal(
    sync,
    fluxWrittenSync("https://git.example.com/org/fleet.git", "clusters/dev", [
      "provider: azure",
      "recurseSubmodules: true",
    ]),
  );
  // Each on its own; recurseSubmodules: false is not written (omitempty), as flux.
  const onlyProvider = desiredFor(clusterConfig(`    flux: { sourceProvider: generic }\n`));
  assert.deepEqual(Object.keys(onlyProvider.gitRepository.spec as object), [
    "interval",
    "provider",
    "ref",
    "secretRef",
    "url",
  ]);
  const off = desiredFor(clusterConfig(`    flux: { recurseSubmodules: false }\n`));
  assert.equal(
    off.files.find((f) => f.path.endsWith("gotk-sync.yaml"))!.content,
    desired().files.find((f) => f.path.endsWith("gotk-sync.yaml"))!.content,
  );
});

Deno.test("gotk-sync.yaml with sparseCheckout: flux v2.9's omitempty list after secretRef, as given", () => {
  const c = clusterConfig(`    flux: { sparseCheckout: [./clusters/dev/, infra, "01"] }\n`);
  const d = desiredFor(c);
  assert.equal(
    d.files.find((f) => f.path.endsWith("gotk-sync.yaml"))!.content,
    fluxWrittenSync("https://git.example.com/org/fleet.git", "clusters/dev", [], {
      // sigs.k8s.io/yaml: sequences not indented under their key, "01" quoted (it reads as a number).
      afterSecretRef: ["sparseCheckout:", "- ./clusters/dev/", "- infra", '- "01"'],
    }),
  );
  assert.deepEqual(Object.keys(d.gitRepository.spec as object), [
    "interval",
    "ref",
    "secretRef",
    "sparseCheckout",
    "url",
  ]);
  new GitRepository(d.gitRepository as never).validate();
  // Unset or empty: not written, the file is byte for byte what it was.
  const plain = desired().files.find((f) => f.path.endsWith("gotk-sync.yaml"))!.content;
  for (const off of ["", "    flux: { sparseCheckout: [] }\n"]) {
    const file = desiredFor(clusterConfig(off)).files
      .find((f) => f.path.endsWith("gotk-sync.yaml"))!.content;
    assert.equal(file, plain);
  }
});

Deno.test("gotk-sync.yaml for flux.namespace flux: objects named flux, the secret still flux-system (as flux bootstrap --namespace=flux)", () => {
  const d = desiredFor(clusterConfig(`    flux: { namespace: flux }\n`));
  const sync = d.files.find((f) => f.path === "clusters/dev/flux/gotk-sync.yaml");
  assert.equal(
    sync?.content,
    fluxWrittenSync("https://git.example.com/org/fleet.git", "clusters/dev", [], {
      namespace: "flux",
    }),
  );
  assert.deepEqual(d.secret.name, "flux-system");
  assert.deepEqual(d.secret.namespace, "flux");
  // flux.secretName still names it when set.
  const named = desiredFor(clusterConfig(`    flux: { namespace: flux, secretName: git-creds }\n`));
  assert.equal(named.secret.name, "git-creds");
  assert.match(
    named.files.find((f) => f.path.endsWith("gotk-sync.yaml"))!.content,
    /secretRef:\n {4}name: git-creds\n/,
  );
});

Deno.test("GitRepository with recurseSubmodules and every sourceProvider validates against the Flux v1 CRD schema", () => {
  for (const provider of ["generic", "azure", "github"]) {
    const c = clusterConfig(`    flux: { recurseSubmodules: true, sourceProvider: ${provider} }\n`);
    const repo = desiredFor(c).gitRepository;
    assert.equal((repo.spec as { provider: string }).provider, provider);
    new GitRepository(repo as never).validate();
  }
  // The same schema refuses what the manifest schema refuses: the check can fail.
  const bad = structuredClone(desiredFor(clusterConfig()).gitRepository) as unknown as {
    spec: Record<string, unknown>;
  };
  bad.spec.provider = "gitlab";
  assert.throws(() => new GitRepository(bad as never).validate(), /provider/);
  bad.spec.provider = "azure";
  bad.spec.recurseSubmodules = "yes";
  assert.throws(() => new GitRepository(bad as never).validate(), /recurseSubmodules/);
});

Deno.test("image pull secret: dockerconfigjson keyed by the registry option, as flux's GenerateDockerConfigJson marshals it", () => {
  const c = clusterConfig(
    `    flux: { registry: "registry.example.com:5000/mirror/", imagePullSecret: regcred, registryCredentials: { username: bot, password: { env: REG_PASSWORD } } }\n`,
  );
  const components = componentsFor(INSTALL_YAML, installOptions(c));
  // A password with the characters Go's encoding/json escapes (HTML-safe), a backslash before
  // a "b" (stays an escaped backslash) and a backspace (\b since Go 1.22, as JSON.stringify).
  const password = "p<a>&\\b\b";
  const d = desiredCluster(c, components, tokenSecretData("git", "t0ken"), {
    username: "bot",
    password,
  });
  assert.deepEqual(d.pullSecret, {
    name: "regcred",
    namespace: "flux-system",
    registry: "registry.example.com:5000/mirror",
    data: {
      ".dockerconfigjson":
        '{"auths":{"registry.example.com:5000/mirror":{"username":"bot","password":"p\\u003ca\\u003e\\u0026\\\\b\\b","auth":"Ym90OnA8YT4mXGII"}}}',
    },
  });
  const parsed = JSON.parse(d.pullSecret!.data[".dockerconfigjson"]);
  assert.equal(parsed.auths["registry.example.com:5000/mirror"].password, password);
  assert.equal(atob(parsed.auths["registry.example.com:5000/mirror"].auth), `bot:${password}`);
  // The Deployments pull with it (flux --image-pull-secret).
  const deployment = components.objects.find((o) => o.kind === "Deployment")!;
  assert.deepEqual(
    (deployment.spec as { template: { spec: { imagePullSecrets: unknown } } }).template.spec
      .imagePullSecrets,
    [{ name: "regcred" }],
  );
  const obj = pullSecretObject(d);
  assert.equal(obj.type, "kubernetes.io/dockerconfigjson");
  assert.deepEqual(Object.keys(obj.data as object), [".dockerconfigjson"]);
  assert.match(
    (obj.metadata.annotations as Record<string, string>)["fluxfleet.dev/credentials-digest"],
    /^[0-9a-f]{32}:[0-9a-f]{64}$/,
  );
  // Without registry credentials there is no pull secret (the one named is the user's).
  const userOwned = clusterConfig(`    flux: { imagePullSecret: regcred }\n`);
  assert.equal(desiredFor(userOwned).pullSecret, undefined);
  // Configured but not resolved is a programming error, not a silent omission.
  assert.throws(() => desiredCluster(c, components, {}), /registryCredentials were not resolved/);
});

Deno.test("gotk-components.yaml: flux header, default components only, shared objects kept", () => {
  const c = desired().files.find((f) => f.path.endsWith("gotk-components.yaml"))!.content;
  assert.ok(c.startsWith(
    "---\n# This manifest was generated by flux. DO NOT EDIT.\n# Flux Version: v2.4.0\n" +
      "# Components: source-controller,kustomize-controller,helm-controller,notification-controller\n",
  ));
  const docs = YAML.parseAllDocuments(c).map((d) => d.toJS()).filter(Boolean);
  const deployments = docs.filter((o) => o.kind === "Deployment").map((o) => o.metadata.name)
    .sort();
  assert.deepEqual(deployments, [
    "helm-controller",
    "kustomize-controller",
    "notification-controller",
    "source-controller",
  ]);
  assert.ok(docs.some((o) => o.kind === "Namespace" && o.metadata.name === "flux-system"));
  assert.ok(!docs.some((o) => o.metadata?.name?.startsWith("image")));
});

Deno.test({
  name: "the written folder builds with the real kubectl kustomize",
  ignore: missing("kubectl"),
}, async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (const f of desired().files) {
      await Deno.writeTextFile(`${dir}/${f.path.split("/").pop()}`, f.content);
    }
    const out = await new Deno.Command("kubectl", { args: ["kustomize", dir] }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const built = YAML.parseAllDocuments(new TextDecoder().decode(out.stdout)).map((d) => d.toJS());
    const kinds = new Set(built.map((o) => o.kind));
    for (const k of ["GitRepository", "Kustomization", "Deployment", "CustomResourceDefinition"]) {
      assert.ok(kinds.has(k), `kustomize output lacks ${k}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("durations render as Go's time.Duration", () => {
  assert.deepEqual(
    ["1m", "10m", "30s", "1h", "90s", "1h30m", "500ms"].map((d) =>
      formatGoDuration(parseDuration(d))
    ),
    ["1m0s", "10m0s", "30s", "1h0m0s", "1m30s", "1h30m0s", "500ms"],
  );
});

Deno.test("install options: registry, pull secret, tolerations, log level, domain, watch, network policy", () => {
  const text = `    flux:
      registry: registry.example.com/mirror/
      imagePullSecret: regcred
      tolerationKeys: [CriticalAddonsOnly, flux]
      logLevel: debug
      clusterDomain: k8s.internal
      watchAllNamespaces: false
      networkPolicy: false
      componentsExtra: [image-reflector-controller]
`;
  const d = desiredFor(clusterConfig(text), "t");
  const deployments = d.components.filter((o) => o.kind === "Deployment");
  assert.equal(deployments.length, 5);
  for (const dep of deployments) {
    const pod = (dep.spec as { template: { spec: Record<string, unknown> } }).template.spec as {
      containers: { image: string; args: string[] }[];
      imagePullSecrets: unknown;
      tolerations: unknown;
    };
    const c = pod.containers[0];
    assert.match(c.image, new RegExp(`^registry\\.example\\.com/mirror/${dep.metadata.name}:v`));
    assert.deepEqual(pod.imagePullSecrets, [{ name: "regcred" }]);
    assert.deepEqual(pod.tolerations, [
      { key: "CriticalAddonsOnly", operator: "Exists" },
      { key: "flux", operator: "Exists" },
    ]);
    assert.ok(c.args.includes("--log-level=debug"));
    assert.ok(c.args.includes("--watch-all-namespaces=false"));
    assert.ok(!c.args.some((a) => a.includes("cluster.local")), c.args.join(" "));
    if (dep.metadata.name !== "notification-controller") {
      assert.ok(
        c.args.includes(
          "--events-addr=http://notification-controller.flux-system.svc.k8s.internal./",
        ),
      );
    }
    assert.equal(dep.metadata.labels?.["app.kubernetes.io/version"], "v2.4.0");
  }
  assert.ok(!d.components.some((o) => o.kind === "NetworkPolicy"));
  const header = d.files[0].content.split("\n")[3];
  assert.equal(
    header,
    "# Components: source-controller,kustomize-controller,helm-controller,notification-controller,image-reflector-controller",
  );
});

Deno.test("default install options keep the release manifest's values", () => {
  const d = desired();
  assert.equal(d.components.filter((o) => o.kind === "NetworkPolicy").length, 3);
  const src = d.components.find((o) =>
    o.kind === "Deployment" && o.metadata.name === "source-controller"
  )!;
  const c =
    (src.spec as { template: { spec: { containers: { image: string; args: string[] }[] } } })
      .template.spec.containers[0];
  assert.match(c.image, /^ghcr\.io\/fluxcd\/source-controller:v/);
  assert.ok(c.args.includes("--watch-all-namespaces=true"));
  assert.ok(
    c.args.includes("--storage-adv-addr=source-controller.$(RUNTIME_NAMESPACE).svc.cluster.local."),
  );
});

// ---------------------------------------------------------------------------------------------
// flux's overlay (lib/manifests/overlay.ts): the text flux2's Go templates produce.

Deno.test("overlay: node-selector.yaml with a pull secret and tolerations, as nodeSelectorTmpl", () => {
  assert.equal(
    nodeSelectorYaml({
      ...FLUX_DEFAULT_OPTIONS,
      imagePullSecret: "regcred",
      tolerationKeys: ["CriticalAddonsOnly", "flux"],
    }),
    `---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: all
spec:
  template:
    spec:
      nodeSelector:
        kubernetes.io/os: linux
      imagePullSecrets:
       - name: regcred

      tolerations:
       - key: "CriticalAddonsOnly"
         operator: "Exists"
       - key: "flux"
         operator: "Exists"
`,
  );
  // No pull secret, no tolerations: the template leaves one empty line.
  assert.ok(nodeSelectorYaml(FLUX_DEFAULT_OPTIONS).endsWith("kubernetes.io/os: linux\n\n"));
});

Deno.test("overlay: kustomization.yaml without network policy, notification-controller or registry", () => {
  const opts: InstallOptions = {
    ...FLUX_DEFAULT_OPTIONS,
    namespace: "gitops",
    components: ["source-controller", "kustomize-controller"],
    registry: "",
    networkPolicy: false,
    watchAllNamespaces: false,
    clusterDomain: "k8s.internal",
    logLevel: "debug",
  };
  assert.equal(eventsAddr(opts), "");
  const args: [number, string][] = [
    [0, "--events-addr="],
    [1, "--watch-all-namespaces=false"],
    [2, "--log-level=debug"],
  ];
  assert.equal(
    kustomizationYaml(opts),
    `---
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: gitops

transformers:
  - labels.yaml

resources:
  - namespace.yaml
  - roles
  - source-controller.yaml
  - kustomize-controller.yaml

patches:
- path: node-selector.yaml
  target:
    kind: Deployment
${
      fluxArgsPatch("source-controller", [
        ...args,
        [6, "--storage-adv-addr=source-controller.$(RUNTIME_NAMESPACE).svc.k8s.internal."],
      ])
    }
${fluxArgsPatch("kustomize-controller", args)}
`,
  );
});

Deno.test("overlay: every file flux writes; roles/rbac.yaml re-namespaced like flux's ReplaceAll", () => {
  const rbac =
    "kind: ClusterRoleBinding\nsubjects:\n- name: source-controller\n  namespace: flux-system\n";
  const same = fluxOverlay(FLUX_DEFAULT_OPTIONS, rbac);
  assert.deepEqual(Object.keys(same).sort(), [
    "kustomization.yaml",
    "labels.yaml",
    "namespace.yaml",
    "node-selector.yaml",
    "roles/kustomization.yaml",
    "roles/rbac.yaml",
  ]);
  assert.equal(same["roles/rbac.yaml"], rbac);
  const other = fluxOverlay(
    { ...FLUX_DEFAULT_OPTIONS, namespace: "gitops", version: "v2.5.1" },
    rbac,
  );
  assert.equal(other["roles/rbac.yaml"], rbac.replace("flux-system", "gitops"));
  assert.equal(
    other["roles/kustomization.yaml"],
    "---\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: gitops\n" +
      "resources:\n  - rbac.yaml\nnameSuffix: -gitops\n",
  );
  assert.match(other["labels.yaml"], /\n {2}app\.kubernetes\.io\/version: "v2\.5\.1"\n/);
  assert.match(other["labels.yaml"], /\n {2}app\.kubernetes\.io\/instance: gitops\n/);
  assert.match(other["namespace.yaml"], /\n {2}name: gitops\n/);
  assert.equal(
    eventsAddr({ ...FLUX_DEFAULT_OPTIONS, namespace: "gitops", clusterDomain: "corp" }),
    "http://notification-controller.gitops.svc.corp./",
  );
  assert.match(
    kustomizationYaml({ ...FLUX_DEFAULT_OPTIONS, registry: "mirror.example.com/flux" }),
    /\nimages:\n {2}- name: fluxcd\/source-controller\n {4}newName: mirror\.example\.com\/flux\/source-controller\n/,
  );
});

Deno.test("release layout: an unknown component names the file it lacks", () => {
  const files = new Map(
    ["rbac.yaml", "policies.yaml", "source-controller.yaml", "kustomize-controller.yaml"]
      .map((f) => [f, new Uint8Array()]),
  );
  const release = { source: "/r", files };
  assert.deepEqual(
    releaseFilesFor(release, {
      ...FLUX_DEFAULT_OPTIONS,
      components: ["source-controller", "kustomize-controller"],
    }),
    ["policies.yaml", "rbac.yaml", "source-controller.yaml", "kustomize-controller.yaml"],
  );
  assert.throws(
    () => releaseFilesFor(release, FLUX_DEFAULT_OPTIONS),
    /flux\.manifests: \/r has no helm-controller\.yaml, so component "helm-controller" cannot be installed from it \(it holds: kustomize-controller\.yaml, policies\.yaml, rbac\.yaml, source-controller\.yaml\)/,
  );
  files.delete("policies.yaml");
  assert.throws(
    () =>
      releaseFilesFor(release, {
        ...FLUX_DEFAULT_OPTIONS,
        components: ["source-controller", "kustomize-controller"],
      }),
    /has no policies\.yaml/,
  );
});

// ---------------------------------------------------------------------------------------------
// The flux CLI whose overlay is written follows flux.version (lib/manifests/flux_cli.ts): flux
// bootstrap only takes a --version of its own minor release.

const POD_TEMPLATE_LABELS = "  - kind: Deployment\n    path: spec/template/metadata/labels\n";

Deno.test("overlay: the CLI of flux.version — v2.6 labels metadata only, v2.7.0 pod templates too, v2.7.2 on $(RUNTIME_NAMESPACE)", () => {
  const at = (version: string) => ({ ...FLUX_DEFAULT_OPTIONS, version, namespace: "gitops" });
  const cases: [string, boolean, string][] = [
    ["v2.0.0", false, "gitops"],
    ["v2.6.4", false, "gitops"],
    ["v2.7.0-rc.1", false, "gitops"],
    ["v2.7.0", true, "gitops"],
    ["v2.7.1", true, "gitops"],
    ["v2.7.2", true, "$(RUNTIME_NAMESPACE)"],
    ["v2.8.0", true, "$(RUNTIME_NAMESPACE)"],
    ["v2.9.4", true, "$(RUNTIME_NAMESPACE)"],
    ["v2.10.0", true, "$(RUNTIME_NAMESPACE)"],
  ];
  for (const [version, podLabels, eventsNs] of cases) {
    assert.equal(labelsYaml(at(version)).includes(POD_TEMPLATE_LABELS), podLabels, version);
    const events = `--events-addr=http://notification-controller.${eventsNs}.svc.cluster.local./`;
    assert.equal(eventsAddr(at(version)), events.slice("--events-addr=".length), version);
    assert.ok(kustomizationYaml(at(version)).includes(`\n      value: ${events}\n`), version);
  }
  // labelsTmpl at v2.9.4, to the byte.
  assert.equal(
    labelsYaml(FLUX_V29_OPTIONS),
    "---\napiVersion: builtin\nkind: LabelTransformer\nmetadata:\n  name: labels\nlabels:\n" +
      '  app.kubernetes.io/instance: flux-system\n  app.kubernetes.io/version: "v2.9.4"\n' +
      "  app.kubernetes.io/part-of: flux\nfieldSpecs:\n  - path: metadata/labels\n    create: true\n" +
      POD_TEMPLATE_LABELS + "    create: true\n",
  );
  // Without flux.version, fluxfleet installs (and writes the overlay of) the newest CLI it knows.
  const unset = parseManifest(
    "clusters:\n  - name: dev\n    path: clusters/dev\n    git:\n      url: https://git.example.com/fleet.git\n" +
      "      auth: { type: token, token: { env: GIT_PASSWORD } }\n",
    "/m/flux-bootstrap.yaml",
  ).clusters[0];
  assert.equal(installOptions(unset).version, DEFAULT_FLUX_VERSION);
  assert.deepEqual(fluxCliOverlay(DEFAULT_FLUX_VERSION), fluxCliOverlay("v2.9.4"));
});

Deno.test("overlay: source-watcher — its own patches and address, the feature gate patch last, its image", () => {
  const y = kustomizationYaml({
    ...FLUX_V29_OPTIONS,
    components: ["source-controller", "kustomize-controller", "source-watcher"],
    clusterDomain: "corp",
    registry: "mirror.example.com/flux",
  });
  const events = "--events-addr=";
  assert.ok(
    y.endsWith(
      "\n" + fluxArgsPatch("source-watcher", [
        [0, events],
        [1, "--watch-all-namespaces=true"],
        [2, "--log-level=info"],
        [6, "--storage-adv-addr=source-watcher.$(RUNTIME_NAMESPACE).svc.corp."],
      ]) + `
- target:
    kind: Deployment
    name: "(kustomize-controller|helm-controller)"
  patch: |-
    - op: add
      path: /spec/template/spec/containers/0/args/-
      value: --feature-gates=ExternalArtifact=true
images:
  - name: fluxcd/source-controller
    newName: mirror.example.com/flux/source-controller
  - name: fluxcd/kustomize-controller
    newName: mirror.example.com/flux/kustomize-controller
  - name: fluxcd/source-watcher
    newName: mirror.example.com/flux/source-watcher
`,
    ),
    y,
  );
  assert.match(y, /\n {2}- source-watcher\.yaml\n\npatches:\n/);
  // Without source-watcher no feature gate is written.
  assert.ok(!kustomizationYaml(FLUX_V29_OPTIONS).includes("feature-gates"));
});

Deno.test("source-watcher before flux v2.7.2 is refused: in the manifest (cluster, field) and by the overlay", () => {
  for (
    const [version, why] of [
      ["v2.6.4", /flux v2\.6\.4 has no source-watcher/],
      ["v2.7.1", /flux v2\.7\.1 points its --storage-adv-addr at source-controller/],
    ] as const
  ) {
    assert.throws(
      () =>
        clusterConfig(
          `    flux:\n      version: ${version}\n      componentsExtra: [source-watcher]\n`,
        ),
      (e: Error) => {
        assert.match(e.message, /dev/);
        assert.match(e.message, /flux\.componentsExtra/);
        assert.match(e.message, /source-watcher needs flux\.version v2\.7\.2 or later/);
        assert.match(e.message, why);
        return true;
      },
    );
    assert.throws(
      () =>
        kustomizationYaml({
          ...FLUX_DEFAULT_OPTIONS,
          version,
          components: [...FLUX_DEFAULT_OPTIONS.components, "source-watcher"],
        }),
      /flux\.componentsExtra: source-watcher needs flux\.version v2\.7\.2 or later/,
    );
  }
  const ok = clusterConfig(
    "    flux:\n      version: v2.7.2\n      componentsExtra: [source-watcher]\n",
  );
  assert.deepEqual(ok.flux.componentsExtra, ["source-watcher"]);
});

Deno.test("TypeScript renderer: source-watcher as flux v2.9 writes it (bare --watch-all-namespaces, own address, feature gate, pod labels, node selector)", () => {
  const opts = installOptions(clusterConfig(
    "    flux:\n      version: v2.9.4\n      componentsExtra: [source-watcher]\n      watchAllNamespaces: false\n",
  ));
  const { objects } = componentsFor(INSTALL_YAML, opts);
  type Pod = {
    metadata: { labels: Record<string, string> };
    spec: { nodeSelector: Record<string, string>; containers: { args: string[] }[] };
  };
  const pod = (name: string) =>
    (objects.find((o) => o.kind === "Deployment" && o.metadata.name === name)!.spec as {
      template: Pod;
    }).template;
  assert.deepEqual(pod("source-watcher").spec.containers[0].args, [
    "--events-addr=http://notification-controller.$(RUNTIME_NAMESPACE).svc.cluster.local./",
    "--watch-all-namespaces=false",
    "--log-level=info",
    "--log-encoding=json",
    "--enable-leader-election",
    "--storage-path=/data",
    "--storage-adv-addr=source-watcher.$(RUNTIME_NAMESPACE).svc.cluster.local.",
  ]);
  assert.deepEqual(pod("source-watcher").spec.nodeSelector, { "kubernetes.io/os": "linux" });
  assert.deepEqual(pod("source-watcher").metadata.labels, {
    app: "source-watcher",
    "app.kubernetes.io/component": "source-watcher",
    "app.kubernetes.io/instance": "flux-system",
    "app.kubernetes.io/part-of": "flux",
    "app.kubernetes.io/version": "v2.9.4",
  });
  for (const name of ["kustomize-controller", "helm-controller"]) {
    assert.equal(pod(name).spec.containers[0].args.at(-1), "--feature-gates=ExternalArtifact=true");
  }
  for (const name of ["source-controller", "notification-controller"]) {
    assert.ok(!pod(name).spec.containers[0].args.some((a) => a.startsWith("--feature-gates")));
  }
  // flux v2.4: pod templates keep the release's labels.
  const v24 = componentsFor(INSTALL_YAML, installOptions(clusterConfig())).objects
    .find((o) => o.kind === "Deployment" && o.metadata.name === "source-controller")!;
  assert.equal(
    (v24.spec as { template: Pod }).template.metadata.labels["app.kubernetes.io/version"],
    undefined,
  );
});

Deno.test("TypeScript renderer: a component the install.yaml lacks is said, not left out", () => {
  const withoutWatcher = INSTALL_YAML.split(/^---\n/m)
    .filter((doc) => !doc.includes("app.kubernetes.io/component: source-watcher"))
    .join("---\n");
  const opts = installOptions(
    clusterConfig("    flux:\n      version: v2.9.4\n      componentsExtra: [source-watcher]\n"),
  );
  assert.throws(
    () => componentsFor(withoutWatcher, opts),
    /flux\.manifests: the install manifest has no objects of component "source-watcher" \(label app\.kubernetes\.io\/component\), so it cannot be installed from it/,
  );
  assert.ok(componentsFor(INSTALL_YAML, opts).objects.length > 0);
});

// ---------------------------------------------------------------------------------------------
// The tar reader (lib/manifests/tar.ts) on archives built byte by byte here; archives made by
// the system tar are in tests/integration/manifest_source_test.ts.

function tarHeader(name: string, size: number, type = "0", extra: Record<number, string> = {}) {
  const h = new Uint8Array(512);
  const put = (at: number, s: string) => h.set(new TextEncoder().encode(s), at);
  put(0, name);
  put(100, "0000644\0");
  put(108, "0000000\0");
  put(116, "0000000\0");
  put(124, size.toString(8).padStart(11, "0") + "\0");
  put(136, "00000000000\0");
  put(156, type);
  put(257, "ustar\x0000");
  for (const [at, s] of Object.entries(extra)) put(Number(at), s);
  put(148, "        ");
  const sum = h.reduce((a, b) => a + b, 0);
  put(148, sum.toString(8).padStart(6, "0") + "\0 ");
  return h;
}

function tarOf(...entries: [Uint8Array, string?][]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const [header, data] of entries) {
    parts.push(header);
    if (data !== undefined) {
      const bytes = new TextEncoder().encode(data);
      const padded = new Uint8Array(Math.ceil(bytes.length / 512) * 512);
      padded.set(bytes);
      parts.push(padded);
    }
  }
  parts.push(new Uint8Array(1024));
  return concatBytes(parts);
}

const text = (b: Uint8Array | undefined) => new TextDecoder().decode(b);

Deno.test("tar: regular files, directories skipped, ./ dropped, ustar prefix and pax path honoured", () => {
  const pax = "27 path=long/pax-name.yaml\n";
  const files = untar(tarOf(
    [tarHeader("./", 0, "5")],
    [tarHeader("./rbac.yaml", 5), "rbac\n"],
    [tarHeader("b.yaml", 2, "0", { 345: "pre/fix" }), "b\n"],
    [tarHeader("PaxHeaders/x", pax.length, "x"), pax],
    [tarHeader("short-name", 3), "px\n"],
  ));
  assert.deepEqual([...files.keys()], ["rbac.yaml", "pre/fix/b.yaml", "long/pax-name.yaml"]);
  assert.equal(text(files.get("rbac.yaml")), "rbac\n");
  assert.equal(text(files.get("long/pax-name.yaml")), "px\n");
});

Deno.test("tar: links, traversal, absolute paths, bad checksums and truncation are refused", () => {
  assert.throws(
    () => untar(tarOf([tarHeader("../x", 1), "x"])),
    /"\.\.\/x": "\.\." is not allowed/,
  );
  assert.throws(() => untar(tarOf([tarHeader("a/../../x", 1), "x"])), /"\.\." is not allowed/);
  assert.throws(() => untar(tarOf([tarHeader("/etc/x", 1), "x"])), /absolute paths/);
  assert.throws(
    () => untar(tarOf([tarHeader("link", 0, "2", { 157: "/etc/passwd" })])),
    /"link": links are not allowed/,
  );
  assert.throws(() => untar(tarOf([tarHeader("hard", 0, "1", { 157: "x" })])), /links/);
  assert.throws(() => untar(tarOf([tarHeader("fifo", 0, "6")])), /unsupported entry type "6"/);
  const pax = "21 path=../evil.yaml\n";
  assert.throws(
    () =>
      untar(tarOf([tarHeader("PaxHeaders/x", pax.length, "x"), pax], [tarHeader("ok", 1), "x"])),
    /"\.\.\/evil\.yaml": "\.\." is not allowed/,
  );
  const malformed = "30 path=long/pax-name.yaml\n"; // the length is 27
  assert.throws(
    () =>
      untar(tarOf([tarHeader("P/x", malformed.length, "x"), malformed], [tarHeader("o", 1), "x"])),
    /malformed pax header/,
  );
  const bad = tarHeader("a.yaml", 1);
  bad[0] = "b".charCodeAt(0);
  assert.throws(() => untar(tarOf([bad, "x"])), TarError);
  assert.throws(() => untar(tarOf([bad, "x"])), /bad header checksum/);
  const whole = tarOf([tarHeader("a.yaml", 1000), "x".repeat(1000)]);
  assert.throws(() => untar(whole.subarray(0, 700)), /truncated/);
  assert.equal(safeEntryPath("./a//b/./c.yaml"), "a/b/c.yaml");
  assert.throws(() => safeEntryPath("a\\..\\b"), /backslashes/);
});

Deno.test("TypeScript renderer: another namespace and no notification-controller, as flux's build", () => {
  const d = desiredFor(
    clusterConfig(
      "    flux:\n      namespace: gitops\n      components: [source-controller, kustomize-controller]\n",
    ),
    "t",
  );
  const names = d.components.filter((o) => o.kind.startsWith("ClusterRole"))
    .map((o) => o.metadata.name).sort();
  assert.deepEqual(names, [
    "cluster-reconciler-gitops",
    "crd-controller-gitops",
    "crd-controller-gitops",
    "flux-edit-gitops",
    "flux-view-gitops",
  ]);
  const binding = d.components.find((o) =>
    o.kind === "ClusterRoleBinding" && o.metadata.name === "crd-controller-gitops"
  ) as unknown as { roleRef: { name: string }; subjects: { namespace: string }[] };
  assert.equal(binding.roleRef.name, "crd-controller-gitops");
  assert.deepEqual([...new Set(binding.subjects.map((s) => s.namespace))], ["gitops"]);
  assert.ok(!JSON.stringify(d.components).includes("flux-system"));
  for (const dep of d.components.filter((o) => o.kind === "Deployment")) {
    const args = (dep.spec as { template: { spec: { containers: { args: string[] }[] } } })
      .template.spec.containers[0].args;
    // flux sets --events-addr to notification-controller's address only when it is installed.
    assert.equal(args[0], "--events-addr=", dep.metadata.name);
  }
  const withNc = desiredFor(clusterConfig("    flux:\n      namespace: gitops\n"), "t");
  const src = withNc.components.find((o) =>
    o.kind === "Deployment" && o.metadata.name === "source-controller"
  )!;
  assert.equal(
    (src.spec as { template: { spec: { containers: { args: string[] }[] } } }).template.spec
      .containers[0].args[0],
    "--events-addr=http://notification-controller.gitops.svc.cluster.local./",
  );
});

Deno.test("parseObjects: the fast reader gives what the yaml package gives, and leaves it what it must", async () => {
  const { parseObjects } = await import("../lib/manifests/render.ts");
  const { parseDocumentsFast } = await import("../lib/manifests/fast_parse.ts");
  const byYaml = (text: string) =>
    YAML.parseAllDocuments(text).map((d) => {
      if (d.errors.length > 0) throw new Error(`invalid YAML in manifest: ${d.errors[0].message}`);
      return d.toJS() as unknown;
    }).filter((o) => o !== null && typeof o === "object" && "kind" in (o as object));
  const releaseFiles = [...Deno.readDirSync("fixtures/flux-manifests")]
    .filter((e) => e.name.endsWith(".yaml"))
    .map((e) => Deno.readTextFileSync(`fixtures/flux-manifests/${e.name}`));
  // YAML 1.2 core scalars where js-yaml's own core schema would differ, and a few aliases.
  const scalars = `kind: Scalars
ints: [0, -12, +12, 0755, 0o17, 0x1F, -0x1F, +0o7, 0b101, 1_000, 12345678901234567890]
floats: [1.5, -.5, +.5, .5, 1., 1e3, -1.5E-3, .inf, -.Inf, +.INF, .nan, .NaN, 1.2.3]
bools: [true, True, TRUE, false, yes, no, on, off, y, n]
nulls: [~, null, Null, NULL, "", nil]
dates: [2001-12-14, 2001-12-14t21:59:43.10-05:00]
anchored: &list [a, b]
again: *list
scalar: &s x
scalarAgain: *s
"<<": *list
---
kind: Second
key: value
`;
  for (const text of [INSTALL_YAML, ...releaseFiles, scalars]) {
    assert.deepEqual(parseObjects(text), byYaml(text));
  }
  assert.notEqual(parseDocumentsFast(scalars), undefined, "read by the fast reader");
  // Left to the yaml package: its results and errors as before.
  const manyAliases = "kind: A\nl: &l [1]\n" +
    Array.from({ length: 11 }, (_, i) => `k${i}: *l\n`).join("");
  const yaml11 = "%YAML 1.1\n---\nkind: A\nflag: yes\n";
  const duplicate = "kind: A\nkey: 1\nkey: 2\n";
  const unknownTag = "kind: A\nv: !Ref x\n";
  for (const text of [manyAliases, yaml11, duplicate, unknownTag]) {
    assert.equal(parseDocumentsFast(text), undefined, text);
  }
  assert.deepEqual(parseObjects(manyAliases), byYaml(manyAliases));
  assert.deepEqual(parseObjects(yaml11), [{ kind: "A", flag: true }]);
  assert.deepEqual(parseObjects(unknownTag), byYaml(unknownTag));
  assert.throws(() => parseObjects(duplicate), /invalid YAML in manifest: Map keys must be unique/);
  // The alias bomb the yaml package refuses is still refused.
  const bomb = "kind: A\na: &a [x, x, x, x, x, x, x, x, x, x]\n" +
    "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n" +
    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n";
  assert.throws(() => parseObjects(bomb), /Excessive alias count/);
});
