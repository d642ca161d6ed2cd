/** Carries out the cluster steps of a destroy plan. */
import type { KubeObject } from "../manifests/types.ts";
import type { DesiredCluster } from "../plan/types.ts";
import type { DestroyStep } from "../plan/destroy.ts";
import type { KubeClient } from "./client.ts";

interface CrdSpec {
  group: string;
  names: { kind: string };
  versions: { name: string; storage?: boolean }[];
}

export async function destroyClusterStep(
  client: KubeClient,
  desired: DesiredCluster,
  step: DestroyStep,
): Promise<void> {
  switch (step.kind) {
    case "finalizers":
      for (const crd of desired.components.filter((o) => o.kind === "CustomResourceDefinition")) {
        await clearFinalizers(client, crd);
      }
      return;
    case "sync":
      await client.delete(
        await client.objectPath(
          step.object === "GitRepository" ? desired.gitRepository : desired.kustomization,
        ),
      );
      return;
    case "components":
      // Reverse order: Deployments before the RBAC they run with.
      for (const o of [...desired.components].reverse()) {
        if (o.kind === "CustomResourceDefinition" || o.kind === "Namespace") continue;
        await deleteIfServed(client, o);
      }
      return;
    case "crds":
      for (const o of desired.components.filter((o) => o.kind === "CustomResourceDefinition")) {
        await client.delete(await client.objectPath(o));
      }
      client.resetDiscovery();
      return;
    case "namespace":
      await client.delete(`/api/v1/namespaces/${step.name}`);
      return;
    case "secret":
    case "pullSecret":
      await client.delete(`/api/v1/namespaces/${step.namespace}/secrets/${step.name}`);
      return;
    case "file":
    case "accessKey":
      return; // done by the repository phase / the repository's provider
  }
}

async function deleteIfServed(client: KubeClient, o: KubeObject) {
  let path: string;
  try {
    path = await client.objectPath(o);
  } catch {
    return; // kind not served: nothing of it can exist
  }
  await client.delete(path);
}

async function clearFinalizers(client: KubeClient, crd: KubeObject) {
  const spec = crd.spec as CrdSpec;
  const version = spec.versions.find((v) => v.storage) ?? spec.versions[0];
  const collection = await client.collectionPath(`${spec.group}/${version.name}`, spec.names.kind);
  if (!collection) return;
  const list = await client.get(collection);
  const items = (list?.items ?? []) as {
    metadata: { name: string; namespace?: string; finalizers?: string[] };
  }[];
  for (const item of items) {
    if (!item.metadata.finalizers?.length) continue;
    const ns = item.metadata.namespace;
    const base = collection.replace(/\/([^/]+)$/, ns ? `/namespaces/${ns}/$1` : "/$1");
    await client.mergePatch(`${base}/${item.metadata.name}`, { metadata: { finalizers: null } });
  }
}
