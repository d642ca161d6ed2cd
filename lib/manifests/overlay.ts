/**
 * The kustomize overlay flux writes next to the release manifests before building
 * gotk-components.yaml: flux2 pkg/manifestgen/install/templates.go (kustomizationTmpl,
 * kustomizationRolesTmpl, nodeSelectorTmpl, labelsTmpl, namespaceTmpl) as executed by
 * manifests.go `generate`. The text is what those Go templates produce, whitespace included
 * (`{{-` trims the whitespace before it), so the build sees exactly flux's input. The CLI release
 * whose text is written follows `flux.version` (flux_cli.ts): the text of flux2 v2.9.4, with the
 * differences of earlier CLIs where they apply. Pure.
 */
import type { InstallOptions } from "./options.ts";
import { fluxCliOverlay, SOURCE_WATCHER, sourceWatcherProblem } from "./flux_cli.ts";

const NOTIFICATION_CONTROLLER = "notification-controller";
const SOURCE_CONTROLLER = "source-controller";
/** flux2 install.MakeDefaultOptions().Namespace: the namespace the release's rbac.yaml names. */
const RELEASE_NAMESPACE = "flux-system";

/**
 * `--events-addr` value (manifests.go `generate`): the notification-controller's FQDN when it is
 * installed, else empty. The CLI v2.7.2 on names the namespace `$(RUNTIME_NAMESPACE)` (each
 * controller's own namespace, from its env); earlier CLIs write the namespace.
 */
export function eventsAddr(opts: InstallOptions): string {
  if (!opts.components.includes(NOTIFICATION_CONTROLLER)) return "";
  const ns = fluxCliOverlay(opts.version).eventsAddrRuntimeNamespace
    ? "$(RUNTIME_NAMESPACE)"
    : opts.namespace;
  return `http://${NOTIFICATION_CONTROLLER}.${ns}.svc.${opts.clusterDomain}./`;
}

/**
 * `--storage-adv-addr` of source-controller and source-watcher (templates.go): the component's own
 * name from v2.7.2 on (8c45f25f), source-controller's before — the same text for source-controller.
 */
export function storageAdvAddr(component: string, clusterDomain: string): string {
  return `--storage-adv-addr=${component}.$(RUNTIME_NAMESPACE).svc.${clusterDomain}.`;
}

/**
 * kustomize-controller's and helm-controller's extra argument when source-watcher is installed
 * (templates.go v2.7.0 on): they consume its ExternalArtifacts behind this feature gate.
 */
export const EXTERNAL_ARTIFACT_GATE = "--feature-gates=ExternalArtifact=true";
/** The Deployments templates.go adds EXTERNAL_ARTIFACT_GATE to (its regex patch target). */
export const EXTERNAL_ARTIFACT_CONSUMERS = ["kustomize-controller", "helm-controller"];

function replaceArgs(component: string, values: [number, string][]): string {
  return "\n- target:\n    group: apps\n    version: v1\n    kind: Deployment\n" +
    `    name: ${component}\n  patch: |-` +
    values.map(([i, v]) =>
      `\n    - op: replace\n      path: /spec/template/spec/containers/0/args/${i}\n      value: ${v}`
    ).join("");
}

/** Refuses what no flux CLI of this version writes (see flux_cli.ts). */
function assertKnownComponents(opts: InstallOptions): void {
  const problem = opts.components.includes(SOURCE_WATCHER)
    ? sourceWatcherProblem(opts.version)
    : undefined;
  if (problem) throw new Error(`flux.componentsExtra: ${problem}`);
}

export function kustomizationYaml(opts: InstallOptions): string {
  assertKnownComponents(opts);
  const events = `--events-addr=${eventsAddr(opts)}`;
  const watch = `--watch-all-namespaces=${opts.watchAllNamespaces}`;
  const log = `--log-level=${opts.logLevel}`;
  let out = "---\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n" +
    `namespace: ${opts.namespace}\n\ntransformers:\n  - labels.yaml\n\nresources:\n  - namespace.yaml`;
  if (opts.networkPolicy) out += "\n  - policies.yaml";
  out += "\n  - roles";
  for (const c of opts.components) out += `\n  - ${c}.yaml`;
  out += "\n\npatches:\n- path: node-selector.yaml\n  target:\n    kind: Deployment";
  for (const c of opts.components) {
    if (c === NOTIFICATION_CONTROLLER) {
      out += replaceArgs(c, [[0, watch], [1, log]]);
    } else if (c === SOURCE_CONTROLLER || c === SOURCE_WATCHER) {
      // Before v2.7.2 the address named source-controller whatever the component; source-watcher
      // is refused before v2.7.2, so the component's own name is what every CLI writes here.
      const adv = storageAdvAddr(c, opts.clusterDomain);
      out += replaceArgs(c, [[0, events], [1, watch], [2, log], [6, adv]]);
    } else {
      out += replaceArgs(c, [[0, events], [1, watch], [2, log]]);
    }
  }
  if (opts.components.includes(SOURCE_WATCHER)) {
    out += "\n- target:\n    kind: Deployment\n" +
      `    name: "(${EXTERNAL_ARTIFACT_CONSUMERS.join("|")})"\n  patch: |-\n` +
      "    - op: add\n      path: /spec/template/spec/containers/0/args/-\n" +
      `      value: ${EXTERNAL_ARTIFACT_GATE}`;
  }
  if (opts.registry) {
    out += "\nimages:";
    for (const c of opts.components) {
      out += `\n  - name: fluxcd/${c}\n    newName: ${opts.registry}/${c}`;
    }
  }
  return out + "\n";
}

export function rolesKustomizationYaml(opts: InstallOptions): string {
  return "---\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n" +
    `namespace: ${opts.namespace}\nresources:\n  - rbac.yaml\nnameSuffix: -${opts.namespace}\n`;
}

export function nodeSelectorYaml(opts: InstallOptions): string {
  let out = "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: all\nspec:\n" +
    "  template:\n    spec:\n      nodeSelector:\n        kubernetes.io/os: linux";
  if (opts.imagePullSecret) {
    out += `\n      imagePullSecrets:\n       - name: ${opts.imagePullSecret}`;
  }
  out += "\n";
  if (opts.tolerationKeys.length > 0) {
    out += "\n      tolerations:";
    for (const key of opts.tolerationKeys) {
      out += `\n       - key: "${key}"\n         operator: "Exists"`;
    }
  }
  return out + "\n";
}

export function labelsYaml(opts: InstallOptions): string {
  return "---\napiVersion: builtin\nkind: LabelTransformer\nmetadata:\n  name: labels\nlabels:\n" +
    `  app.kubernetes.io/instance: ${opts.namespace}\n` +
    `  app.kubernetes.io/version: "${opts.version}"\n` +
    "  app.kubernetes.io/part-of: flux\nfieldSpecs:\n  - path: metadata/labels\n    create: true\n" +
    (fluxCliOverlay(opts.version).podTemplateLabels
      ? "  - kind: Deployment\n    path: spec/template/metadata/labels\n    create: true\n"
      : "");
}

export function namespaceYaml(opts: InstallOptions): string {
  return `---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${opts.namespace}\n` +
    "  labels:\n    pod-security.kubernetes.io/warn: restricted\n" +
    "    pod-security.kubernetes.io/warn-version: latest\n";
}

/**
 * Every file flux's `generate` writes into the folder holding the release manifests, by path.
 * `roles/rbac.yaml` is the release's rbac.yaml with "flux-system" replaced by the namespace
 * (flux's workaround for ClusterRoleBinding subjects, which kustomize does not re-namespace).
 */
export function fluxOverlay(opts: InstallOptions, rbacYaml: string): Record<string, string> {
  return {
    "namespace.yaml": namespaceYaml(opts),
    "labels.yaml": labelsYaml(opts),
    "node-selector.yaml": nodeSelectorYaml(opts),
    "kustomization.yaml": kustomizationYaml(opts),
    "roles/kustomization.yaml": rolesKustomizationYaml(opts),
    "roles/rbac.yaml": opts.namespace === RELEASE_NAMESPACE
      ? rbacYaml
      : rbacYaml.replaceAll(RELEASE_NAMESPACE, opts.namespace),
  };
}
