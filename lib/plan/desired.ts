/** Desired state of one cluster, from its config, the release manifest and the resolved token. Pure. */
import type { ClusterConfig } from "../config/types.ts";
import { renderComponents, selectComponents } from "../manifests/components.ts";
import { renderKustomizationFile, renderSync, syncObjects } from "../manifests/sync.ts";
import type { DesiredCluster } from "./types.ts";

export function desiredCluster(
  c: ClusterConfig,
  installYaml: string,
  token: string,
): DesiredCluster {
  const ns = c.flux.namespace;
  const components = [...c.flux.components, ...c.flux.componentsExtra];
  const opts = {
    version: c.flux.version,
    namespace: ns,
    components,
    registry: c.flux.registry,
    imagePullSecret: c.flux.imagePullSecret,
    networkPolicy: c.flux.networkPolicy,
    watchAllNamespaces: c.flux.watchAllNamespaces,
    clusterDomain: c.flux.clusterDomain,
    tolerationKeys: c.flux.tolerationKeys,
    logLevel: c.flux.logLevel,
  };
  const objects = selectComponents(installYaml, opts);
  const dir = `${c.path}/${ns}`;
  const sync = syncObjects({
    name: ns,
    namespace: ns,
    url: c.git.url,
    branch: c.git.branch,
    secretName: c.flux.secretName,
    interval: c.flux.interval,
    path: c.path,
  });
  return {
    name: c.name,
    repo: { url: c.git.url, branch: c.git.branch },
    dir,
    syncPath: `./${c.path}`,
    files: [
      {
        path: `${dir}/gotk-components.yaml`,
        content: renderComponents(objects, opts),
        onlyIfAbsent: false,
      },
      { path: `${dir}/gotk-sync.yaml`, content: renderSync(sync), onlyIfAbsent: false },
      {
        path: `${dir}/kustomization.yaml`,
        content: renderKustomizationFile(["gotk-components.yaml", "gotk-sync.yaml"]),
        onlyIfAbsent: true,
      },
    ],
    namespace: ns,
    // Token auth stores username/password, as `flux bootstrap git --token-auth` does.
    secret: {
      name: c.flux.secretName,
      namespace: ns,
      data: { username: c.git.auth.username, password: token },
    },
    components: objects,
    gitRepository: sync.gitRepository,
    kustomization: sync.kustomization,
    timeoutMs: c.flux.timeoutMs,
  };
}
