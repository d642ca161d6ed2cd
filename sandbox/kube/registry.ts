/**
 * Which resources the sandbox serves: a fixed set of built-ins plus whatever CRDs have been
 * applied. Discovery documents are derived from this, so kubectl's RESTMapper sees a CRD's
 * kinds as soon as the CRD is stored — the way a real server behaves once it is Established.
 */

import type { JsonObject } from "./status.ts";

export interface ResourceType {
  group: string;
  version: string;
  /** Plural resource name used in URLs. */
  resource: string;
  singular: string;
  kind: string;
  listKind: string;
  namespaced: boolean;
  shortNames: string[];
  categories: string[];
  /** Custom resources get generation on every object and a /status subresource if declared. */
  custom: boolean;
  statusSubresource: boolean;
}

export const ALL_VERBS = [
  "create",
  "delete",
  "deletecollection",
  "get",
  "list",
  "patch",
  "update",
  "watch",
];

export function apiVersionOf(t: { group: string; version: string }): string {
  return t.group ? `${t.group}/${t.version}` : t.version;
}

/** Splits `apps/v1` into group/version; core `v1` has group "". */
export function splitApiVersion(apiVersion: string): { group: string; version: string } {
  const slash = apiVersion.indexOf("/");
  return slash < 0
    ? { group: "", version: apiVersion }
    : { group: apiVersion.slice(0, slash), version: apiVersion.slice(slash + 1) };
}

function builtin(
  group: string,
  version: string,
  resource: string,
  kind: string,
  namespaced: boolean,
  shortNames: string[] = [],
  statusSubresource = false,
): ResourceType {
  return {
    group,
    version,
    resource,
    singular: kind.toLowerCase(),
    kind,
    listKind: `${kind}List`,
    namespaced,
    shortNames,
    categories: [],
    custom: false,
    statusSubresource,
  };
}

const BUILTINS: ResourceType[] = [
  builtin("", "v1", "namespaces", "Namespace", false, ["ns"], true),
  builtin("", "v1", "secrets", "Secret", true),
  builtin("", "v1", "configmaps", "ConfigMap", true, ["cm"]),
  builtin("", "v1", "serviceaccounts", "ServiceAccount", true, ["sa"]),
  builtin("", "v1", "services", "Service", true, ["svc"], true),
  builtin("apps", "v1", "deployments", "Deployment", true, ["deploy"], true),
  builtin("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", false),
  builtin("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", false),
  builtin("rbac.authorization.k8s.io", "v1", "roles", "Role", true),
  builtin("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", true),
  builtin("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", true, ["netpol"]),
  builtin(
    "apiextensions.k8s.io",
    "v1",
    "customresourcedefinitions",
    "CustomResourceDefinition",
    false,
    ["crd", "crds"],
    true,
  ),
];

export const CRD_TYPE = BUILTINS[BUILTINS.length - 1];
export const NAMESPACE_TYPE = BUILTINS[0];

export class Registry {
  #builtins: ResourceType[] = BUILTINS;
  /** CRD name → the types (one per served version) it registered. */
  #crds = new Map<string, ResourceType[]>();

  all(): ResourceType[] {
    return [...this.#builtins, ...[...this.#crds.values()].flat()];
  }

  find(group: string, version: string, resource: string): ResourceType | undefined {
    return this.all().find((t) =>
      t.group === group && t.version === version && t.resource === resource
    );
  }

  findKind(apiVersion: string, kind: string): ResourceType | undefined {
    const { group, version } = splitApiVersion(apiVersion);
    return this.all().find((t) => t.group === group && t.version === version && t.kind === kind);
  }

  /** Versions served for a group, in registration order (first is the preferred one). */
  groupVersions(group: string): string[] {
    const seen: string[] = [];
    for (const t of this.all()) {
      if (t.group === group && !seen.includes(t.version)) seen.push(t.version);
    }
    return seen;
  }

  groups(): string[] {
    const seen: string[] = [];
    for (const t of this.all()) if (t.group && !seen.includes(t.group)) seen.push(t.group);
    return seen;
  }

  resourcesIn(group: string, version: string): ResourceType[] {
    return this.all().filter((t) => t.group === group && t.version === version);
  }

  /** Registers (or re-registers) the served versions of a stored CRD. */
  registerCrd(crd: JsonObject): void {
    const name = String((crd.metadata as JsonObject).name);
    this.#crds.set(name, typesFromCrd(crd));
  }

  /** Removes a CRD's types; returns what was removed so the caller can drop its objects. */
  unregisterCrd(name: string): ResourceType[] {
    const removed = this.#crds.get(name) ?? [];
    this.#crds.delete(name);
    return removed;
  }
}

function asObject(v: unknown): JsonObject {
  return v && typeof v === "object" && !Array.isArray(v) ? v as JsonObject : {};
}

function asStrings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
}

/** Names a CRD will be served under, with the defaults apiextensions fills in. */
export function acceptedNames(crd: JsonObject): JsonObject {
  const names = asObject(asObject(crd.spec).names);
  const kind = String(names.kind ?? "");
  const out: JsonObject = {
    plural: String(names.plural ?? ""),
    singular: String(names.singular ?? kind.toLowerCase()),
    kind,
    listKind: String(names.listKind ?? `${kind}List`),
  };
  const shortNames = asStrings(names.shortNames);
  if (shortNames.length) out.shortNames = shortNames;
  const categories = asStrings(names.categories);
  if (categories.length) out.categories = categories;
  return out;
}

function typesFromCrd(crd: JsonObject): ResourceType[] {
  const spec = asObject(crd.spec);
  const names = acceptedNames(crd);
  const versions = Array.isArray(spec.versions) ? spec.versions.map(asObject) : [];
  return versions.filter((v) => v.served !== false).map((v) => ({
    group: String(spec.group ?? ""),
    version: String(v.name ?? ""),
    resource: String(names.plural),
    singular: String(names.singular),
    kind: String(names.kind),
    listKind: String(names.listKind),
    namespaced: spec.scope !== "Cluster",
    shortNames: asStrings(names.shortNames),
    categories: asStrings(names.categories),
    custom: true,
    statusSubresource: asObject(v.subresources).status !== undefined,
  }));
}
