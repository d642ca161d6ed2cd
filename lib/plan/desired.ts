/**
 * Desired state of one cluster, from its config, the selected components and the source-secret
 * data. Pure. Components are computed once per (release manifest, install options) and shared:
 * from an install.yaml here (componentsFor), from a release manifests archive by a kustomize
 * build before planning (lib/manifests/release.ts, called from lib/apply/components.ts).
 */
import type { ClusterConfig } from "../config/types.ts";
import { type Components, renderComponents, selectComponents } from "../manifests/components.ts";
import type { InstallOptions } from "../manifests/options.ts";
import { renderKustomizationFile, renderSync, syncObjects } from "../manifests/sync.ts";
import type { ClusterTargets, DesiredCluster } from "./types.ts";

export type { Components };

export function installOptions(c: ClusterConfig): InstallOptions {
  return {
    version: c.flux.version,
    namespace: c.flux.namespace,
    components: [...c.flux.components, ...c.flux.componentsExtra],
    // `registry.example.com/mirror/` would make flux write `mirror//source-controller`, an image
    // reference no registry serves; the trailing slash is dropped for both renderers.
    registry: c.flux.registry.replace(/\/+$/, ""),
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

/** The GitRepository and Kustomization of the cluster (flux2 pkg/manifestgen/sync). */
function syncFor(c: ClusterConfig) {
  const ns = c.flux.namespace;
  return syncObjects({
    name: ns,
    namespace: ns,
    url: clusterRepoUrl(c),
    branch: c.git.branch,
    secretName: c.flux.secretName,
    interval: c.flux.interval,
    path: c.path,
    recurseSubmodules: c.flux.recurseSubmodules,
    ...(c.flux.sourceProvider ? { provider: c.flux.sourceProvider } : {}),
    ...(c.flux.sparseCheckout ? { sparseCheckout: c.flux.sparseCheckout } : {}),
  });
}

/** What observing the cluster looks at: the objects it would get, by name. */
export function clusterTargets(c: ClusterConfig): ClusterTargets {
  const ns = c.flux.namespace;
  const { gitRepository, kustomization } = syncFor(c);
  const pull = c.flux.registryCredentials && c.flux.imagePullSecret;
  return {
    namespace: ns,
    secret: { name: c.flux.secretName, namespace: ns },
    ...(pull ? { pullSecret: { name: pull, namespace: ns } } : {}),
    gitRepository,
    kustomization,
  };
}

/** The files fluxfleet writes under `<path>/<namespace>/`, by path. */
export function desiredFilePaths(c: ClusterConfig): string[] {
  const dir = `${c.path}/${c.flux.namespace}`;
  return [FILE_COMPONENTS, FILE_SYNC, FILE_KUSTOMIZATION].map((f) => `${dir}/${f}`);
}

const FILE_COMPONENTS = "gotk-components.yaml";
const FILE_SYNC = "gotk-sync.yaml";
const FILE_KUSTOMIZATION = "kustomization.yaml";

let kustomizationText: string | undefined;

/** The kustomization.yaml every cluster gets (the same text): rendered once per run. */
function kustomizationFile(): string {
  kustomizationText ??= renderKustomizationFile([FILE_COMPONENTS, FILE_SYNC]);
  return kustomizationText;
}

/**
 * The desired state once the repository's real URLs are known (a repository its provider
 * created at apply, whose links differ from their convention): the URLs are all that change.
 */
export function withRepositoryUrl(
  desired: DesiredCluster,
  url: string,
  readUrl: string,
): DesiredCluster {
  const spec = desired.gitRepository.spec as Record<string, unknown>;
  if (desired.repo.url === url && spec.url === readUrl) return desired;
  const gitRepository = { ...desired.gitRepository, spec: { ...spec, url: readUrl } };
  const sync = renderSync({ gitRepository, kustomization: desired.kustomization });
  return {
    ...desired,
    repo: { ...desired.repo, url },
    gitRepository,
    files: desired.files.map((f) => f.path.endsWith(`/${FILE_SYNC}`) ? { ...f, content: sync } : f),
  };
}

/** flux.registryCredentials with the password read (lib/apply/credentials.ts). */
export interface RegistryLogin {
  username: string;
  password: string;
}

/**
 * `registry` is the resolved flux.registryCredentials; required when the cluster has them (the
 * desired pull secret carries the password).
 */
export function desiredCluster(
  c: ClusterConfig,
  components: Components,
  secretData: Record<string, string>,
  registry?: RegistryLogin,
): DesiredCluster {
  const ns = c.flux.namespace;
  const dir = `${c.path}/${ns}`;
  const sync = syncFor(c);
  let pullSecret: DesiredCluster["pullSecret"];
  if (c.flux.registryCredentials && c.flux.imagePullSecret) {
    if (!registry) {
      throw new Error(`cluster "${c.name}": flux.registryCredentials were not resolved`);
    }
    // As flux2 (bootstrap reconcileImagePullSecret): `auths` is keyed by the registry option as
    // given (`ghcr.io/fluxcd`; the kubelet matches it as a prefix of the image names), trailing
    // slash dropped as installOptions does.
    const host = c.flux.registry.replace(/\/+$/, "");
    pullSecret = {
      name: c.flux.imagePullSecret,
      namespace: ns,
      registry: host,
      data: {
        [DOCKER_CONFIG_JSON_KEY]: dockerConfigJson(host, registry.username, registry.password),
      },
    };
  }
  return {
    name: c.name,
    repo: { url: c.git.url, branch: c.git.branch },
    dir,
    syncPath: `./${c.path}`,
    files: [
      { path: `${dir}/${FILE_COMPONENTS}`, content: components.content, onlyIfAbsent: false },
      { path: `${dir}/${FILE_SYNC}`, content: renderSync(sync), onlyIfAbsent: false },
      { path: `${dir}/${FILE_KUSTOMIZATION}`, content: kustomizationFile(), onlyIfAbsent: true },
    ],
    namespace: ns,
    secret: { name: c.flux.secretName, namespace: ns, data: secretData },
    components: components.objects,
    gitRepository: sync.gitRepository,
    kustomization: sync.kustomization,
    ...(pullSecret ? { pullSecret } : {}),
    timeoutMs: c.flux.timeoutMs,
  };
}

/** corev1.SecretTypeDockerConfigJson and corev1.DockerConfigJsonKey. */
export const DOCKER_CONFIG_JSON_TYPE = "kubernetes.io/dockerconfigjson";
export const DOCKER_CONFIG_JSON_KEY = ".dockerconfigjson";

/**
 * The `.dockerconfigjson` of the image pull secret, byte for byte as flux2
 * pkg/manifestgen/sourcesecret GenerateDockerConfigJson marshals it (encoding/json: fields in
 * struct order username, password, auth — email is omitempty —, auth = base64("user:password"),
 * HTML-safe escaping), so a secret the flux CLI wrote compares equal.
 */
export function dockerConfigJson(host: string, username: string, password: string): string {
  const auth = base64(`${username}:${password}`);
  return `{"auths":{${goJsonString(host)}:{"username":${goJsonString(username)},"password":${
    goJsonString(password)
  },"auth":${goJsonString(auth)}}}}`;
}

function base64(text: string): string {
  let bin = "";
  for (const b of new TextEncoder().encode(text)) bin += String.fromCharCode(b);
  return btoa(bin);
}

/**
 * A JSON string as Go's encoding/json writes it: like JSON.stringify, plus the HTML-safe escapes
 * of <, > and & and the escapes of U+2028/U+2029 (since Go 1.22, \b and \f are written as such,
 * as JSON.stringify does). Only characters outside an escape sequence are touched.
 */
export function goJsonString(s: string): string {
  return JSON.stringify(s).replace(
    /\\.|[<>&\u2028\u2029]/g,
    (m) => m.length === 2 ? m : `\\u${m.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** Token auth stores username/password, as `flux bootstrap git --token-auth` does. */
/**
 * Token auth stores username and password, plus the CA of a private git server under `caFile`
 * (flux2 pkg/manifestgen/sourcesecret CAFileSecretKey, from `flux bootstrap git --ca-file`):
 * without it Flux could not fetch from a server fluxfleet itself only reaches through git.caFile.
 */
export function tokenSecretData(
  username: string,
  token: string,
  caPem?: string,
): Record<string, string> {
  return { username, password: token, ...(caPem ? { caFile: caPem } : {}) };
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
