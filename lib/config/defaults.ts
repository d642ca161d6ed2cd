/** The manifest's defaults that are facts about flux (recorded once, here). */

/**
 * The Flux release used when the manifest names none (pinned, so a plan is reproducible). The one
 * place it is recorded: README.md and the schema's description are checked against it
 * (tests/config_test.ts). v2.9.4 is the newest stable release verified: the flux2 releases page
 * (github.com/fluxcd/flux2/releases lists v2.9.4 first) and the tags of fluxcd/flux2 (v2.9.0 …
 * v2.9.4); /work/shared/reference/anchors-2026-12.md only says v2.9.x.
 */
export const DEFAULT_FLUX_VERSION = "v2.9.4";

/** flux bootstrap --secret-name: its default is the fixed default namespace, not --namespace. */
export const DEFAULT_SECRET_NAME = "flux-system";

/** flux2 pkg/manifestgen/install `fetch`: the release asset flux itself downloads. */
export function releaseManifestsUrl(version: string): string {
  return `https://github.com/fluxcd/flux2/releases/download/${version}/manifests.tar.gz`;
}

export const DEFAULT_COMPONENTS = [
  "source-controller",
  "kustomize-controller",
  "helm-controller",
  "notification-controller",
];
