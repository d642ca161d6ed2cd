/**
 * The uninstall plan (`fluxfleet destroy`), pure like planCluster. Order mirrors `flux uninstall`:
 * finalizers off Flux's custom resources (so nothing the Kustomization applied is pruned), sync
 * objects, components, CRDs, then the namespace (or, with keepNamespace, only the source secret
 * and the image pull secret fluxfleet wrote), and optionally the files in git.
 */
import type { DesiredCluster, ObservedCluster, ObservedRepo } from "./types.ts";
import { plural } from "../util/words.ts";

export interface DestroyOptions {
  keepNamespace: boolean;
  deleteGitManifests: boolean;
}

export type DestroyStep =
  | { kind: "finalizers"; action: "remove"; crds: number }
  | {
    kind: "sync";
    action: "delete";
    object: "GitRepository" | "Kustomization";
    namespace: string;
    name: string;
  }
  | { kind: "components"; action: "delete"; objects: number }
  | { kind: "crds"; action: "delete"; names: string[] }
  | { kind: "namespace"; action: "delete"; name: string }
  | { kind: "secret"; action: "delete"; namespace: string; name: string }
  | { kind: "pullSecret"; action: "delete"; namespace: string; name: string }
  | { kind: "file"; action: "delete"; path: string }
  /** The access (deploy) keys fluxfleet added for the cluster, by their title; after the cluster. */
  | { kind: "accessKey"; action: "delete"; label: string; ids: number[] };

export interface DestroyPlan {
  cluster: string;
  steps: DestroyStep[];
  error?: string;
}

export function planDestroy(
  desired: DesiredCluster,
  repo: ObservedRepo,
  cluster: ObservedCluster,
  opts: DestroyOptions,
  /** The cluster's access keys the repository's provider holds (its label, their ids). */
  accessKeys?: { label: string; ids: number[] },
): DestroyPlan {
  const steps: DestroyStep[] = [];
  const installed = cluster.namespace || cluster.gitRepository !== undefined ||
    cluster.kustomization !== undefined;
  const crds = desired.components.filter((o) => o.kind === "CustomResourceDefinition");
  if (installed) {
    steps.push({ kind: "finalizers", action: "remove", crds: crds.length });
    const ns = desired.namespace;
    if (cluster.kustomization) {
      steps.push({
        kind: "sync",
        action: "delete",
        object: "Kustomization",
        namespace: ns,
        name: desired.kustomization.metadata.name,
      });
    }
    if (cluster.gitRepository) {
      steps.push({
        kind: "sync",
        action: "delete",
        object: "GitRepository",
        namespace: ns,
        name: desired.gitRepository.metadata.name,
      });
    }
    const others = desired.components.filter((o) =>
      o.kind !== "CustomResourceDefinition" && o.kind !== "Namespace"
    );
    steps.push({ kind: "components", action: "delete", objects: others.length });
    steps.push({ kind: "crds", action: "delete", names: crds.map((c) => c.metadata.name) });
    if (!opts.keepNamespace && cluster.namespace) {
      steps.push({ kind: "namespace", action: "delete", name: ns });
    } else {
      if (cluster.secret) {
        steps.push({ kind: "secret", action: "delete", namespace: ns, name: desired.secret.name });
      }
      // The image pull secret goes too, but only one fluxfleet wrote (it carries the credentials
      // digest): a secret of that name made by hand or by the flux CLI is the user's.
      const pull = desired.pullSecret;
      if (pull && cluster.pullSecret?.digest) {
        steps.push({
          kind: "pullSecret",
          action: "delete",
          namespace: pull.namespace,
          name: pull.name,
        });
      }
    }
  }
  if (accessKeys && accessKeys.ids.length > 0) {
    steps.push({
      kind: "accessKey",
      action: "delete",
      label: accessKeys.label,
      ids: accessKeys.ids,
    });
  }
  if (opts.deleteGitManifests) {
    for (const f of desired.files) {
      if (repo.files[f.path] !== null && repo.files[f.path] !== undefined) {
        steps.push({ kind: "file", action: "delete", path: f.path });
      }
    }
  }
  return { cluster: desired.name, steps };
}

export function describeDestroyStep(step: DestroyStep): string {
  switch (step.kind) {
    case "finalizers":
      return `- remove finalizers from Flux custom resources (${
        plural(step.crds, "kind")
      }), so nothing is pruned`;
    case "sync":
      return `- delete ${step.object} ${step.namespace}/${step.name}`;
    case "components":
      return `- delete Flux components (${plural(step.objects, "object")})`;
    case "crds":
      return `- delete ${plural(step.names.length, "Flux CRD")}`;
    case "namespace":
      return `- delete namespace ${step.name} (with the source secret)`;
    case "secret":
      return `- delete secret ${step.namespace}/${step.name} (namespace kept)`;
    case "pullSecret":
      return `- delete image pull secret ${step.namespace}/${step.name} (namespace kept)`;
    case "file":
      return `- commit: delete ${step.path}`;
    case "accessKey":
      return `- remove deploy key ${step.label} from the repository`;
  }
}
