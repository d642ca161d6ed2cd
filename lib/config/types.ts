/** Types of the manifest as written (`Raw*`) and as resolved per cluster (`ClusterConfig`). */
import type { ConfigProblem, Location } from "./errors.ts";

export type SecretRef =
  | { env: string }
  | { file: string }
  | { stdin: true }
  | { prompt: true };

export interface TokenAuth {
  type: "token";
  username?: string;
  token?: SecretRef;
}

export interface SshAuth {
  type: "ssh";
  privateKey: SecretRef;
  passphrase?: SecretRef;
}

export type GitAuth = TokenAuth | SshAuth;

export type KnownHostsSource = { scan: true } | { file: string } | { lines: string };

export interface SshKeySpec {
  algorithm?: "ed25519" | "ecdsa" | "rsa";
  ecdsaCurve?: "p256" | "p384" | "p521";
  rsaBits?: number;
}

export interface Author {
  name: string;
  email: string;
}

/**
 * `git.signing`: how the commits fluxfleet pushes are signed. OpenPGP mirrors flux bootstrap's
 * --gpg-key-ring / --gpg-passphrase / --gpg-key-id; SSH signatures are git's gpg.format=ssh.
 */
export type CommitSigning =
  | { gpg: { keyRing: SecretRef; passphrase?: SecretRef; keyId?: string } }
  | { ssh: { key: SecretRef; passphrase?: SecretRef } };

export interface RawFlux {
  version?: string;
  manifests?: string;
  manifestsSha256?: string;
  /** Allow a plain http:// flux.manifests URL. */
  allowInsecureHttp?: boolean;
  namespace?: string;
  secretName?: string;
  interval?: string;
  timeout?: string;
  components?: string[];
  componentsExtra?: string[];
  registry?: string;
  imagePullSecret?: string;
  registryCredentials?: RegistryCredentials;
  networkPolicy?: boolean;
  watchAllNamespaces?: boolean;
  clusterDomain?: string;
  tolerationKeys?: string[];
  logLevel?: "debug" | "info" | "error";
  recurseSubmodules?: boolean;
  sourceProvider?: SourceProvider;
  sparseCheckout?: string[];
}

/** `flux.sourceProvider`: the GitRepository's spec.provider (source-controller's auth provider). */
export type SourceProvider = "generic" | "azure" | "github";

/**
 * `flux.registryCredentials`: flux bootstrap's --registry-creds user:password, the password as a
 * secret reference. Becomes the dockerconfigjson secret named `flux.imagePullSecret`.
 */
export interface RegistryCredentials {
  username: string;
  password: SecretRef;
}

/**
 * `git` as written. A provider's own settings sit in its block (`git.<block>`), or flat
 * in older manifests; lib/config/provider_settings.ts reads them, lib/providers checks them.
 */
export interface RawGit {
  /** A kind of the provider registry (lib/providers/registry.ts); default generic. */
  provider?: string;
  url?: string;
  branch?: string;
  author?: Author;
  signing?: CommitSigning;
  auth?: GitAuth;
  allowInsecureHttp?: boolean;
  caFile?: string;
  commitMessageAppendix?: string;
  knownHosts?: KnownHostsSource;
  hostKeyAlgorithms?: string[];
  sshHostname?: string;
  sshUser?: string;
  sshKey?: SshKeySpec;
  transport?: "builtin" | "system";
}

export interface RawKube {
  kubeconfig?: string;
  context?: string;
  allowInsecureHttp?: boolean;
  execPlugins?: "allow" | "deny";
}

export interface RawCluster {
  name: string;
  labels?: Record<string, string>;
  kube?: RawKube;
  path: string;
  git?: RawGit & Record<string, unknown>;
  flux?: RawFlux;
  rotate?: boolean;
}

export interface RawManifest {
  defaults?: { flux?: RawFlux; git?: RawGit & Record<string, unknown>; kube?: RawKube };
  clusters: RawCluster[];
  rollout?: RawRollout;
}

/** `rollout:` as written: ordered waves with their health gates (lib/rollout). */
export interface RawRollout {
  waves: RawWave[];
  maxParallel?: number;
  bake?: string;
  maxFailures?: number;
  gates?: RawGate[];
}

/** One wave: exactly one of selector (labels to match), percent (of the rest) or rest. */
export interface RawWave {
  name?: string;
  selector?: Record<string, string>;
  percent?: number;
  rest?: true;
  maxParallel?: number;
  bake?: string;
  maxFailures?: number;
  gates?: RawGate[];
}

/** An extra health gate: a Flux object that must be Ready (default namespace flux-system). */
export interface RawGate {
  kind: string;
  name: string;
  namespace?: string;
}

/** Everything one cluster needs, defaults applied, paths absolute. Secrets stay references. */
export interface ClusterConfig {
  name: string;
  labels: Record<string, string>;
  kube: {
    kubeconfig?: string;
    context?: string;
    allowInsecureHttp?: boolean;
    /** "deny": a user whose credentials come from running a command is refused (default allow). */
    execPlugins?: "allow" | "deny";
  };
  /** Repository folder for this cluster, normalised, no leading "./" or trailing "/". */
  path: string;
  git: {
    provider: ProviderConfig;
    /** The clone URL; for a hosting API, its convention until the repository is observed. */
    url: string;
    branch: string;
    author: Author;
    /** Unset: commits are not signed. Secret references, resolved with the credentials. */
    signing?: CommitSigning;
    auth:
      | {
        type: "token";
        username: string;
        token: SecretRef;
        /** The token's field as the manifest spells it, when not git.auth.token (a provider's). */
        field?: string;
      }
      | { type: "ssh"; privateKey: SecretRef; passphrase?: SecretRef };
    allowInsecureHttp: boolean;
    caFile?: string;
    commitMessageAppendix?: string;
    /** How the SSH host key is known; absolute file path. Set for every SSH mode. */
    knownHosts: { scan: true } | { file: string } | { lines: string };
    hostKeyAlgorithms?: string[];
    /** builtin: isomorphic-git (+ ssh2); system: the git binary with OpenSSH, for SSH URLs. */
    transport: "builtin" | "system";
    /**
     * Generated-key mode (flux --ssh-hostname): fluxfleet pushes over HTTPS with the token, the
     * cluster reads over SSH from `clusterUrl` with a key fluxfleet generates once.
     */
    /**
     * The cluster reads with credentials the provider issues at apply (what they are, in
     * words), not with `auth`'s token.
     */
    issuedCredentials?: string;
    clusterSsh?: {
      /** Unset when the provider says it once the repository is observed. */
      clusterUrl?: string;
      key: {
        algorithm: "ed25519" | "ecdsa" | "rsa";
        ecdsaCurve: "p256" | "p384" | "p521";
        rsaBits: number;
      };
    };
  };
  /** Replace the generated key on purpose. */
  rotate: boolean;
  flux: {
    version: string;
    manifests: string;
    manifestsSha256?: string;
    /** flux.allowInsecureHttp: a plain http:// flux.manifests URL is allowed. */
    allowInsecureHttp?: boolean;
    namespace: string;
    secretName: string;
    interval: string;
    timeoutMs: number;
    components: string[];
    componentsExtra: string[];
    registry: string;
    imagePullSecret?: string;
    /** Set only together with imagePullSecret (validated). The password stays a reference. */
    registryCredentials?: RegistryCredentials;
    networkPolicy: boolean;
    watchAllNamespaces: boolean;
    clusterDomain: string;
    tolerationKeys: string[];
    logLevel: "debug" | "info" | "error";
    /** GitRepository spec.recurseSubmodules (rendered only when true, as flux). */
    recurseSubmodules: boolean;
    /** GitRepository spec.provider; unset: not rendered (Flux's default is generic). */
    sourceProvider?: SourceProvider;
    /**
     * GitRepository spec.sparseCheckout (flux bootstrap --sparse-checkout): the folders source-
     * controller checks out, as written in the manifest; unset or empty: not rendered.
     */
    sparseCheckout?: string[];
  };
}

export interface Manifest {
  file: string;
  clusters: ClusterConfig[];
  /**
   * Where a cluster's setting (`git.token`, `kube.context`) is written, or inherited from, for
   * errors about values read after validation (secrets, kubeconfig contexts).
   */
  locate?: (cluster: string, field: string) => Location | undefined;
  /** What the manifest writes in a deprecated form (still accepted), where it writes it. */
  warnings?: ConfigProblem[];
  /** `rollout:` as written (validated); lib/rollout/waves.ts assigns the clusters. */
  rollout?: RawRollout;
}

/** `git.provider` with its settings, resolved by the provider (lib/providers). */
export interface ProviderConfig {
  kind: string;
  /** The provider's own settings (opaque here). */
  settings: unknown;
  /** The repository as the provider names it ("PROJ/fleet"). */
  name?: string;
  /** Deprecated flat settings the cluster uses (`git.hostname`), for the plan's warning. */
  deprecated?: string[];
}
