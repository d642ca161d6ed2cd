/**
 * Observe and plan one cluster: complete provider URLs, observe the cluster, compute the source
 * secret (host keys, generated keys), and run the pure planners.
 */
import type { ClusterConfig } from "../config/types.ts";
import { desiredCluster, sshSecretData, tokenSecretData } from "../plan/desired.ts";
import { type KnownHosts, learnHostKeys } from "./host_keys.ts";
import { openRemote, type RemoteAccess, type RepoRemote } from "../git/remote.ts";
import type { Credentials } from "./credentials.ts";
import { findHostKeys } from "../keys/known_hosts.ts";
import { parseSshUrl } from "../git/ssh_url.ts";
import { credentialPlugin } from "../kube/kubeconfig.ts";
import { planCluster } from "../plan/plan.ts";
import { observedDigest } from "../plan/digest.ts";
import type { ClusterPlan, ObservedCluster, ObservedRepo } from "../plan/types.ts";
import { forgetReadCache, readRepoFiles } from "../git/checkout.ts";
import type { RepoCheckout } from "../git/types.ts";
import { createKubeClient } from "../kube/client.ts";
import { observeCluster } from "../kube/observe.ts";
import { errorMessage } from "../util/redact.ts";
import { type ClusterKey, type ClusterState, type RepoGroup, type RunOptions } from "./state.ts";
import { checkClusterKey, readClusterKey } from "./cluster_key.ts";
import {
  accessKeyLabel,
  type ClusterKeyReport,
  describeClusterKey,
  generatedKeyKind,
  type KeyAcceptance,
} from "../plan/cluster_key.ts";
import { observedRetry, withDeadline } from "./deadline.ts";
import type { RetryPolicy } from "../util/retry.ts";

/**
 * How a repository's remote is opened: the run's per-request timeout, and its retries shown on
 * the lines of every cluster using the repository (none starts after the repository's deadline).
 */
export function remoteOptions(
  g: RepoGroup,
  opts: RunOptions,
): {
  timeoutMs: number;
  retry: RetryPolicy;
  deadline: () => AbortSignal | undefined;
  maxResponseBytes?: number;
} {
  return {
    timeoutMs: opts.timeoutMs ?? 60_000,
    maxResponseBytes: opts.limits?.gitPack,
    deadline: () => g.deadline,
    retry: observedRetry(opts.retry, (m) => {
      for (const c of g.clusters) opts.onEvent?.(c, m);
    }, () => g.deadline),
  };
}

/** The git-level access to a repository: its URL, the credentials, known hosts, transport, signer. */
export function remoteAccess(
  c: ClusterConfig,
  creds: Credentials,
  url: string,
  knownHosts: string | undefined,
): RemoteAccess {
  return {
    url,
    credentials: creds.kind === "token"
      ? {
        kind: "token",
        username: creds.username,
        token: creds.token,
        ...(creds.caPem ? { caPem: creds.caPem } : {}),
      }
      : { kind: "ssh", privateKey: creds.keyText, passphrase: creds.passphrase },
    knownHosts,
    hostKeyAlgorithms: c.git.hostKeyAlgorithms,
    transport: c.git.transport,
    allowInsecureHttp: c.git.allowInsecureHttp,
    signer: creds.signer,
  };
}

/**
 * Opens the repository's git remote (its owner's credentials); over SSH the server's host key is
 * learnt first, and kept: the cluster's known_hosts is the same.
 */
export async function openGroupRemote(g: RepoGroup, opts: RunOptions): Promise<RepoRemote> {
  const options = remoteOptions(g, opts);
  let known: KnownHosts | undefined;
  if (g.creds.kind === "ssh") {
    const target = parseSshUrl(g.url);
    known = await learnHostKeys(g.owner.git, target.host, target.port, options.timeoutMs);
    g.knownHosts = known;
  }
  return openRemote(remoteAccess(g.owner, g.creds, g.url, known?.text), options);
}

/** The cluster's own retries (Kubernetes API), shown on its line; none after its deadline. */
function clusterRetry(s: ClusterState, opts: RunOptions): RetryPolicy {
  return observedRetry(opts.retry, (m) => opts.onEvent?.(s.config.name, m), () => s.deadline);
}

/**
 * A provider with an API says where the repository is (its links, or their convention before the
 * repository exists): the cluster's config and desired state are completed with them.
 */
export function completeUrls(s: ClusterState): void {
  const facts = s.repo.facts;
  if (!facts?.httpUrl) return;
  const git = { ...s.config.git, url: facts.httpUrl };
  if (git.clusterSsh && facts.sshUrl && s.config.git.clusterSsh?.clusterUrl === undefined) {
    git.clusterSsh = { ...git.clusterSsh, clusterUrl: facts.sshUrl };
  }
  s.config = { ...s.config, git };
  const { data, generateAtApply } = s.desired.secret;
  const desired = desiredCluster(s.config, s.components, data, s.creds.registry);
  s.desired = {
    ...desired,
    secret: { ...desired.secret, ...(generateAtApply ? { generateAtApply } : {}) },
    force: s.desired.force,
    rotate: s.desired.rotate,
  };
}

/** Provider steps: the repository's own (on its first cluster), the cluster's access key. */
function withProviderSteps(s: ClusterState, plan: ClusterPlan): ClusterPlan {
  const session = s.repo.session;
  const repoPlan = s.repo.providerPlan;
  if (!session || !repoPlan) return plan;
  const first = s.repo.clusters[0] === s.config.name;
  const repoSteps = first ? repoPlan.steps : [];
  const generated = s.desired.secret.generateAtApply;
  // A key generated at apply is registered then: the plan cannot name it.
  const publicKey = generated ? null : s.desired.secret.data["identity.pub"];
  const keySteps = publicKey === undefined ? [] : session.planClusterAccess({
    label: accessKeyLabel(s.config.name, s.config.path, s.config.flux.namespace),
    publicKey,
    ...(generated ? { generatedKey: generated } : {}),
  });
  // The key is registered after the secret holds it and before the cluster is pointed at it.
  const firstSync = plan.steps.findIndex((st) => st.kind === "sync");
  const at = firstSync < 0 ? plan.steps.length : firstSync;
  const steps = [...repoSteps, ...plan.steps.slice(0, at), ...keySteps, ...plan.steps.slice(at)];
  return { ...plan, steps, warnings: [...(first ? repoPlan.warnings : []), ...plan.warnings] };
}

/** The kubeconfig was read before anything was contacted (planFleet): this cannot fail then. */
function kubeCredentials(s: ClusterState): Pick<ClusterPlan, "kubeCredentials"> {
  try {
    const plugin = credentialPlugin(s.config.kube);
    return plugin ? { kubeCredentials: plugin } : {};
  } catch {
    return {};
  }
}

export async function observeAndPlan(s: ClusterState, opts: RunOptions): Promise<ClusterPlan> {
  const credentials = kubeCredentials(s);
  const empty: ClusterPlan = {
    cluster: s.config.name,
    repository: { url: s.desired.repo.url, branch: s.desired.repo.branch, dir: s.desired.dir },
    steps: [],
    status: [],
    warnings: [],
    notes: [],
    ...credentials,
  };
  if (s.repo.error) return { ...empty, error: s.repo.error };
  // What the cluster is doing now: shown, and named if its deadline passes.
  const tracker = { phase: "observing" };
  const event = (message: string) => {
    tracker.phase = message;
    opts.onEvent?.(s.config.name, message);
  };
  try {
    const plan = await withDeadline(opts.clusterTimeoutMs, tracker, (deadline) => {
      s.deadline = deadline;
      return observeOnce(s, opts, event);
    });
    return { ...plan, ...credentials };
  } catch (e) {
    return { ...empty, error: errorMessage(e) };
  }
}

/** Where a branch that does not exist yet will start, as the plan says it. */
function newBranchNote(co: RepoCheckout): string {
  return co.startsFrom === null
    ? `branch ${co.branch} does not exist, and the remote's HEAD names no existing branch: apply starts it without history`
    : `branch ${co.branch} does not exist yet: apply creates it from ${co.startsFrom}`;
}

async function observeOnce(
  s: ClusterState,
  opts: RunOptions,
  event: (message: string) => void,
): Promise<ClusterPlan> {
  event("observing");
  completeUrls(s);
  s.client = await createKubeClient(s.config.kube, {
    retry: clusterRetry(s, opts),
    timeoutMs: opts.timeoutMs,
    deadline: () => s.deadline,
    maxResponseBytes: opts.limits?.kubeResponse,
  });
  const observedCluster = await observeCluster(s.client, s.desired);
  const notes: string[] = [];
  const source = await secretData(s, observedCluster, notes, opts);
  s.desired.secret.data = source.data;
  const co = s.repo.checkout!;
  const observedRepo: ObservedRepo = {
    branchExists: co.branchExists,
    head: co.head,
    files: await readRepoFiles(co, s.desired.files.map((f) => f.path)),
  };
  s.repo.filesRead = (s.repo.filesRead ?? 0) + 1;
  if (s.repo.filesRead === s.repo.clusters.length) forgetReadCache(co);
  if (!co.branchExists && co.startsFrom !== undefined) notes.push(newBranchNote(co));
  const kfile = s.desired.files.find((f) => f.onlyIfAbsent);
  const current = kfile ? observedRepo.files[kfile.path] : null;
  s.customKustomization = current !== null && current !== undefined && current !== kfile!.content;
  const planned = withProviderSteps(s, planCluster(s.desired, observedRepo, observedCluster));
  const plan = s.config.git.clusterSsh
    ? await withClusterKey(s, planned, source.key, opts.timeoutMs)
    : planned;
  if (s.customKustomization && plan.steps.some((st) => st.kind === "components")) {
    notes.push(
      "the repository has its own kustomization.yaml: the components are installed from its kubectl kustomize build (your patches apply)",
    );
  }
  const secretChanges = plan.steps.some((st) => st.kind === "secret");
  const digest = observedDigest(observedRepo, observedCluster);
  // After planning only the files' presence matters (destroy); dropping their contents keeps a
  // fleet plan from holding a copy of every cluster's gotk-components.yaml.
  const presence = Object.fromEntries(
    Object.entries(observedRepo.files).map(([path, text]) => [path, text === null ? null : ""]),
  );
  s.observed = { repo: { ...observedRepo, files: presence }, cluster: observedCluster };
  return {
    ...plan,
    // Host keys learnt by a scan are shown whenever they are about to be stored.
    notes: [
      ...(secretChanges ? notes : notes.filter((n) => !n.startsWith("known_hosts"))),
      ...(plan.notes ?? []),
    ],
    observed: digest,
  };
}

/**
 * The cluster's generated key in the plan, and whether apply must check it: a key generated at
 * apply is unknown; a key in the secret is shown with what the repository says of it — an SSH
 * handshake, or whether the provider's API lists it as an access key.
 */
async function withClusterKey(
  s: ClusterState,
  plan: ClusterPlan,
  key: ClusterKey | undefined,
  timeoutMs: number | undefined,
): Promise<ClusterPlan> {
  const registeredByApi = s.repo.session?.registersKeys === true;
  let report: ClusterKeyReport;
  if (!key) {
    report = describeClusterKey({
      generateAtApply: s.desired.secret.generateAtApply!,
      registeredByApi,
    });
  } else {
    const acceptance: KeyAcceptance = registeredByApi
      ? s.repo.session!.keyRegistered(key.publicKey)
        ? { accepted: true }
        : { accepted: false, reason: "not registered as a repository access key" }
      : await checkClusterKey(s, key, timeoutMs);
    // Apply checks again (the key may be added meanwhile) before pointing the cluster at it.
    if (!acceptance.accepted) s.keyCheck = key;
    report = describeClusterKey({
      existing: { publicKey: key.publicKey, fingerprint: key.fingerprint, acceptance },
      registeredByApi,
    });
  }
  return {
    ...plan,
    sshKey: report.sshKey,
    warnings: [...plan.warnings, ...report.warnings],
    notes: [...(plan.notes ?? []), ...report.notes],
  };
}

/**
 * The source secret's data for the cluster's auth mode (flux2 pkg/manifestgen/sourcesecret). In
 * generated-key mode, `key` is the key the secret holds; without one, the desired secret says the
 * key is generated at apply.
 */
async function secretData(
  s: ClusterState,
  observed: ObservedCluster,
  notes: string[],
  opts: RunOptions,
): Promise<{ data: Record<string, string>; key?: ClusterKey }> {
  const c = s.config;
  if (s.creds.kind === "token" && !c.git.clusterSsh) {
    return { data: tokenSecretData(s.creds.username, s.creds.token, s.creds.caPem) };
  }
  const url = c.git.clusterSsh?.clusterUrl ?? c.git.url;
  const target = parseSshUrl(url);
  const known = s.creds.kind === "ssh" && s.repo.knownHosts
    ? s.repo.knownHosts
    : await learnHostKeys(c.git, target.host, target.port, opts.timeoutMs);
  if (known.scanned) {
    const { name, key } = known.scanned;
    // After the first bootstrap the cluster's known_hosts pins the key: a different one now is
    // refused rather than silently trusted.
    const pinned = observed.secret?.known_hosts
      ? findHostKeys(observed.secret.known_hosts, target.host, target.port)
      : [];
    if (pinned.length > 0 && !pinned.some((k) => k.base64 === key.base64)) {
      throw new Error(
        `host key of ${name} changed: the cluster's known_hosts has ${
          pinned.map((k) => k.fingerprint).join(", ")
        }, ` +
          `the server now presents ${key.type} ${key.fingerprint}; if this is expected, pin the new key with git.knownHosts`,
      );
    }
    notes.push(
      `known_hosts for ${name} from a scan (trust on first use): ${key.type} ${key.fingerprint}; ` +
        "compare it with the server's published fingerprint, or pin it with git.knownHosts",
    );
  }
  if (s.creds.kind === "ssh") {
    return {
      data: sshSecretData(
        s.creds.keyText,
        s.creds.parsed.publicKey,
        known.text,
        s.creds.passphrase,
      ),
    };
  }
  // Generated-key mode: the key is made once, by apply, and kept in the cluster; `rotate`
  // replaces it. A plan never makes one: a key that does not exist is not shown.
  const identity = observed.secret?.identity;
  if (!identity || s.desired.rotate) {
    s.desired.secret.generateAtApply = generatedKeyKind(c.git.clusterSsh!.key);
    return { data: { known_hosts: known.text } };
  }
  const { namespace, name } = s.desired.secret;
  const key = readClusterKey(identity, known.text, `${namespace}/${name}`);
  // identity.pub is informational (flux stores it): kept as the secret has it when present.
  const publicKey = observed.secret?.["identity.pub"] ?? key.publicKey;
  return { data: sshSecretData(identity, publicKey, known.text), key };
}
