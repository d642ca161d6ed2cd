/**
 * Storage migrations and the reads pre-flight needs, against one cluster. As `flux migrate`
 * (flux2 cmd/flux/migrate.go, ClusterMigrator.migrateCRD/migrateCR): list the CRD's objects in
 * its storage version across namespaces, write each again (an empty merge patch, or one that
 * moves its managedFields to that apiVersion, as ssa.PatchMigrateToVersion), then set
 * status.storedVersions to the storage version alone. Running it again changes nothing.
 */
import type { KubeClient } from "./client.ts";

const CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";

/** The cluster's Kubernetes version (GET /version, gitVersion). */
export async function serverVersion(client: KubeClient): Promise<string | undefined> {
  const v = await client.get("/version");
  return typeof v?.gitVersion === "string" ? v.gitVersion : undefined;
}

/** Flux's CRDs, in one list call (the label every Flux CRD has, as flux migrate selects them). */
export async function fluxCrds(client: KubeClient): Promise<Record<string, unknown>[]> {
  const list = await client.get(
    `${CRDS}?labelSelector=${encodeURIComponent("app.kubernetes.io/part-of=flux")}`,
  );
  return Array.isArray(list?.items) ? list.items as Record<string, unknown>[] : [];
}

type Obj = Record<string, unknown>;

/** Writes every object of CRD `name` again in `version`, then sets storedVersions = [version]. */
export async function migrateCrd(client: KubeClient, name: string, version: string) {
  const crd = await client.get(`${CRDS}/${encodeURIComponent(name)}`);
  if (!crd) throw new Error(`CRD ${name} is gone`);
  const spec = crd.spec as { group: string; names: { plural: string }; scope: string };
  const apiVersion = `${spec.group}/${version}`;
  const base = `/apis/${apiVersion}`;
  const list = await client.get(`${base}/${spec.names.plural}`);
  for (const item of ((list?.items ?? []) as Obj[])) {
    const meta = item.metadata as { name: string; namespace?: string; managedFields?: Obj[] };
    const path = `${base}${
      meta.namespace ? `/namespaces/${meta.namespace}` : ""
    }/${spec.names.plural}/${encodeURIComponent(meta.name)}`;
    const fields = meta.managedFields ?? [];
    const moved = fields.some((f) => f.apiVersion !== apiVersion);
    try {
      await client.mergePatch(
        path,
        moved ? { metadata: { managedFields: fields.map((f) => ({ ...f, apiVersion })) } } : {},
      );
    } catch (e) {
      // Deleted meanwhile: nothing left to migrate (flux migrate ignores NotFound too).
      if (!/\b404\b|not found/i.test((e as Error).message)) throw e;
    }
  }
  const stored = ((crd.status as { storedVersions?: string[] } | undefined)?.storedVersions) ?? [];
  if (stored.length !== 1 || stored[0] !== version) {
    await client.mergePatch(`${CRDS}/${encodeURIComponent(name)}/status`, {
      status: { storedVersions: [version] },
    });
  }
}
