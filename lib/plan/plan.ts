/**
 * The planner: desired + observed → steps. Pure and synchronous, so every decision is testable
 * without servers. Order of steps follows flux2 pkg/bootstrap: repository files, namespace,
 * components, source secret, sync objects.
 */
import type { KubeObject } from "../manifests/types.ts";
import { unifiedDiff } from "./diff.ts";
import { matchesDigest } from "./credentials_digest.ts";
import { DOCKER_CONFIG_JSON_KEY, DOCKER_CONFIG_JSON_TYPE } from "./desired.ts";
import type {
  ClusterPlan,
  DesiredCluster,
  ObservedCluster,
  ObservedFluxObject,
  ObservedRepo,
  ProviderStep,
  StatusLine,
  Step,
} from "./types.ts";

/**
 * What the repository's provider plans (lib/providers), placed among the cluster's own steps:
 * the repository's steps first (on the repository's first cluster), the cluster's access key
 * after its secret holds the key and before the cluster is pointed at it.
 */
export interface ProviderSteps {
  repository: ProviderStep[];
  access: ProviderStep[];
  warnings: string[];
}

const NO_PROVIDER_STEPS: ProviderSteps = { repository: [], access: [], warnings: [] };

export function planCluster(
  desired: DesiredCluster,
  repo: ObservedRepo,
  cluster: ObservedCluster,
  provider: ProviderSteps = NO_PROVIDER_STEPS,
): ClusterPlan {
  const base: ClusterPlan = {
    cluster: desired.name,
    repository: { url: desired.repo.url, branch: desired.repo.branch, dir: desired.dir },
    // A cluster that cannot be planned still shows what its provider would do.
    steps: [...provider.repository, ...provider.access],
    status: [],
    warnings: [...provider.warnings],
  };
  // flux2 refuses to re-point an existing Kustomization to another path; so do we.
  const existingPath = cluster.kustomization?.spec.path;
  if (typeof existingPath === "string" && trimDot(existingPath) !== trimDot(desired.syncPath)) {
    return {
      ...base,
      error:
        `Kustomization ${desired.namespace}/${desired.kustomization.metadata.name} already syncs path "${existingPath}", not "${desired.syncPath}"; ` +
        `change the cluster's path or delete the Kustomization first`,
    };
  }
  const owner = cluster.crdManagedBy;
  if (owner && owner !== "flux" && !desired.force && !(cluster.kustomization?.revision)) {
    return {
      ...base,
      error: `the Flux CRDs are managed by "${owner}" (label app.kubernetes.io/managed-by on ` +
        `gitrepositories.source.toolkit.fluxcd.io); installing would take them over: re-run with --force to do so`,
    };
  }
  const before: Step[] = [
    ...planFiles(desired, repo),
    ...planNamespace(desired, cluster),
    ...planComponents(desired, cluster),
    ...planPullSecret(desired, cluster),
    ...planSecret(desired, cluster),
  ];
  const sync = [
    ...planSync(desired.gitRepository, cluster.gitRepository),
    ...planSync(desired.kustomization, cluster.kustomization),
  ];
  const own = before.length + sync.length;
  const status = [
    statusLine(desired.gitRepository, cluster.gitRepository),
    statusLine(desired.kustomization, cluster.kustomization),
  ].filter((s): s is StatusLine => s !== undefined);
  const warnings = status.filter((s) => !s.ready && own === 0)
    .map((s) => `${s.object} ${s.namespace}/${s.name} is not ready: ${s.message}`);
  const drifted = secretChangedInCluster(desired, cluster);
  if (drifted.length > 0) {
    warnings.push(
      `secret ${desired.secret.namespace}/${desired.secret.name} was changed in the cluster (${
        drifted.join(", ")
      }); ` +
        "the manifest's credentials did not change, so it is left as it is (set rotate: true to overwrite it)",
    );
  }
  if (pullSecretChangedInCluster(desired, cluster)) {
    const p = desired.pullSecret!;
    warnings.push(
      `image pull secret ${p.namespace}/${p.name} was changed in the cluster; ` +
        "the manifest's registry credentials did not change, so it is left as it is (set rotate: true to overwrite it)",
    );
  }
  return {
    ...base,
    steps: [...provider.repository, ...before, ...provider.access, ...sync],
    status,
    warnings: [...provider.warnings, ...warnings],
  };
}

function trimDot(p: string): string {
  return p.replace(/^\.\//, "").replace(/\/+$/, "");
}

function planFiles(desired: DesiredCluster, repo: ObservedRepo): Step[] {
  const steps: Step[] = [];
  for (const f of desired.files) {
    const current = repo.files[f.path] ?? null;
    if (current === null) steps.push({ kind: "file", action: "create", path: f.path });
    else if (!f.onlyIfAbsent && current !== f.content) {
      steps.push({
        kind: "file",
        action: "update",
        path: f.path,
        diff: unifiedDiff(f.path, current, f.content),
      });
    }
  }
  return steps;
}

function planNamespace(desired: DesiredCluster, cluster: ObservedCluster): Step[] {
  return cluster.namespace
    ? []
    : [{ kind: "namespace", action: "create", name: desired.namespace }];
}

/** As flux: install only while the Kustomization is missing or has never applied; then Flux manages itself. */
function planComponents(desired: DesiredCluster, cluster: ObservedCluster): Step[] {
  const ks = cluster.kustomization;
  if (ks && ks.revision) return [];
  return [{
    kind: "components",
    action: "install",
    objects: desired.components.length,
    reason: componentsReason(desired, cluster),
  }];
}

/** Why the components are installed: not there at all, or there but not (yet) in sync. */
function componentsReason(desired: DesiredCluster, cluster: ObservedCluster): string {
  const ks = `Kustomization ${desired.namespace}/${desired.kustomization.metadata.name}`;
  if (cluster.kustomization) {
    return `Flux is installed but not in sync yet: ${ks} has never applied a revision`;
  }
  if (cluster.crdPresent) return `Flux components are present, but ${ks} does not exist yet`;
  return "Flux is not installed";
}

/** The keys of a generated SSH key: new values whatever the secret holds. */
const GENERATED_KEYS = ["identity", "identity.pub"];

/** The keys of credentials a provider issues: new values whatever the secret holds. */
const ISSUED_KEYS = ["password", "username"];

function planSecret(desired: DesiredCluster, cluster: ObservedCluster): Step[] {
  const { name, namespace, data, generateAtApply, issueAtApply } = desired.secret;
  if (issueAtApply) {
    const others = cluster.secret ? changedKeys(data, cluster.secret) : Object.keys(data);
    return [{
      kind: "secret",
      action: cluster.secret ? "update" : "create",
      namespace,
      name,
      keys: [...new Set([...ISSUED_KEYS, ...others])].sort(),
      issuedCredentials: issueAtApply,
    }];
  }
  if (generateAtApply) {
    // The key is made by apply: written whatever the secret holds, its values unknown until then.
    const others = cluster.secret ? changedKeys(data, cluster.secret) : Object.keys(data);
    return [{
      kind: "secret",
      action: cluster.secret ? "update" : "create",
      namespace,
      name,
      keys: [...GENERATED_KEYS, ...others].sort(),
      generatedKey: generateAtApply,
    }];
  }
  if (!cluster.secret) {
    return [{ kind: "secret", action: "create", namespace, name, keys: Object.keys(data).sort() }];
  }
  const changed = changedKeys(data, cluster.secret);
  if (changed.length === 0) return [];
  if (writtenFromTheManifest(data, cluster.secretDigest, desired.rotate)) return [];
  return [{ kind: "secret", action: "update", namespace, name, keys: changed }];
}

/** Keys of `want` whose value `have` lacks or holds differently, sorted. */
function changedKeys(want: Record<string, string>, have: Record<string, string>): string[] {
  return Object.keys(want).filter((k) => have[k] !== want[k]).sort();
}

/**
 * The drift rule of every secret fluxfleet writes (see credentials_digest.ts): the manifest
 * still resolves to what fluxfleet wrote last, so a difference was made in the cluster. Such a
 * secret is not overwritten unless the cluster is rotated (see README, "Rotation").
 */
function writtenFromTheManifest(
  data: Record<string, string>,
  digest: string | undefined,
  rotate: boolean | undefined,
): boolean {
  return !rotate && digest !== undefined && matchesDigest(digest, data);
}

/** The secret differs from the manifest only because it was changed in the cluster. */
export function secretChangedInCluster(
  desired: DesiredCluster,
  cluster: ObservedCluster,
): string[] {
  if (!cluster.secret || desired.secret.generateAtApply || desired.secret.issueAtApply) return [];
  const data = desired.secret.data;
  const changed = changedKeys(data, cluster.secret);
  return changed.length > 0 && writtenFromTheManifest(data, cluster.secretDigest, desired.rotate)
    ? changed
    : [];
}

/**
 * The image pull secret (flux2 pkg/bootstrap reconcileImagePullSecret: a
 * kubernetes.io/dockerconfigjson secret named --image-pull-secret in the Flux namespace, made
 * from --registry-creds after the components are installed). flux rewrites it on every run;
 * fluxfleet writes it when missing or when the manifest's credentials changed, with the source
 * secret's drift rule for changes made in the cluster.
 */
function planPullSecret(desired: DesiredCluster, cluster: ObservedCluster): Step[] {
  const want = desired.pullSecret;
  if (!want) return [];
  const ref = { namespace: want.namespace, name: want.name };
  const have = cluster.pullSecret;
  if (!have) {
    return [{
      kind: "pullSecret",
      action: "create",
      ...ref,
      reason: `${DOCKER_CONFIG_JSON_TYPE} for ${want.registry}`,
    }];
  }
  if (have.type !== DOCKER_CONFIG_JSON_TYPE) {
    // A Secret's type is immutable: replaced, whatever the digest says.
    return [{
      kind: "pullSecret",
      action: "update",
      ...ref,
      reason: `type is ${have.type || "unset"}, not ${DOCKER_CONFIG_JSON_TYPE}: replaced`,
      recreate: true,
    }];
  }
  if (changedKeys(want.data, have.data).length === 0) return [];
  if (writtenFromTheManifest(want.data, have.digest, desired.rotate)) return [];
  return [{ kind: "pullSecret", action: "update", ...ref, reason: pullSecretChange(want, have) }];
}

function pullSecretChangedInCluster(desired: DesiredCluster, cluster: ObservedCluster): boolean {
  const want = desired.pullSecret;
  const have = cluster.pullSecret;
  return want !== undefined && have !== undefined && have.type === DOCKER_CONFIG_JSON_TYPE &&
    changedKeys(want.data, have.data).length > 0 &&
    writtenFromTheManifest(want.data, have.digest, desired.rotate);
}

type DockerAuths = Record<string, { username?: unknown; password?: unknown; auth?: unknown }>;

function dockerAuths(text: string | undefined): DockerAuths | undefined {
  try {
    const auths = (JSON.parse(text ?? "") as { auths?: unknown })?.auths;
    return isRecord(auths) ? auths as DockerAuths : undefined;
  } catch {
    return undefined;
  }
}

/** What differs, named without values: the registry, the user name, the password. */
function pullSecretChange(
  want: NonNullable<DesiredCluster["pullSecret"]>,
  have: NonNullable<ObservedCluster["pullSecret"]>,
): string {
  const w = dockerAuths(want.data[DOCKER_CONFIG_JSON_KEY])!;
  const h = dockerAuths(have.data[DOCKER_CONFIG_JSON_KEY]);
  if (!h) return `${DOCKER_CONFIG_JSON_KEY} is missing or not a docker config`;
  const host = want.registry;
  const theirs = h[host];
  if (!isRecord(theirs)) return `registry changed (no credentials for ${host})`;
  const parts: string[] = [];
  if (theirs.username !== w[host].username) parts.push("username");
  if (theirs.password !== w[host].password || theirs.auth !== w[host].auth) parts.push("password");
  if (Object.keys(h).length !== 1) parts.push("registries");
  return parts.length > 0 ? `${parts.join(", ")} changed` : "content differs from the manifest";
}

/**
 * Optional spec fields fluxfleet renders only when set (flux's `omitempty`), with the value an
 * absent field means. Turning one off must show as a change although the desired spec then
 * lacks the field (extra fields in the cluster are otherwise fine: API defaults).
 */
const OPTIONAL_SPEC_FIELDS: Record<string, Record<string, unknown>> = {
  GitRepository: { provider: "generic", recurseSubmodules: false, sparseCheckout: [] },
};

function planSync(desired: KubeObject, observed: ObservedFluxObject | undefined): Step[] {
  const object = desired.kind as "GitRepository" | "Kustomization";
  const ref = { namespace: desired.metadata.namespace!, name: desired.metadata.name };
  if (!observed) return [{ kind: "sync", action: "create", object, ...ref, fields: [] }];
  const fields = differingFields(desired.spec, observed.spec, "spec");
  const spec = (desired.spec ?? {}) as Record<string, unknown>;
  for (const [field, absent] of Object.entries(OPTIONAL_SPEC_FIELDS[object] ?? {})) {
    if (spec[field] !== undefined) continue;
    const have = observed.spec[field] ?? absent;
    if (JSON.stringify(have) !== JSON.stringify(absent)) fields.push(`spec.${field}`);
  }
  fields.sort();
  return fields.length === 0 ? [] : [{ kind: "sync", action: "update", object, ...ref, fields }];
}

/** Fields of `want` that `have` lacks or holds differently; extra fields in `have` (defaults) are fine. */
export function differingFields(want: unknown, have: unknown, at: string): string[] {
  if (isRecord(want) && isRecord(have)) {
    return Object.keys(want).flatMap((k) => differingFields(want[k], have[k], `${at}.${k}`));
  }
  return JSON.stringify(want) === JSON.stringify(have) ? [] : [at];
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function statusLine(
  desired: KubeObject,
  observed: ObservedFluxObject | undefined,
): StatusLine | undefined {
  if (!observed) return undefined;
  const object = desired.kind as "GitRepository" | "Kustomization";
  const ref = { object, namespace: desired.metadata.namespace!, name: desired.metadata.name };
  if (observed.suspended) return { ...ref, ready: false, message: "suspended" };
  const r = observed.ready;
  const caughtUp = observed.observedGeneration === undefined || observed.generation === undefined ||
    observed.observedGeneration === observed.generation;
  if (r?.status === "True" && caughtUp) {
    return {
      ...ref,
      ready: true,
      message: observed.revision ? `ready (${observed.revision})` : "ready",
    };
  }
  return { ...ref, ready: false, message: r?.message ?? "no Ready condition yet" };
}

export function countChanges(plans: ClusterPlan[]): number {
  return plans.reduce((n, p) => n + p.steps.length, 0);
}
