/** Shared state of one run: options, repository groups, cluster states, results. */
import type { ClusterConfig } from "../config/types.ts";
import type { SecretSource } from "../config/secrets.ts";
import { type Components } from "../plan/desired.ts";
import { type Credentials } from "./credentials.ts";
import type { RepoRemote } from "../git/remote.ts";
import type { KnownHosts } from "./host_keys.ts";
import type { DesiredCluster, ObservedCluster, ObservedRepo } from "../plan/types.ts";
import type { RepoCheckout } from "../git/types.ts";
import type { ProviderSession, ProviderStep, RepositoryFacts } from "../providers/types.ts";
import { type KubeClient } from "../kube/client.ts";
import type { RetryPolicy } from "../util/retry.ts";
import type { Limits } from "../util/limits.ts";

export interface RunOptions {
  concurrency: number;
  secrets: SecretSource;
  /** Progress messages per cluster (the printer redacts them): what it is doing now. */
  onEvent?(cluster: string, message: string): void;
  /** The cluster waits for its turn (another stage of the run begins, or its repository is done). */
  onQueued?(cluster: string): void;
  /** Secrets, kubeconfigs and the manifest's cross-cluster rules checked; nothing contacted yet. */
  onChecked?(): void;
  /** The cluster is finished in this stage; nothing more is done for it. */
  onEnd?(cluster: string, end: ClusterEnd): void;
  /**
   * Per-request timeout of git (HTTPS and SSH), the Kubernetes API, host key scans and provider APIs
   * (`--timeout`); unset, each keeps its own default (git 60 s, the others 20-30 s).
   */
  timeoutMs?: number;
  /**
   * Deadline of one cluster's work in one stage (`--cluster-timeout`): observing it, or applying
   * its steps; the health wait has its own bound (flux.timeout). Also bounds each repository's
   * fetch and push.
   */
  clusterTimeoutMs?: number;
  /** Aborted on Ctrl-C: no new step starts, steps in flight finish and are reported. */
  signal?: AbortSignal;
  /** Stop starting new work as soon as one cluster fails. */
  failFast?: boolean;
  /** Take over Flux CRDs that another tool manages. */
  force?: boolean;
  /** Clusters whose credentials are replaced on purpose (`--rotate NAME`). */
  rotate?: string[];
  /** Retries of transient faults (git and Kubernetes API). */
  retry?: RetryPolicy;
  /** How much is read from servers and archives (`--limit`); default DEFAULT_LIMITS. */
  limits?: Limits;
}

/** How a cluster ended a stage: one permanent line on the display. */
export interface ClusterEnd {
  status: "done" | "failed" | "skipped";
  /** "changed (8 steps)", "failed: …" */
  summary: string;
}

/** Thrown when a run is interrupted (Ctrl-C, --fail-fast) before `before` could start. */
export class InterruptedError extends Error {
  constructor(readonly before: string) {
    super(`interrupted before ${before}; re-run to continue`);
  }
}

export function checkInterrupted(signal: AbortSignal | undefined, before: string) {
  if (signal?.aborted) throw new InterruptedError(before);
}

export interface RepoGroup {
  key: string;
  url: string;
  branch: string;
  /** The first cluster using the repository: its credentials fetch and push. */
  owner: ClusterConfig;
  creds: Credentials;
  remote?: RepoRemote;
  /** SSH: the git server's host key, learnt when the remote was opened. */
  knownHosts?: KnownHosts;
  author: { name: string; email: string };
  appendix?: string;
  version: string;
  checkout?: RepoCheckout;
  error?: string;
  clusters: string[];
  /** How many of `clusters` have read their files from the checkout (its read cache goes after). */
  filesRead?: number;
  /** The provider's session for the repository (lib/providers), once opened. */
  session?: ProviderSession;
  /** What the provider observed of the repository (its URLs; whether it exists). */
  facts?: RepositoryFacts;
  /** The repository's own provider steps and warnings (shown on its first cluster). */
  providerPlan?: { steps: ProviderStep[]; warnings: string[] };
  /** Aborted when the repository's fetch or push ran out of time: no retry starts after it. */
  deadline?: AbortSignal;
}

export interface ClusterState {
  config: ClusterConfig;
  creds: Credentials;
  desired: DesiredCluster;
  repo: RepoGroup;
  client?: KubeClient;
  observed?: { repo: ObservedRepo; cluster: ObservedCluster };
  components: Components;
  /** The repository's kustomization.yaml is the user's own (patches): build it to install. */
  customKustomization?: boolean;
  /**
   * Generated-key mode: a key not known to be accepted, checked before the cluster is pointed at
   * it (unset once the repository accepts it).
   */
  keyCheck?: ClusterKey;
  /** Aborted when the cluster ran out of time in this stage: no retry starts after it. */
  deadline?: AbortSignal;
}

/** The cluster's generated SSH key (lib/apply/cluster_key.ts). */
export interface ClusterKey {
  identity: string;
  /** authorized_keys line, as shown to the user. */
  publicKey: string;
  fingerprint: string;
  /** known_hosts of the cluster's SSH host, for the check. */
  knownHosts: string;
}

export type { ClusterResult, DestroyResult } from "../plan/results.ts";
