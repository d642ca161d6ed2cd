/**
 * Install options applied to the release manifest (install.yaml), as flux2 pkg/manifestgen/install
 * does with its kustomize overlay (overlay.ts): image registry, node selector, image pull secret,
 * network policies, watch-all-namespaces, cluster domain, toleration keys, log level, the flux
 * labels, and source-watcher's feature gate — as the flux CLI of `flux.version` writes them
 * (flux_cli.ts).
 */
import type { KubeObject } from "./types.ts";
import {
  eventsAddr,
  EXTERNAL_ARTIFACT_CONSUMERS,
  EXTERNAL_ARTIFACT_GATE,
  storageAdvAddr,
} from "./overlay.ts";
import { fluxCliOverlay, SOURCE_WATCHER } from "./flux_cli.ts";

export interface InstallOptions {
  version: string;
  namespace: string;
  /** Selected components (with the extra ones). */
  components: string[];
  registry: string;
  imagePullSecret?: string;
  networkPolicy: boolean;
  watchAllNamespaces: boolean;
  clusterDomain: string;
  tolerationKeys: string[];
  logLevel: "debug" | "info" | "error";
}

export const DEFAULT_REGISTRY = "ghcr.io/fluxcd";

interface Container {
  name: string;
  image?: string;
  args?: string[];
  [k: string]: unknown;
}

interface PodSpec {
  containers?: Container[];
  nodeSelector?: Record<string, string>;
  imagePullSecrets?: { name: string }[];
  tolerations?: { key: string; operator: string }[];
  [k: string]: unknown;
}

interface PodTemplate {
  metadata?: { labels?: Record<string, string>; [k: string]: unknown };
  spec?: PodSpec;
}

export function applyInstallOptions(objects: KubeObject[], opts: InstallOptions): KubeObject[] {
  return objects
    .filter((o) => opts.networkPolicy || o.kind !== "NetworkPolicy")
    .map((o) => {
      const copy = structuredClone(o);
      copy.metadata.labels = { ...copy.metadata.labels, ...fluxLabels(opts) };
      if (copy.kind === "Deployment") patchDeployment(copy, opts);
      return copy;
    });
}

/** labelsTmpl's labels. */
function fluxLabels(opts: InstallOptions): Record<string, string> {
  return {
    "app.kubernetes.io/instance": opts.namespace,
    "app.kubernetes.io/part-of": "flux",
    "app.kubernetes.io/version": opts.version,
  };
}

function patchDeployment(d: KubeObject, opts: InstallOptions) {
  const spec = d.spec as { template?: PodTemplate } | undefined;
  const template = spec?.template ?? {};
  const pod = template.spec ?? {};
  if (fluxCliOverlay(opts.version).podTemplateLabels) {
    template.metadata = {
      ...template.metadata,
      labels: { ...template.metadata?.labels, ...fluxLabels(opts) },
    };
  }
  // nodeSelectorTmpl, a strategic merge patch: the map key is merged into what is there.
  pod.nodeSelector = { ...pod.nodeSelector, "kubernetes.io/os": "linux" };
  for (const c of pod.containers ?? []) {
    if (c.image) c.image = withRegistry(c.image, opts.registry);
  }
  // templates.go patches the first container's arguments (each controller has one container).
  const first = pod.containers?.[0];
  if (first?.args) {
    first.args = first.args.map((a) => patchArg(a, d.metadata.name, opts));
    if (
      opts.components.includes(SOURCE_WATCHER) &&
      EXTERNAL_ARTIFACT_CONSUMERS.includes(d.metadata.name)
    ) {
      first.args.push(EXTERNAL_ARTIFACT_GATE);
    }
  }
  if (opts.imagePullSecret) pod.imagePullSecrets = [{ name: opts.imagePullSecret }];
  if (opts.tolerationKeys.length > 0) {
    pod.tolerations = opts.tolerationKeys.map((key) => ({ key, operator: "Exists" }));
  }
}

/** `ghcr.io/fluxcd/source-controller:v1.4.1` → `<registry>/source-controller:v1.4.1`. */
function withRegistry(image: string, registry: string): string {
  const name = image.slice(image.lastIndexOf("/") + 1);
  return `${registry.replace(/\/+$/, "")}/${name}`;
}

/**
 * The arguments flux's kustomization replaces (templates.go `patches`, by position in the first
 * container), matched here by name: `--events-addr` (notification-controller, or empty when it is
 * not installed), `--watch-all-namespaces` (source-watcher's release writes it without a value),
 * `--log-level`, and the `--storage-adv-addr` of source-controller and source-watcher, each with
 * its own name. Other arguments are left as the release has them, as flux does.
 */
function patchArg(arg: string, deployment: string, opts: InstallOptions): string {
  if (arg.startsWith("--events-addr=")) return `--events-addr=${eventsAddr(opts)}`;
  if (arg === "--watch-all-namespaces" || arg.startsWith("--watch-all-namespaces=")) {
    return `--watch-all-namespaces=${opts.watchAllNamespaces}`;
  }
  if (arg.startsWith("--log-level=")) return `--log-level=${opts.logLevel}`;
  if (arg.startsWith("--storage-adv-addr=")) return storageAdvAddr(deployment, opts.clusterDomain);
  return arg;
}
