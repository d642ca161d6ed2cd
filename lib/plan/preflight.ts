/**
 * Pre-flight of a Flux release, pure: the Kubernetes version it needs, and the storage
 * migrations its CRDs need first. A CRD whose status.storedVersions holds a version the release
 * no longer serves cannot be updated (the API server refuses it), so, as `flux migrate` does
 * (flux2 cmd/flux/migrate.go, ClusterMigrator), every object is written again in the CRD's
 * storage version and storedVersions is then set to that version alone.
 */
import type { KubeObject } from "../manifests/types.ts";
import type { Step } from "./types.ts";

/**
 * The minimum Kubernetes version of each Flux minor release: `kubernetesConstraints` of flux2
 * cmd/flux/check.go at the release's tag (what `flux check --pre` enforces).
 */
const MIN_KUBERNETES: [flux: string, kube: string][] = [
  ["2.0", "1.24"],
  ["2.1", "1.25"],
  ["2.2", "1.26"],
  ["2.3", "1.28"],
  ["2.4", "1.28"],
  ["2.5", "1.30"],
  ["2.6", "1.31"],
  ["2.7", "1.32"],
  ["2.8", "1.33"],
  ["2.9", "1.33"],
];

function minor(v: string): [number, number] | undefined {
  const m = /^v?(\d+)\.(\d+)/.exec(v);
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

function atLeast(a: [number, number], b: [number, number]): boolean {
  return a[0] > b[0] || (a[0] === b[0] && a[1] >= b[1]);
}

/**
 * Why the cluster's Kubernetes is too old for the release, or undefined. A release newer than the
 * table takes the newest minimum known; an unreadable version is not judged.
 */
export function kubernetesVersionProblem(
  fluxVersion: string,
  serverVersion: string,
): string | undefined {
  const flux = minor(fluxVersion);
  const kube = minor(serverVersion);
  if (!flux || !kube) return undefined;
  const known = MIN_KUBERNETES.filter(([f]) => atLeast(flux, minor(f)!));
  if (known.length === 0) return undefined;
  const need = known[known.length - 1][1];
  if (atLeast(kube, minor(need)!)) return undefined;
  return `Kubernetes ${serverVersion} is older than Flux ${fluxVersion} supports (${need} or newer, as flux check --pre); upgrade the cluster first`;
}

export type MigrateStep = Extract<Step, { kind: "migrate" }>;

interface LiveCrd {
  name: string;
  storedVersions: string[];
  /** The version objects are stored in now (spec.versions[].storage). */
  storage?: string;
}

/** The live CRD as the API server returns it. */
export function liveCrd(o: Record<string, unknown>): LiveCrd {
  const spec = (o.spec ?? {}) as { versions?: { name: string; storage?: boolean }[] };
  const status = (o.status ?? {}) as { storedVersions?: string[] };
  return {
    name: String((o.metadata as { name?: string } | undefined)?.name),
    storedVersions: Array.isArray(status.storedVersions) ? status.storedVersions.map(String) : [],
    storage: spec.versions?.find((v) => v.storage === true)?.name,
  };
}

/**
 * The migrations the release's CRDs need: one per live CRD that has stored a version the release
 * does not list. Throws when the live storage version itself is gone from the release (the
 * objects cannot be written in a version both know: upgrade through the release between first).
 */
export function planMigrations(desired: KubeObject[], live: LiveCrd[]): MigrateStep[] {
  const byName = new Map(live.map((c) => [c.name, c]));
  const steps: MigrateStep[] = [];
  for (const crd of desired.filter((o) => o.kind === "CustomResourceDefinition")) {
    const now = byName.get(crd.metadata.name);
    if (!now || now.storedVersions.length === 0) continue;
    const versions = (((crd as unknown as { spec?: { versions?: { name: string }[] } }).spec
      ?.versions) ?? []).map((v) => v.name);
    if (now.storedVersions.every((v) => versions.includes(v))) continue;
    if (!now.storage || !versions.includes(now.storage)) {
      throw new Error(
        `CRD ${now.name} stores ${now.storedVersions.join(", ")} and the release serves only ${
          versions.join(", ")
        }: upgrade through an intermediate Flux release first`,
      );
    }
    steps.push({
      kind: "migrate",
      crd: now.name,
      storedVersions: now.storedVersions,
      version: now.storage,
    });
  }
  return steps;
}
