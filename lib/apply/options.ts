/** A run's options and the seams it reaches servers through. */
import type { ProviderConfig } from "../config/types.ts";
import type { SecretSource } from "../config/secrets.ts";
import {
  openRemote,
  type RemoteAccess,
  type RemoteOptions,
  type RepoRemote,
} from "../git/remote.ts";
import { createKubeClient, type KubeClient, type KubeClientOptions } from "../kube/client.ts";
import type { KubeTarget } from "../kube/kubeconfig.ts";
import { providerFor } from "../providers/registry.ts";
import type { ProviderSession, SessionAccess } from "../providers/types.ts";
import type { RetryPolicy } from "../util/retry.ts";
import type { Limits } from "../util/limits.ts";
import type { DesiredCluster } from "../plan/types.ts";

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
  /**
   * The run only plans (`fluxfleet plan`): nothing is applied or destroyed from it, so each
   * repository's checkout and connections, and each cluster's client, are released as soon as
   * they are planned (memory stays bounded by what is in flight, not by the fleet).
   */
  planOnly?: boolean;
  /** How much is read from servers and archives (`--limit`); default DEFAULT_LIMITS. */
  limits?: Limits;
  /**
   * Replaces the health wait after a cluster's steps (a rollout's gates, lib/rollout/run.ts);
   * throws when the cluster does not become healthy.
   */
  waitHealthy?(
    cluster: string,
    client: KubeClient,
    desired: DesiredCluster,
    revision: string | undefined,
    signal: AbortSignal,
  ): Promise<void>;
  /**
   * What reaches clusters, repositories and providers; the real ones by default. Tests give
   * their own (a client that records, a session of another sandbox) to run observe and apply in
   * process.
   */
  connect?: Partial<Connectors>;
}

/** The seams between a run and the servers it reaches. */
export interface Connectors {
  /** A cluster's Kubernetes client (lib/kube/client.ts). */
  kubeClient(target: KubeTarget, opts: KubeClientOptions): Promise<KubeClient>;
  /** A repository's git remote (lib/git/remote.ts). */
  openRemote(access: RemoteAccess, opts: RemoteOptions): RepoRemote;
  /** A repository's provider session (lib/providers, through the registry). */
  openProvider(provider: ProviderConfig, access: SessionAccess): ProviderSession;
}

export const DEFAULT_CONNECTORS: Connectors = {
  kubeClient: createKubeClient,
  openRemote,
  openProvider: (p, access) => providerFor(p.kind).open(p.settings, access),
};

export function connectors(opts: RunOptions): Connectors {
  return { ...DEFAULT_CONNECTORS, ...opts.connect };
}

/** How a cluster ended a stage: one permanent line on the display. */
export interface ClusterEnd {
  status: "done" | "failed" | "skipped";
  /** "changed (8 steps)", "failed: …" */
  summary: string;
}

/**
 * Thrown when a run is interrupted (Ctrl-C, --fail-fast) before `before` could start; a cluster
 * stopped so before any of its steps ran is reported as not started, not failed.
 */
export class InterruptedError extends Error {
  constructor(readonly before: string) {
    super(`interrupted before ${before}; re-run to continue`);
  }
}

export function checkInterrupted(signal: AbortSignal | undefined, before: string) {
  if (signal?.aborted) throw new InterruptedError(before);
}
