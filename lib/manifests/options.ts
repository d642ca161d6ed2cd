/**
 * Install options applied to the release manifest, as flux2 pkg/manifestgen/install does with
 * kustomize patches: image registry, image pull secret, network policies, watch-all-namespaces,
 * cluster domain, toleration keys, log level, and the flux labels on every object.
 */
import type { KubeObject } from "./types.ts";
import { eventsAddr } from "./overlay.ts";

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
  imagePullSecrets?: { name: string }[];
  tolerations?: { key: string; operator: string }[];
  [k: string]: unknown;
}

export function applyInstallOptions(objects: KubeObject[], opts: InstallOptions): KubeObject[] {
  return objects
    .filter((o) => opts.networkPolicy || o.kind !== "NetworkPolicy")
    .map((o) => {
      const copy = structuredClone(o);
      copy.metadata.labels = {
        ...copy.metadata.labels,
        "app.kubernetes.io/instance": opts.namespace,
        "app.kubernetes.io/part-of": "flux",
        "app.kubernetes.io/version": opts.version,
      };
      if (copy.kind === "Deployment") patchDeployment(copy, opts);
      return copy;
    });
}

function patchDeployment(d: KubeObject, opts: InstallOptions) {
  const spec = ((d.spec as { template?: { spec?: PodSpec } })?.template?.spec) ?? {};
  for (const c of spec.containers ?? []) {
    if (c.image) c.image = withRegistry(c.image, opts.registry);
    if (c.args) c.args = c.args.map((a) => patchArg(a, opts));
  }
  if (opts.imagePullSecret) spec.imagePullSecrets = [{ name: opts.imagePullSecret }];
  if (opts.tolerationKeys.length > 0) {
    spec.tolerations = opts.tolerationKeys.map((key) => ({ key, operator: "Exists" }));
  }
}

/** `ghcr.io/fluxcd/source-controller:v1.4.1` → `<registry>/source-controller:v1.4.1`. */
function withRegistry(image: string, registry: string): string {
  const name = image.slice(image.lastIndexOf("/") + 1);
  return `${registry.replace(/\/+$/, "")}/${name}`;
}

/**
 * The arguments flux's kustomization replaces (templates.go `patchesJson6902`), matched by name
 * rather than by position: `--events-addr` (notification-controller in the flux namespace, or
 * empty when it is not installed), `--watch-all-namespaces`, `--log-level` and source-controller's
 * `--storage-adv-addr`. Other arguments are left as the release has them, as flux does.
 */
function patchArg(arg: string, opts: InstallOptions): string {
  if (arg.startsWith("--events-addr=")) return `--events-addr=${eventsAddr(opts)}`;
  if (arg.startsWith("--watch-all-namespaces=")) {
    return `--watch-all-namespaces=${opts.watchAllNamespaces}`;
  }
  if (arg.startsWith("--log-level=")) return `--log-level=${opts.logLevel}`;
  if (arg.startsWith("--storage-adv-addr=")) {
    return `--storage-adv-addr=source-controller.$(RUNTIME_NAMESPACE).svc.${opts.clusterDomain}.`;
  }
  return arg;
}
