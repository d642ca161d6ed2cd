/**
 * Legacy (non-aggregated) discovery and a minimal OpenAPI v3, built from the registry.
 *
 * kubectl asks for aggregated discovery first but also accepts plain JSON, so answering the
 * legacy documents is enough. OpenAPI v3 per group-version lists each resource's PATCH with a
 * `fieldValidation` parameter: kubectl's query-param verifier then delegates validation to the
 * server instead of needing full schemas.
 */

import { ALL_VERBS, apiVersionOf, type Registry, type ResourceType } from "./registry.ts";
import type { JsonObject } from "./status.ts";

/**
 * The Kubernetes version the sandbox reports by default: one the default Flux release supports
 * (flux v2.8+ `flux check --pre` wants >= 1.33), within kubectl 1.32's skew of one minor version.
 */
export const DEFAULT_KUBERNETES_VERSION = "v1.33.0";

const SERVER_VERSION = {
  major: "1",
  minor: "33",
  gitVersion: `${DEFAULT_KUBERNETES_VERSION}-fluxfleet-sandbox`,
  gitCommit: "0000000000000000000000000000000000000000",
  gitTreeState: "clean",
  buildDate: "2025-01-01T00:00:00Z",
  goVersion: "go1.23.0",
  compiler: "gc",
  platform: "linux/amd64",
};

/** GET /version for a sandbox of `version` ("v1.33.0"). */
export function serverVersion(version: string): JsonObject {
  const m = /^v(\d+)\.(\d+)\./.exec(version);
  if (!m) throw new Error(`sandbox kubernetesVersion ${version}: expected vMAJOR.MINOR.PATCH`);
  return {
    ...SERVER_VERSION,
    major: m[1],
    minor: m[2],
    gitVersion: `${version}-fluxfleet-sandbox`,
  };
}

export function apiVersions(serverAddress: string): JsonObject {
  return {
    kind: "APIVersions",
    versions: ["v1"],
    serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress }],
  };
}

function resourceEntry(t: ResourceType): JsonObject {
  const entry: JsonObject = {
    name: t.resource,
    singularName: t.singular,
    namespaced: t.namespaced,
    kind: t.kind,
    verbs: ALL_VERBS,
  };
  if (t.shortNames.length) entry.shortNames = t.shortNames;
  if (t.categories.length) entry.categories = t.categories;
  entry.storageVersionHash = "";
  return entry;
}

function statusEntry(t: ResourceType): JsonObject {
  return {
    name: `${t.resource}/status`,
    singularName: "",
    namespaced: t.namespaced,
    kind: t.kind,
    verbs: ["get", "patch", "update"],
  };
}

export function apiResourceList(registry: Registry, group: string, version: string): JsonObject {
  const resources = registry.resourcesIn(group, version).flatMap((t) =>
    t.statusSubresource ? [resourceEntry(t), statusEntry(t)] : [resourceEntry(t)]
  );
  return {
    kind: "APIResourceList",
    apiVersion: "v1",
    groupVersion: group ? `${group}/${version}` : version,
    resources,
  };
}

export function apiGroup(registry: Registry, group: string): JsonObject {
  const versions = registry.groupVersions(group).map((v) => ({
    groupVersion: `${group}/${v}`,
    version: v,
  }));
  return {
    kind: "APIGroup",
    apiVersion: "v1",
    name: group,
    versions,
    preferredVersion: versions[0],
  };
}

export function apiGroupList(registry: Registry): JsonObject {
  const groups = registry.groups().map((g) => {
    const { kind: _k, apiVersion: _a, ...rest } = apiGroup(registry, g);
    return rest;
  });
  return { kind: "APIGroupList", apiVersion: "v1", groups };
}

/** `/openapi/v3`: the index of group-version documents. */
export function openApiIndex(registry: Registry): JsonObject {
  const paths: JsonObject = {};
  const gvs = new Set(registry.all().map((t) => apiVersionOf(t)));
  for (const gv of gvs) {
    const rel = gv.includes("/") ? `apis/${gv}` : `api/${gv}`;
    paths[rel] = { serverRelativeURL: `/openapi/v3/${rel}?hash=${hashOf(registry, gv)}` };
  }
  return { paths };
}

/** Changes whenever the resources of a group-version change, so kubectl's cache refreshes. */
function hashOf(registry: Registry, gv: string): string {
  const names = registry.all().filter((t) => apiVersionOf(t) === gv).map((t) => t.resource);
  let h = 0;
  for (const ch of names.join(",")) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return h.toString(16).toUpperCase().padStart(8, "0");
}

const PATCH_PARAMETERS = ["dryRun", "fieldManager", "fieldValidation", "force"].map((name) => ({
  name,
  in: "query",
  schema: { type: name === "force" ? "boolean" : "string", uniqueItems: true },
}));

function schemaName(t: ResourceType): string {
  const reversed = t.group ? t.group.split(".").reverse().join(".") : "io.k8s.api.core";
  return `${reversed}.${t.version}.${t.kind}`;
}

/** `/openapi/v3/{api|apis}/...`: paths with GVK-tagged PATCH operations and loose schemas. */
export function openApiGroupVersion(registry: Registry, gvPath: string): JsonObject | undefined {
  const gv = gvPath.replace(/^apis?\//, "");
  const types = registry.all().filter((t) => apiVersionOf(t) === gv);
  if (!types.length) return undefined;
  const paths: JsonObject = {};
  const schemas: JsonObject = {};
  for (const t of types) {
    const gvk = { group: t.group, version: t.version, kind: t.kind };
    const scope = t.namespaced ? "namespaces/{namespace}/" : "";
    paths[`/${gvPath}/${scope}${t.resource}/{name}`] = {
      patch: {
        operationId: `patch${t.kind}`,
        "x-kubernetes-action": "patch",
        "x-kubernetes-group-version-kind": gvk,
        parameters: PATCH_PARAMETERS,
        responses: { "200": { description: "OK" } },
      },
    };
    schemas[schemaName(t)] = {
      type: "object",
      "x-kubernetes-preserve-unknown-fields": true,
      "x-kubernetes-group-version-kind": [gvk],
    };
  }
  return {
    openapi: "3.0.0",
    info: { title: "Kubernetes", version: SERVER_VERSION.gitVersion },
    paths,
    components: { schemas },
  };
}
