/**
 * Waves of a rollout (`rollout:` in the manifest, or `--wave` for one run): which clusters go in
 * which wave, in order. Pure: the same manifest always gives the same waves, so a re-run finds
 * the wave it stopped in by looking at the clusters alone.
 */
import { parseDuration } from "../config/duration.ts";
import type { RawGate, RawRollout, RawWave } from "../config/types.ts";

/** A Flux object that must be Ready for a cluster to pass its gates. */
export interface Gate {
  kind: string;
  apiVersion: string;
  name: string;
  namespace: string;
}

export interface Wave {
  /** 1-based position. */
  index: number;
  /** The wave's name, or how it selects ("ring=canary", "25%", "rest"). */
  label: string;
  /** Its clusters, in manifest order. */
  clusters: string[];
  /** Clusters changed at once (one commit per batch). */
  maxParallel: number;
  bakeMs: number;
  maxFailures: number;
  /** The extra gates (the flux-system sync objects and controllers are always checked). */
  gates: Gate[];
}

/** API versions of the kinds a gate may name (Flux v2 GA APIs). */
export const GATE_KINDS: Record<string, string> = {
  Kustomization: "kustomize.toolkit.fluxcd.io/v1",
  HelmRelease: "helm.toolkit.fluxcd.io/v2",
  GitRepository: "source.toolkit.fluxcd.io/v1",
  OCIRepository: "source.toolkit.fluxcd.io/v1",
  HelmRepository: "source.toolkit.fluxcd.io/v1",
  HelmChart: "source.toolkit.fluxcd.io/v1",
  Bucket: "source.toolkit.fluxcd.io/v1",
};

export interface WaveCluster {
  name: string;
  labels: Record<string, string>;
}

/** How a wave selects, in the words the plan and `--wave` use. */
export function describeWave(w: RawWave): string {
  if (w.selector) return Object.entries(w.selector).map(([k, v]) => `${k}=${v}`).join(",");
  if (w.percent !== undefined) return `${w.percent}%`;
  return "rest";
}

function gateOf(g: RawGate): Gate {
  return {
    kind: g.kind,
    apiVersion: GATE_KINDS[g.kind],
    name: g.name,
    namespace: g.namespace ?? "flux-system",
  };
}

/**
 * Assigns every cluster to the first wave that takes it: a selector takes the remaining clusters
 * whose labels match; a percent takes that share of the remaining ones (rounded up, at least
 * one), in manifest order; rest takes all that remain. Clusters left over are `unassigned`.
 */
export function assignWaves(
  rollout: RawRollout,
  clusters: WaveCluster[],
): { waves: Wave[]; unassigned: string[] } {
  let remaining = [...clusters];
  const waves = rollout.waves.map((w, i): Wave => {
    let taken: WaveCluster[];
    if (w.selector) {
      const sel = Object.entries(w.selector);
      taken = remaining.filter((c) => sel.every(([k, v]) => c.labels[k] === v));
    } else if (w.percent !== undefined) {
      const n = remaining.length === 0
        ? 0
        : Math.max(1, Math.ceil(remaining.length * w.percent / 100));
      taken = remaining.slice(0, n);
    } else taken = remaining;
    const names = new Set(taken.map((c) => c.name));
    remaining = remaining.filter((c) => !names.has(c.name));
    return {
      index: i + 1,
      label: w.name ?? describeWave(w),
      clusters: taken.map((c) => c.name),
      maxParallel: w.maxParallel ?? rollout.maxParallel ?? Math.max(1, taken.length),
      bakeMs: parseDuration(w.bake ?? rollout.bake ?? "0s"),
      maxFailures: w.maxFailures ?? rollout.maxFailures ?? 0,
      gates: [...(rollout.gates ?? []), ...(w.gates ?? [])].map(gateOf),
    };
  });
  return { waves, unassigned: remaining.map((c) => c.name) };
}

/**
 * `--wave SPEC` (repeatable) replaces the manifest's waves for one run, keeping its maxParallel,
 * bake, maxFailures and gates: SPEC is `key=value[,key=value]` (labels), `N%` or `rest`.
 */
export function wavesFromFlags(specs: string[], base: RawRollout | undefined): RawRollout {
  const waves = specs.map((spec): RawWave => {
    const s = spec.trim();
    if (s === "rest") return { rest: true };
    const pct = /^([0-9]+(?:\.[0-9]+)?)%$/.exec(s);
    if (pct) {
      const percent = Number(pct[1]);
      if (!(percent > 0 && percent <= 100)) {
        throw new Error(`--wave ${spec}: a percentage must be above 0 and at most 100`);
      }
      return { percent };
    }
    const selector: Record<string, string> = {};
    for (const part of s.split(",")) {
      const m = /^([A-Za-z0-9][-A-Za-z0-9_./]*)=([-A-Za-z0-9_.]*)$/.exec(part.trim());
      if (!m) {
        throw new Error(
          `--wave ${spec}: expected labels (ring=canary or ring=canary,region=eu), a share (25%) or rest`,
        );
      }
      selector[m[1]] = m[2];
    }
    return { selector };
  });
  const { waves: _, ...rest } = base ?? { waves: [] };
  return { ...rest, waves };
}

/** The waves in effect, or an error naming the clusters no wave takes. */
export function requireAllAssigned(
  rollout: RawRollout,
  clusters: WaveCluster[],
  where: string,
): Wave[] {
  const { waves, unassigned } = assignWaves(rollout, clusters);
  if (unassigned.length > 0) {
    throw new Error(
      `${where}: ${unassigned.length === 1 ? "cluster" : "clusters"} ${unassigned.join(", ")} ${
        unassigned.length === 1 ? "is" : "are"
      } in no wave; add a wave that takes them (rest: true takes all that remain)`,
    );
  }
  return waves;
}
