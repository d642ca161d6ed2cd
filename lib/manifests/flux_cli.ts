/**
 * Which flux CLI's install overlay fluxfleet writes for a `flux.version`. Pure.
 *
 * flux takes the overlay (pkg/manifestgen/install: templates.go, manifests.go `generate`) from the
 * CLI that runs, not from `--version`; but `flux bootstrap` only accepts a `--version` of the
 * CLI's own minor release (cmd/flux/version_utils.go `getVersion` → internal/utils
 * `CompatibleVersion`, seen at the tags v2.0.0, v2.4.0, v2.6.4 and v2.9.4; a pre-release CLI
 * accepts any), and without `--version` it installs the CLI's own version. So a repository
 * holding Flux vX.Y.Z was written by a vX.Y CLI, normally vX.Y.Z itself: fluxfleet follows
 * `flux.version` and writes the overlay of the CLI of that version. Checked against every flux2
 * tag from v2.0.0 to v2.9.4; a newer version gets the newest overlay known here (v2.9.4's). Only
 * a vX.Y.Z older than the CLI that bootstrapped it (`flux bootstrap --version=v2.7.1` run by the
 * v2.7.5 CLI) gets another overlay than flux wrote.
 *
 * The overlay changed twice (flux2 tags, pkg/manifestgen/install):
 * - v2.0.0 – v2.6.4: one text (templates.go unchanged over those tags);
 * - v2.7.0: `labels.yaml` also labels the Deployments' pod templates (commit 2f850743), and
 *   source-watcher becomes a component (3542d61a: options.go ComponentsExtra; templates.go gives
 *   it source-controller's argument patches and, when it is installed, adds
 *   `--feature-gates=ExternalArtifact=true` to kustomize- and helm-controller);
 * - v2.7.2 (backports bb9b4e85 and 6bb4aeff of f2ff083b and 8c45f25f, in v2.8.0 on):
 *   `--events-addr` names `$(RUNTIME_NAMESPACE)` instead of the namespace (manifests.go), and
 *   `--storage-adv-addr` names the component (templates.go) — before, source-watcher advertised
 *   its artifacts at source-controller's address.
 */

/** What the overlay of one flux CLI release does. */
export interface FluxCliOverlay {
  /** labelsTmpl's `kind: Deployment, path: spec/template/metadata/labels` field spec (v2.7.0). */
  podTemplateLabels: boolean;
  /** `--events-addr=http://notification-controller.$(RUNTIME_NAMESPACE).svc.<domain>./` (v2.7.2). */
  eventsAddrRuntimeNamespace: boolean;
  /**
   * source-watcher's argument patches with its own `--storage-adv-addr` (v2.7.2; v2.7.0 and
   * v2.7.1 know the component but point it at source-controller's address).
   */
  sourceWatcher: boolean;
}

type Triple = [number, number, number];

/** [major, minor, patch] and whether it is a pre-release; null when not `vX.Y.Z[-pre]`. */
function parseVersion(version: string): { at: Triple; pre: boolean } | null {
  const m = /^v?(\d+)\.(\d+)\.(\d+)(-[0-9A-Za-z.-]+)?$/.exec(version);
  return m ? { at: [Number(m[1]), Number(m[2]), Number(m[3])], pre: m[4] !== undefined } : null;
}

/**
 * Semver order: a pre-release comes before its release (v2.7.0-rc.1 < v2.7.0). A version that is
 * not `vX.Y.Z` (flux's "latest") counts as newer than any release.
 */
function atLeast(version: string, release: Triple): boolean {
  const v = parseVersion(version);
  if (v === null) return true;
  for (let i = 0; i < 3; i++) {
    if (v.at[i] !== release[i]) return v.at[i] > release[i];
  }
  return !v.pre;
}

export function fluxCliOverlay(version: string): FluxCliOverlay {
  return {
    podTemplateLabels: atLeast(version, [2, 7, 0]),
    eventsAddrRuntimeNamespace: atLeast(version, [2, 7, 2]),
    sourceWatcher: atLeast(version, [2, 7, 2]),
  };
}

export const SOURCE_WATCHER = "source-watcher";

/**
 * Why `componentsExtra: [source-watcher]` cannot be installed with this `flux.version`, or
 * undefined. Before v2.7.0 flux has no such component (`flux bootstrap` says "component
 * source-watcher is not available"); v2.7.0 and v2.7.1 install it advertising its artifacts at
 * source-controller's address, which flux fixed in v2.7.2: fluxfleet refuses rather than write a
 * source-watcher that cannot serve its artifacts.
 */
export function sourceWatcherProblem(version: string): string | undefined {
  if (fluxCliOverlay(version).sourceWatcher) return undefined;
  return atLeast(version, [2, 7, 0])
    ? `source-watcher needs flux.version v2.7.2 or later: flux ${version} points its --storage-adv-addr at source-controller (fixed in flux v2.7.2)`
    : `source-watcher needs flux.version v2.7.2 or later (flux ${version} has no source-watcher)`;
}
