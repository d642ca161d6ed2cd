/**
 * The Flux components of a run. They are the same for every cluster with the same release and
 * install options: the source is read once, and a release archive is built with kubectl kustomize
 * once per distinct (source, options) — never per cluster. Both caches hold promises, so this
 * stays true for lookups that overlap.
 */
import type { ClusterConfig } from "../config/types.ts";
import { type Components, componentsFor, installOptions } from "../plan/desired.ts";
import { type FluxManifests, loadManifests } from "../manifests/source.ts";
import { buildReleaseComponents } from "../manifests/release.ts";
import type { RunOptions } from "./options.ts";

export interface ComponentsSource {
  components(c: ClusterConfig): Promise<Components>;
  /** The release manifests the cluster's components come from (for the plan's warnings). */
  manifests(c: ClusterConfig): Promise<FluxManifests>;
}

export function componentsSource(opts: RunOptions): ComponentsSource {
  const sourceCache = new Map<string, Promise<FluxManifests>>();
  const sourceKey = (c: ClusterConfig) =>
    JSON.stringify([c.flux.manifests, c.flux.manifestsSha256 ?? null]);
  const manifests = (c: ClusterConfig): Promise<FluxManifests> => {
    const key = sourceKey(c);
    let found = sourceCache.get(key);
    if (!found) {
      found = loadManifests({
        source: c.flux.manifests,
        sha256: c.flux.manifestsSha256,
        retry: opts.retry,
        maxBytes: opts.limits?.manifests,
        allowInsecureHttp: c.flux.allowInsecureHttp,
      }).catch((e) => {
        // Said once, for the first cluster that needs it (the source is shared).
        throw new Error(`cluster "${c.name}": ${(e as Error).message}`);
      });
      sourceCache.set(key, found);
    }
    return found;
  };
  const componentsCache = new Map<string, Promise<Components>>();
  return {
    manifests,
    components(c) {
      const options = installOptions(c);
      const key = JSON.stringify([sourceKey(c), options]);
      let found = componentsCache.get(key);
      if (!found) {
        found = manifests(c).then((m) =>
          m.kind === "install" ? componentsFor(m.text, options) : buildReleaseComponents(m, options)
        );
        componentsCache.set(key, found);
      }
      return found;
    },
  };
}
