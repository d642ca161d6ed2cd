/** A cluster's settings resolved: defaults applied, paths absolute, the provider's resolution. */
import { resolve } from "node:path";
import type { ClusterConfig, RawManifest } from "./types.ts";
import { parseDuration } from "./duration.ts";
import { DEFAULT_REGISTRY } from "../manifests/options.ts";
import {
  DEFAULT_COMPONENTS,
  DEFAULT_FLUX_VERSION,
  DEFAULT_SECRET_NAME,
  releaseManifestsUrl,
} from "./defaults.ts";
import { normalisePath } from "./rules.ts";
import { providerView } from "./provider_settings.ts";

export function resolveCluster(raw: RawManifest, i: number, baseDir: string): ClusterConfig {
  const c = raw.clusters[i];
  const d = raw.defaults ?? {};
  const git = { ...d.git, ...c.git };
  const flux = { ...d.flux, ...c.flux };
  const kube = { ...d.kube, ...c.kube };
  const view = providerView(raw, i);
  const provider = view.module.resolve(view.input);
  const rawAuth = provider.auth
    ? { type: "token" as const, ...provider.auth }
    : git.auth ?? { type: "token" as const };
  const auth: ClusterConfig["git"]["auth"] = rawAuth.type === "ssh"
    ? {
      type: "ssh",
      privateKey: rawAuth.privateKey,
      ...(rawAuth.passphrase ? { passphrase: rawAuth.passphrase } : {}),
    }
    : {
      type: "token",
      username: rawAuth.username ?? "git",
      token: rawAuth.token ?? { env: "GIT_PASSWORD" },
      ...(provider.auth ? { field: provider.auth.field } : {}),
    };
  const knownHosts = git.knownHosts && "file" in git.knownHosts
    ? { file: resolve(baseDir, git.knownHosts.file) }
    : git.knownHosts ?? { scan: true as const };
  const url = provider.url;
  // A generated key: at a URL known now (flux --ssh-hostname), or once the provider observed the
  // repository.
  const clusterSsh = provider.clusterUrl !== undefined || provider.generatedKey
    ? {
      ...(provider.clusterUrl !== undefined ? { clusterUrl: provider.clusterUrl } : {}),
      key: {
        algorithm: git.sshKey?.algorithm ?? "ecdsa",
        ecdsaCurve: git.sshKey?.ecdsaCurve ?? "p384",
        rsaBits: git.sshKey?.rsaBits ?? 2048,
      },
    }
    : undefined;
  const rel = (p: string | undefined) => (p === undefined ? undefined : resolve(baseDir, p));
  // As flux: without a source, the release's manifests archive for the version is downloaded
  // (once, then cached with its checksum).
  const manifests = flux.manifests ?? releaseManifestsUrl(flux.version ?? DEFAULT_FLUX_VERSION);
  return {
    name: c.name,
    labels: c.labels ?? {},
    rotate: c.rotate ?? false,
    kube: {
      kubeconfig: rel(kube.kubeconfig),
      context: kube.context,
      ...(kube.allowInsecureHttp ? { allowInsecureHttp: true } : {}),
      ...(kube.execPlugins === "deny" ? { execPlugins: "deny" as const } : {}),
    },
    path: normalisePath(c.path),
    git: {
      provider: {
        kind: view.module.kind,
        settings: provider.settings,
        ...(provider.name ? { name: provider.name } : {}),
        ...(view.deprecated.length > 0 ? { deprecated: view.deprecated } : {}),
      },
      url,
      branch: git.branch ?? "main",
      author: git.author ?? { name: "Flux", email: "flux@example.com" },
      ...(git.signing ? { signing: git.signing } : {}),
      auth,
      knownHosts,
      transport: git.transport ?? "builtin",
      ...(git.hostKeyAlgorithms ? { hostKeyAlgorithms: git.hostKeyAlgorithms } : {}),
      ...(clusterSsh ? { clusterSsh } : {}),
      ...(provider.issuesCredentials ? { issuedCredentials: provider.issuesCredentials } : {}),
      allowInsecureHttp: git.allowInsecureHttp ?? false,
      caFile: rel(git.caFile),
      commitMessageAppendix: git.commitMessageAppendix,
    },
    flux: {
      version: flux.version ?? DEFAULT_FLUX_VERSION,
      manifests: /^https?:\/\//.test(manifests) ? manifests : resolve(baseDir, manifests),
      ...(flux.manifestsSha256 ? { manifestsSha256: flux.manifestsSha256 } : {}),
      ...(flux.allowInsecureHttp ? { allowInsecureHttp: true } : {}),
      namespace: flux.namespace ?? "flux-system",
      secretName: flux.secretName ?? DEFAULT_SECRET_NAME,
      interval: flux.interval ?? "1m",
      timeoutMs: parseDuration(flux.timeout ?? "5m"),
      components: flux.components ?? DEFAULT_COMPONENTS,
      componentsExtra: flux.componentsExtra ?? [],
      registry: flux.registry ?? DEFAULT_REGISTRY,
      imagePullSecret: flux.imagePullSecret,
      ...(flux.registryCredentials ? { registryCredentials: flux.registryCredentials } : {}),
      networkPolicy: flux.networkPolicy ?? true,
      watchAllNamespaces: flux.watchAllNamespaces ?? true,
      clusterDomain: flux.clusterDomain ?? "cluster.local",
      tolerationKeys: flux.tolerationKeys ?? [],
      logLevel: flux.logLevel ?? "info",
      recurseSubmodules: flux.recurseSubmodules ?? false,
      ...(flux.sourceProvider ? { sourceProvider: flux.sourceProvider } : {}),
      ...(flux.sparseCheckout?.length ? { sparseCheckout: flux.sparseCheckout } : {}),
    },
  };
}
