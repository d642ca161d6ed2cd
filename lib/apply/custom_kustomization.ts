/**
 * A repository whose `<path>/<namespace>/kustomization.yaml` is the user's own (with patches): as
 * flux does, the components installed are that folder's `kubectl kustomize` build, not the
 * release's objects (the sync objects are applied on their own, as planned).
 */
import { ensureWorktree } from "../git/checkout.ts";
import { applyClusterStep } from "../kube/apply.ts";
import { kustomizeBuild } from "../manifests/kustomize.ts";
import type { DesiredCluster, Step } from "../plan/types.ts";
import type { ClusterSession } from "./session.ts";

export async function installFromKustomization(
  s: ClusterSession,
  desired: DesiredCluster,
  step: Extract<Step, { kind: "components" }>,
): Promise<void> {
  const co = s.repo.checkout!;
  await ensureWorktree(co);
  const built = await kustomizeBuild(co.dir, desired.dir);
  if (!built.some((o) => o.kind === "CustomResourceDefinition")) {
    throw new Error(
      `${desired.dir}/kustomization.yaml builds no Flux CRDs: its resources must include gotk-components.yaml and gotk-sync.yaml`,
    );
  }
  const components = built.filter((o) =>
    !(o.kind === "GitRepository" || o.kind === "Kustomization") ||
    o.metadata.name !== desired.kustomization.metadata.name
  );
  await applyClusterStep(s.client!, { ...desired, components }, step);
}
