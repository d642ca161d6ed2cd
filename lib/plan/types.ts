/**
 * Plans are data. Desired and observed state go in, steps come out; nothing here touches a server.
 * The JSON form of a plan (see lib/report/json.ts) is versioned: PLAN_FORMAT_VERSION.
 */
import type { KubeObject } from "../manifests/types.ts";

export interface DesiredFile {
  /** Path inside the repository. */
  path: string;
  content: string;
  /** kustomization.yaml: written only when absent, so user patches survive (as flux). */
  onlyIfAbsent: boolean;
}

export interface DesiredCluster {
  name: string;
  repo: { url: string; branch: string };
  /** `<path>/<namespace>`: the folder fluxfleet owns in the repository. */
  dir: string;
  /** `./<path>`: what the Kustomization syncs. */
  syncPath: string;
  files: DesiredFile[];
  namespace: string;
  secret: {
    name: string;
    namespace: string;
    data: Record<string, string>;
    /**
     * Generated-key mode while the secret holds no key yet (or on rotation): apply generates
     * `identity` and `identity.pub`, of this kind ("ecdsa-p384"); `data` holds the other keys. A
     * key that does not exist is never shown (as Terraform's "known after apply").
     */
    generateAtApply?: string;
    /**
     * `username` and `password` are credentials the repository's provider issues at apply (of
     * this kind, "a project deploy token"): the cluster holds none that are valid yet.
     */
    issueAtApply?: string;
  };
  components: KubeObject[];
  gitRepository: KubeObject;
  kustomization: KubeObject;
  /**
   * flux.imagePullSecret with flux.registryCredentials: the kubernetes.io/dockerconfigjson
   * secret flux bootstrap --registry-creds creates after the components. `data` holds the
   * password: like the source secret's, it never enters a plan.
   */
  pullSecret?: {
    name: string;
    namespace: string;
    /** The registry host the credentials are for (shown in the plan). */
    registry: string;
    data: Record<string, string>;
  };
  timeoutMs: number;
  /** Take over CRDs another tool manages (`--force`, as flux bootstrap's prompt). */
  force?: boolean;
  /** Replace credentials on purpose (`rotate: true` / `--rotate`). */
  rotate?: boolean;
}

export interface ObservedRepo {
  branchExists: boolean;
  head: string | null;
  /** Content of each desired file path, null when absent. */
  files: Record<string, string | null>;
}

export interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

export interface ObservedFluxObject {
  spec: Record<string, unknown>;
  generation?: number;
  observedGeneration?: number;
  ready?: Condition;
  /** status.artifact.revision (GitRepository) or status.lastAppliedRevision (Kustomization). */
  revision?: string;
  suspended: boolean;
}

export interface ObservedCluster {
  namespace: boolean;
  /** Decoded secret data; undefined when the secret does not exist. */
  secret?: Record<string, string>;
  /** The credentials-digest annotation fluxfleet left on the secret, if any. */
  secretDigest?: string;
  gitRepository?: ObservedFluxObject;
  kustomization?: ObservedFluxObject;
  /** The image pull secret, decoded; observed only when the manifest asks for one. */
  pullSecret?: {
    type: string;
    data: Record<string, string>;
    /** The credentials-digest annotation: set when fluxfleet wrote the secret. */
    digest?: string;
  };
  /** `app.kubernetes.io/managed-by` of the GitRepository CRD, when checked and set. */
  crdManagedBy?: string;
  /** Whether the GitRepository CRD exists (checked while the components would be installed). */
  crdPresent?: boolean;
}

export type Step =
  | {
    kind: "file";
    action: "create" | "update";
    path: string;
    /** Unified diff from the repository's content to the desired one (update only). */
    diff?: string;
  }
  | { kind: "namespace"; action: "create"; name: string }
  | { kind: "components"; action: "install"; objects: number; reason: string }
  | {
    kind: "secret";
    action: "create" | "update";
    namespace: string;
    name: string;
    /** Key names only: values are secret and never part of a plan. */
    keys: string[];
    /** identity and identity.pub hold an SSH key of this kind ("ecdsa-p384") made by apply. */
    generatedKey?: string;
    /** username and password hold credentials the provider issues at apply (in words). */
    issuedCredentials?: string;
  }
  | {
    kind: "pullSecret";
    action: "create" | "update";
    namespace: string;
    name: string;
    /** Why, in words and without values: "kubernetes.io/dockerconfigjson for ghcr.io", "password changed". */
    reason: string;
    /** The existing secret has another type, which Kubernetes cannot change: delete, then create. */
    recreate?: boolean;
  }
  | ProviderStep
  | {
    /**
     * A storage migration before the release is pushed (lib/plan/preflight.ts): every object of
     * the CRD written again in `version`, then status.storedVersions set to [version].
     */
    kind: "migrate";
    crd: string;
    /** status.storedVersions now. */
    storedVersions: string[];
    version: string;
  }
  | {
    kind: "sync";
    action: "create" | "update";
    object: "GitRepository" | "Kustomization";
    namespace: string;
    name: string;
    /** Spec fields that differ (update only). */
    fields: string[];
  };

/**
 * Permissions in neutral words, from least to most; each provider names them its own way
 * (lib/providers). "triage" and "maintain" are levels between read, write and admin that some
 * forges' roles have; a provider without them never plans them.
 */
export type Permission = "read" | "triage" | "write" | "maintain" | "admin";

/** A step a provider carries out (lib/providers); `provider` is its kind (`git.provider`). */
export type ProviderStep =
  | {
    kind: "repository";
    provider: string;
    action: "create" | "update";
    name: string;
    private: boolean;
    /** The provider's visibility when it is neither private nor public ("internal", say). */
    visibility?: string;
  }
  | {
    /** The repository's default branch set to the branch its clusters sync (reconcile). */
    kind: "repository";
    provider: string;
    action: "defaultBranch";
    name: string;
    branch: string;
    /** The default branch the API reported. */
    from: string;
  }
  | { kind: "group"; provider: string; action: "grant"; group: string; permission: Permission }
  | {
    kind: "accessKey";
    provider: string;
    action: "create" | "replace";
    label: string;
    permission: "read" | "write";
    /** Ids of keys fluxfleet added before (same label, other key) or with the wrong permission. */
    remove: number[];
    /** The key registered is the one apply generates, of this kind ("ecdsa-p384"). */
    generatedKey?: string;
  };

/**
 * A step as plans show it (JSON output, plan files): a provider step without the provider's
 * name, its permission in the provider's own words (REPO_WRITE, say).
 */
export type StepView =
  | Exclude<Step, ProviderStep>
  | {
    kind: "repository";
    action: "create" | "update";
    name: string;
    private: boolean;
    visibility?: string;
  }
  | { kind: "repository"; action: "defaultBranch"; name: string; branch: string; from: string }
  | { kind: "group"; action: "grant"; group: string; permission: string }
  | {
    kind: "accessKey";
    action: "create" | "replace";
    label: string;
    permission: string;
    remove: number[];
    generatedKey?: string;
  };

/** A plan as it is shown and saved (JSON output, plan files): its steps as StepViews. */
export type ClusterPlanView = Omit<ClusterPlan, "steps"> & { steps: StepView[] };

export interface StatusLine {
  object: "GitRepository" | "Kustomization";
  name: string;
  namespace: string;
  ready: boolean;
  message: string;
}

/**
 * The SSH key fluxfleet generates for the cluster to read with (sshKey). Unknown until apply makes
 * it; then read from the secret, with whether the repository accepts it.
 */
export interface ClusterSshKey {
  /** The key does not exist yet: apply generates it (its public key is known after apply). */
  generatedAtApply: boolean;
  /** The kind apply generates ("ecdsa-p384", "ed25519", "rsa-4096"); only when generatedAtApply. */
  algorithm?: string;
  /** authorized_keys line of the key in the secret; null while generatedAtApply. */
  publicKey: string | null;
  /** "SHA256:…"; null while generatedAtApply. */
  fingerprint: string | null;
  /**
   * Whether the repository accepts the key: an SSH handshake, or the access keys a provider's
   * API lists. Absent while generatedAtApply.
   */
  accepted?: boolean;
  /** Why it is not accepted (the server's answer). */
  reason?: string;
}

export interface ClusterPlan {
  cluster: string;
  repository: {
    url: string;
    branch: string;
    dir: string;
    /** git.signing, without secrets ("signed with SSH key SHA256:…"); absent: commits unsigned. */
    signing?: string;
  };
  steps: Step[];
  /** Readiness observed now (`=` lines); not changes. */
  status: StatusLine[];
  warnings: string[];
  /** Things the user should know or do (a scanned host key to check, a public key to add). */
  notes?: string[];
  /** Generated-key mode: the cluster's SSH key (see ClusterSshKey). */
  sshKey?: ClusterSshKey;
  /** The credential plugin the kubeconfig user runs (command name only), when it has one. */
  kubeCredentials?: { plugin: "exec" | "auth-provider"; provider?: string; command?: string };
  /** Set when the cluster cannot be planned (e.g. unreachable, or a conflicting Kustomization). */
  error?: string;
  /** Digest of the observed state the plan was made from (see digest.ts); for stale-plan checks. */
  observed?: string;
  /** Plan files only: digest of what its steps would write (digest.ts payloadDigest). */
  payload?: string;
}

/** The objects fluxfleet manages in a cluster, by name: what observing it looks at. */
export interface ClusterTargets {
  namespace: string;
  secret: { name: string; namespace: string };
  pullSecret?: { name: string; namespace: string };
  gitRepository: KubeObject;
  kustomization: KubeObject;
}

/** The cluster's generated SSH key, once it exists (the private half never leaves memory). */
export interface ClusterKey {
  identity: string;
  /** authorized_keys line, as shown to the user. */
  publicKey: string;
  fingerprint: string;
  /** known_hosts of the cluster's SSH host, for the check. */
  knownHosts: string;
}

/** How apply checks that the repository accepts the cluster's generated key (an SSH handshake). */
export interface KeyCheckTarget {
  /** The URL the cluster reads from. */
  url: string;
  hostKeyAlgorithms?: string[];
}

/**
 * One cluster's part of a fleet plan: the plan as shown, and every payload apply needs. Plain
 * data built once from what was observed; apply carries it out as it is.
 */
export interface PlannedCluster {
  plan: ClusterPlan;
  /** The repository it commits to (RepositoryPlan.key). */
  repository: string;
  /**
   * The desired state: the payload of every step (file contents, objects, the secret's values —
   * which never leave memory). Absent when the cluster could not be planned.
   */
  desired?: DesiredCluster;
  /** Digest of the payloads that are not secret (what a saved plan file pins). */
  payload?: string;
  /** apply generates the cluster's SSH key of this spec, right before the secret step. */
  generateKey?: { algorithm: "ed25519" | "ecdsa" | "rsa"; ecdsaCurve: string; rsaBits: number };
  /** A generated key not known to be accepted yet: checked before the cluster reads with it. */
  keyCheck?: ClusterKey;
  keyTarget?: KeyCheckTarget;
  /** The repository has its own kustomization.yaml: the components are built from it. */
  customKustomization: boolean;
  /** What was observed, for destroy (which files exist, not their contents). */
  observed?: { repo: ObservedRepo; cluster: ObservedCluster };
}

/** One repository's part of a fleet plan: the provider's steps, then one commit. */
export interface RepositoryPlan {
  key: string;
  /** Where it is fetched and pushed (the provider's link once observed). */
  url: string;
  branch: string;
  /** Its clusters; the first one's credentials fetch and push. */
  clusters: string[];
  /** The repository as its provider names it, for messages. */
  name?: string;
  /**
   * Another branch of the same repository (its RepositoryPlan.key) carries the repository's
   * provider steps: this one is applied after it, with the repository as it left it.
   */
  steward?: string;
  /** The provider's steps on the repository (create, visibility, grants), before the commit. */
  providerSteps: ProviderStep[];
  /** The commit holding its clusters' file steps (their contents are the clusters' payloads). */
  commit?: { message: string; author: { name: string; email: string }; clusters: string[] };
  /** It could not be fetched: its clusters are not planned. */
  error?: string;
}

export interface FleetPlan {
  clusters: PlannedCluster[];
  repositories: RepositoryPlan[];
}
