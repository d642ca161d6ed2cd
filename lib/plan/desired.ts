/**
 * Desired state of one cluster, from its config, the selected components and the source-secret
 * data. Pure. Components are computed once per (release manifest, install options) and shared.
 */
import type { ClusterConfig } from "../config/types.ts";
import { renderComponents, selectComponents } from "../manifests/components.ts";
import type { InstallOptions } from "../manifests/options.ts";
import { renderKustomizationFile, renderSync, syncObjects } from "../manifests/sync.ts";
import type { KubeObject } from "../manifests/types.ts";
import type { DesiredCluster } from "./types.ts";

export interface Components {
  objects: KubeObject[];
  /** gotk-components.yaml */
  content: string;
}

export function installOptions(c: ClusterConfig): InstallOptions {
  return {
    version: c.flux.version,
    namespace: c.flux.namespace,
    components: [...c.flux.components, ...c.flux.componentsExtra],
    registry: c.flux.registry,
    imagePullSecret: c.flux.imagePullSecret,
    networkPolicy: c.flux.networkPolicy,
    watchAllNamespaces: c.flux.watchAllNamespaces,
    clusterDomain: c.flux.clusterDomain,
    tolerationKeys: c.flux.tolerationKeys,
    logLevel: c.flux.logLevel,
  };
}

export function componentsFor(installYaml: string, opts: InstallOptions): Components {
  const objects = selectComponents(installYaml, opts);
  return { objects, content: renderComponents(objects, opts) };
}

/** The URL the cluster reads from: the generated-key SSH URL when set, else the git URL. */
export function clusterRepoUrl(c: ClusterConfig): string {
  return c.git.clusterSsh?.clusterUrl ?? c.git.url;
}

export function desiredCluster(
  c: ClusterConfig,
  components: Components,
  secretData: Record<string, string>,
): DesiredCluster {
  const ns = c.flux.namespace;
  const dir = `${c.path}/${ns}`;
  const sync = syncObjects({
    name: ns,
    namespace: ns,
    url: clusterRepoUrl(c),
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
      { path: `${dir}/gotk-components.yaml`, content: components.content, onlyIfAbsent: false },
      { path: `${dir}/gotk-sync.yaml`, content: renderSync(sync), onlyIfAbsent: false },
      {
        path: `${dir}/kustomization.yaml`,
        content: renderKustomizationFile(["gotk-components.yaml", "gotk-sync.yaml"]),
        onlyIfAbsent: true,
      },
    ],
    namespace: ns,
    secret: { name: c.flux.secretName, namespace: ns, data: secretData },
    components: components.objects,
    gitRepository: sync.gitRepository,
    kustomization: sync.kustomization,
    timeoutMs: c.flux.timeoutMs,
  };
}

/** Token auth stores username/password, as `flux bootstrap git --token-auth` does. */
export function tokenSecretData(username: string, token: string): Record<string, string> {
  return { username, password: token };
}

/** SSH stores identity, identity.pub, known_hosts (+ password for an encrypted key), as flux. */
export function sshSecretData(
  identity: string,
  publicKey: string,
  knownHosts: string,
  passphrase?: string,
): Record<string, string> {
  return {
    identity,
    "identity.pub": publicKey,
    known_hosts: knownHosts,
    ...(passphrase ? { password: passphrase } : {}),
  };
}
