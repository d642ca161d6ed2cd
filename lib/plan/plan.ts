/**
 * The planner: desired + observed → steps. Pure and synchronous, so every decision is testable
 * without servers. Order of steps follows flux2 pkg/bootstrap: repository files, namespace,
 * components, source secret, sync objects.
 */
import type { KubeObject } from "../manifests/types.ts";
import { unifiedDiff } from "../report/diff.ts";
import { matchesDigest } from "./credentials_digest.ts";
import type {
  ClusterPlan,
  DesiredCluster,
  ObservedCluster,
  ObservedFluxObject,
  ObservedRepo,
  StatusLine,
  Step,
} from "./types.ts";

export function planCluster(
  desired: DesiredCluster,
  repo: ObservedRepo,
  cluster: ObservedCluster,
): ClusterPlan {
  const base: ClusterPlan = {
    cluster: desired.name,
    repository: { url: desired.repo.url, branch: desired.repo.branch, dir: desired.dir },
    steps: [],
    status: [],
    warnings: [],
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
  const steps: Step[] = [
    ...planFiles(desired, repo),
    ...planNamespace(desired, cluster),
    ...planComponents(desired, cluster),
    ...planSecret(desired, cluster),
    ...planSync(desired.gitRepository, cluster.gitRepository),
    ...planSync(desired.kustomization, cluster.kustomization),
  ];
  const status = [
    statusLine(desired.gitRepository, cluster.gitRepository),
    statusLine(desired.kustomization, cluster.kustomization),
  ].filter((s): s is StatusLine => s !== undefined);
  const warnings = status.filter((s) => !s.ready && steps.length === 0)
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
  return { ...base, steps, status, warnings };
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
    reason: ks ? "Kustomization has never applied a revision" : "Flux is not installed",
  }];
}

function planSecret(desired: DesiredCluster, cluster: ObservedCluster): Step[] {
  const { name, namespace, data } = desired.secret;
  if (!cluster.secret) {
    return [{ kind: "secret", action: "create", namespace, name, keys: Object.keys(data).sort() }];
  }
  const changed = Object.keys(data).filter((k) => cluster.secret![k] !== data[k]).sort();
  if (changed.length === 0) return [];
  // The manifest still resolves to what fluxfleet wrote last: the secret was changed in the
  // cluster. Not overwritten unless the cluster is rotated (see README, "Rotation").
  if (!desired.rotate && cluster.secretDigest && matchesDigest(cluster.secretDigest, data)) {
    return [];
  }
  return [{ kind: "secret", action: "update", namespace, name, keys: changed }];
}

/** The secret differs from the manifest only because it was changed in the cluster. */
export function secretChangedInCluster(
  desired: DesiredCluster,
  cluster: ObservedCluster,
): string[] {
  const data = desired.secret.data;
  if (!cluster.secret || desired.rotate || !cluster.secretDigest) return [];
  const changed = Object.keys(data).filter((k) => cluster.secret![k] !== data[k]).sort();
  return changed.length > 0 && matchesDigest(cluster.secretDigest, data) ? changed : [];
}

function planSync(desired: KubeObject, observed: ObservedFluxObject | undefined): Step[] {
  const object = desired.kind as "GitRepository" | "Kustomization";
  const ref = { namespace: desired.metadata.namespace!, name: desired.metadata.name };
  if (!observed) return [{ kind: "sync", action: "create", object, ...ref, fields: [] }];
  const fields = differingFields(desired.spec, observed.spec, "spec");
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
