/** `--cluster NAME` and `--selector SELECTOR`: which clusters of the manifest a command works on. */
import type { ClusterConfig, Manifest } from "../config/types.ts";
import {
  formatRequirement,
  matchesSelector,
  parseSelector,
  type Requirement,
  SelectorError,
} from "./selector.ts";

/** Parses every `--selector` (each may hold several requirements; all of them must hold). */
export function parseSelectors(selectors: string[]): Requirement[] {
  return selectors.flatMap((s) => {
    try {
      return parseSelector(s);
    } catch (e) {
      if (e instanceof SelectorError) throw new Error(`--selector: ${e.message}`);
      throw e;
    }
  });
}

/** The labels the manifest's clusters carry, `key=value` with the clusters that have each. */
export function labelsInUse(clusters: ClusterConfig[]): string {
  const byLabel = new Map<string, string[]>();
  for (const c of clusters) {
    for (const [k, v] of Object.entries(c.labels)) {
      const label = `${k}=${v}`;
      byLabel.set(label, [...(byLabel.get(label) ?? []), c.name]);
    }
  }
  if (byLabel.size === 0) return "no cluster has labels";
  return "labels in use: " + [...byLabel.keys()].sort().map((l) => {
    const names = byLabel.get(l)!;
    const shown = names.slice(0, 3).join(", ") + (names.length > 3 ? `, +${names.length - 3}` : "");
    return `${l} (${shown})`;
  }).join(", ");
}

/**
 * The clusters named by `names` (all when none) whose labels match every selector. An unknown
 * name, an invalid selector or an empty result is an error that says what exists.
 */
export function selectClusters(
  manifest: Manifest,
  names: string[],
  selectors: string[],
): ClusterConfig[] {
  const unknown = names.filter((n) => !manifest.clusters.some((c) => c.name === n));
  if (unknown.length > 0) {
    throw new Error(
      `--cluster: no cluster named ${unknown.map((n) => `"${n}"`).join(", ")} in ${manifest.file}`,
    );
  }
  const requirements = parseSelectors(selectors);
  const named = manifest.clusters.filter((c) => names.length === 0 || names.includes(c.name));
  const selected = named.filter((c) => matchesSelector(requirements, c.labels));
  if (selected.length === 0) {
    const asked = [
      ...(names.length > 0 ? [`--cluster ${names.join(", ")}`] : []),
      ...(requirements.length > 0
        ? [`--selector "${requirements.map(formatRequirement).join(",")}"`]
        : []),
    ].join(" and ");
    throw new Error(
      `no cluster in ${manifest.file} matches ${asked}; ${labelsInUse(named)}`,
    );
  }
  return selected;
}
