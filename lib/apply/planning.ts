/**
 * From what was observed to the plan, once: each cluster's desired state is built once and planned
 * once (the pure planners, with the provider's steps among them), and each repository gets its
 * provider steps and one commit. The result is data (lib/plan/types.ts FleetPlan): apply carries
 * it out as it is.
 */
import type { ClusterConfig } from "../config/types.ts";
import { clusterTargets, desiredCluster, desiredFilePaths } from "../plan/desired.ts";
import { planCluster as planDesired, type ProviderSteps } from "../plan/plan.ts";
import { observedDigest } from "../plan/digest.ts";
import { accessKeyLabel, describeClusterKey } from "../plan/cluster_key.ts";
import type {
  ClusterPlan,
  DesiredCluster,
  ObservedCluster,
  PlannedCluster,
  RepositoryPlan,
} from "../plan/types.ts";
import type { FluxManifests } from "../manifests/source.ts";
import { credentialPlugin } from "../kube/kubeconfig.ts";
import { providerFor } from "../providers/registry.ts";
import { errorMessage } from "../util/redact.ts";
import { plural } from "../util/words.ts";
import type { ComponentsSource } from "./components.ts";
import { withDeadline } from "./deadline.ts";
import type { RunOptions } from "./options.ts";
import {
  type ClusterObservation,
  keyTarget,
  observeClusterApi,
  observeClusterRepo,
} from "./observe.ts";
import {
  type ClusterSession,
  type FleetSession,
  repositoryObserved,
  repositorySteward,
} from "./session.ts";

/** The kubeconfig was read before anything was contacted (resolveLocal): this cannot fail then. */
function kubeCredentials(c: ClusterConfig): Pick<ClusterPlan, "kubeCredentials"> {
  try {
    const plugin = credentialPlugin(c.kube);
    return plugin ? { kubeCredentials: plugin } : {};
  } catch {
    return {};
  }
}

/** What a cluster's API showed (or why it could not be read), and how long that took. */
export interface ClusterApiRead {
  cluster?: ObservedCluster;
  error?: string;
  spent: number;
}

/**
 * The first half of observing a cluster: its API, which needs nothing from git. null when its
 * repository already failed (the cluster is not contacted then).
 */
export async function readClusterApi(
  s: ClusterSession,
  session: FleetSession,
  opts: RunOptions,
): Promise<ClusterApiRead | null> {
  if (s.repo.error) return null;
  const c = s.config;
  // What the cluster is doing now: shown, and named if its deadline passes.
  const tracker = { phase: "observing" };
  opts.onEvent?.(c.name, "observing");
  const started = performance.now();
  try {
    const cluster = await withDeadline(opts.clusterTimeoutMs, tracker, (deadline) => {
      s.deadline = deadline;
      return observeClusterApi(s, clusterTargets(c), session.connect, opts);
    });
    return { cluster, spent: performance.now() - started };
  } catch (e) {
    return { error: errorMessage(e), spent: performance.now() - started };
  }
}

/**
 * Plans one cluster from its API read (`readClusterApi`) once its repository is observed; a
 * cluster that cannot be observed gets an error plan.
 */
export async function planCluster(
  s: ClusterSession,
  components: ComponentsSource,
  opts: RunOptions,
  apiRead: ClusterApiRead | null,
): Promise<PlannedCluster> {
  const c = s.config;
  const credentials = kubeCredentials(c);
  const failed = (error: string): PlannedCluster => ({
    plan: {
      cluster: c.name,
      repository: { url: c.git.url, branch: c.git.branch, dir: `${c.path}/${c.flux.namespace}` },
      steps: [],
      status: [],
      warnings: [],
      notes: [],
      ...credentials,
      error,
    },
    repository: s.repo.key,
    customKustomization: false,
  });
  if (s.repo.error || apiRead === null) return failed(s.repo.error ?? "its repository failed");
  const tracker = { phase: "observing" };
  const rotate = c.rotate || (opts.rotate ?? []).includes(c.name);
  const targets = clusterTargets(c);
  const { cluster, error: clusterError, spent } = apiRead;
  // The wait for the repository is the repository's time (it has its own deadline), not the
  // cluster's: the cluster's deadline covers its own work only.
  if (!s.repo.checkout && !s.repo.error) opts.onEvent?.(c.name, `waiting for ${s.repo.url}`);
  await s.repo.observed;
  // A repository that cannot be observed fails its clusters whatever their APIs answered, so
  // the plan does not depend on which side finished first.
  if (s.repo.error) return failed(s.repo.error);
  if (clusterError !== undefined) return failed(clusterError);
  // Which branch carries the repository's own steps is known once all its branches are observed.
  await repositoryObserved(s.repo);
  const remaining = opts.clusterTimeoutMs === undefined
    ? undefined
    : Math.max(1, opts.clusterTimeoutMs - spent);
  try {
    const planned = await withDeadline(remaining, tracker, async (deadline) => {
      s.deadline = deadline;
      const obs = await observeClusterRepo(s, cluster!, targets, desiredFilePaths(c), rotate, opts);
      return fromObservation(s, obs, await components.components(c), rotate, opts);
    });
    return { ...planned, plan: { ...planned.plan, ...credentials } };
  } catch (e) {
    return failed(errorMessage(e));
  }
}

/** The desired state, built once, and the plan from it. Pure but for the provider's planning. */
function fromObservation(
  s: ClusterSession,
  obs: ClusterObservation,
  components: Awaited<ReturnType<ComponentsSource["components"]>>,
  rotate: boolean,
  opts: RunOptions,
): PlannedCluster {
  const c = obs.config;
  const built = desiredCluster(c, components, obs.secretData, s.creds.registry);
  const desired: DesiredCluster = {
    ...built,
    secret: {
      ...built.secret,
      ...(obs.generateAtApply ? { generateAtApply: obs.generateAtApply } : {}),
      ...(obs.issueAtApply ? { issueAtApply: obs.issueAtApply } : {}),
    },
    force: opts.force,
    rotate,
  };
  const kfile = desired.files.find((f) => f.onlyIfAbsent);
  const current = kfile ? obs.repo.files[kfile.path] : null;
  const customKustomization = current !== null && current !== undefined &&
    current !== kfile!.content;
  let plan = planDesired(desired, obs.repo, obs.cluster, providerSteps(s, desired));
  const generated = c.git.clusterSsh !== undefined;
  if (generated) {
    const registeredByApi = s.repo.provider?.registersKeys === true;
    const report = obs.key
      ? describeClusterKey({
        existing: {
          publicKey: obs.key.publicKey,
          fingerprint: obs.key.fingerprint,
          acceptance: obs.acceptance!,
        },
        registeredByApi,
      })
      : describeClusterKey({ generateAtApply: obs.generateAtApply!, registeredByApi });
    plan = {
      ...plan,
      sshKey: report.sshKey,
      warnings: [...plan.warnings, ...report.warnings],
      notes: [...(plan.notes ?? []), ...report.notes],
    };
  }
  const notes: string[] = [];
  // Host keys learnt by a scan are shown whenever they are about to be stored.
  if (obs.scanNote && plan.steps.some((st) => st.kind === "secret")) notes.push(obs.scanNote);
  if (obs.branchNote) notes.push(obs.branchNote);
  if (customKustomization && plan.steps.some((st) => st.kind === "components")) {
    notes.push(
      "the repository has its own kustomization.yaml: the components are installed from its kubectl kustomize build (your patches apply)",
    );
  }
  // After planning only the files' presence matters (destroy); dropping their contents keeps a
  // fleet plan from holding a copy of every cluster's gotk-components.yaml.
  const presence = Object.fromEntries(
    Object.entries(obs.repo.files).map(([path, text]) => [path, text === null ? null : ""]),
  );
  const key = c.git.clusterSsh?.key;
  return {
    plan: {
      ...plan,
      notes: [...notes, ...(plan.notes ?? [])],
      observed: observedDigest(obs.repo, obs.cluster),
    },
    repository: s.repo.key,
    desired,
    ...(obs.generateAtApply && key ? { generateKey: key } : {}),
    ...(obs.key && obs.acceptance && !obs.acceptance.accepted ? { keyCheck: obs.key } : {}),
    ...(generated ? { keyTarget: keyTarget(c) } : {}),
    customKustomization,
    observed: { repo: { ...obs.repo, files: presence }, cluster: obs.cluster },
  };
}

/** What the repository's provider plans for this cluster: its repository's steps (on the first). */
function providerSteps(s: ClusterSession, desired: DesiredCluster): ProviderSteps | undefined {
  const provider = s.repo.provider;
  if (!provider) return undefined;
  // Once per repository, whatever branches its clusters sync: on the steward's first cluster.
  const first = s.repo.clusters[0] === s.config.name && repositorySteward(s.repo) === s.repo;
  const repo = first ? provider.planRepository() : { steps: [], warnings: [] };
  const generated = desired.secret.generateAtApply;
  // A key generated at apply is registered then: the plan cannot name it.
  const publicKey = generated ? null : desired.secret.data["identity.pub"];
  const access = publicKey === undefined ? [] : provider.planClusterAccess({
    label: accessKeyLabel(s.config.name, s.config.path, s.config.flux.namespace),
    publicKey,
    ...(generated ? { generatedKey: generated } : {}),
  });
  return { repository: repo.steps, access, warnings: repo.warnings };
}

/** The message of the commit holding these clusters' files (a rollout commits each wave alone). */
export function commitMessage(owner: ClusterConfig, clusters: string[]): string {
  const message = `Add Flux ${owner.flux.version} manifests for ${
    clusters.length === 1 ? "cluster" : "clusters"
  } ${clusters.join(", ")}`;
  return owner.git.commitMessageAppendix
    ? `${message}\n\n${owner.git.commitMessageAppendix}`
    : message;
}

/**
 * Each repository's part: its provider steps (on its first cluster; for a repository synced on
 * several branches, on its steward's only) and one commit.
 */
export function planRepositories(
  session: FleetSession,
  planned: PlannedCluster[],
): RepositoryPlan[] {
  const byName = new Map(planned.map((p) => [p.plan.cluster, p]));
  return session.repos.map((r) => {
    const members = r.clusters.map((c) => byName.get(c)!).filter((p) => !p.plan.error);
    const changing = members.filter((p) => p.plan.steps.some((st) => st.kind === "file"))
      .map((p) => p.plan.cluster);
    const owner = r.owner;
    const message = commitMessage(owner, changing);
    const steward = repositorySteward(r);
    return {
      key: r.key,
      url: r.url,
      branch: r.branch,
      clusters: r.clusters,
      ...(steward && steward !== r ? { steward: steward.key } : {}),
      ...(owner.git.provider.name ? { name: owner.git.provider.name } : {}),
      providerSteps: members.flatMap((p) =>
        p.plan.steps.filter((st) => st.kind === "repository" || st.kind === "group")
      ) as RepositoryPlan["providerSteps"],
      ...(changing.length > 0
        ? { commit: { message, author: owner.git.author, clusters: changing } }
        : {}),
      ...(r.error ? { error: r.error } : {}),
    };
  });
}

/** The repository's commit is signed by its first cluster's signer: the plan says how. */
export function withSigning(planned: PlannedCluster, s: ClusterSession): PlannedCluster {
  const signer = s.repo.creds.signer;
  if (!signer) return planned;
  const plan = planned.plan;
  return {
    ...planned,
    plan: { ...plan, repository: { ...plan.repository, signing: signer.description } },
  };
}

/**
 * flux.manifests over plain http:// (allowed with flux.allowInsecureHttp) and not pinned: anyone
 * on the way could have changed what gets installed, so the plan says how to pin what came.
 */
export function withSourceWarning(
  planned: PlannedCluster,
  c: ClusterConfig,
  m: FluxManifests,
): PlannedCluster {
  if (!/^http:\/\//i.test(c.flux.manifests) || c.flux.manifestsSha256) return planned;
  const pin = m.sha256 ? `flux.manifestsSha256: ${m.sha256}` : "flux.manifestsSha256";
  return withWarning(
    planned,
    `flux.manifests ${c.flux.manifests} was downloaded over plain http:// and is not pinned: check it, then pin it with ${pin}`,
  );
}

/** Flat provider settings of older manifests: they work, and the plan says where they belong. */
export function withDeprecations(planned: PlannedCluster, c: ClusterConfig): PlannedCluster {
  const flat = c.git.provider.deprecated ?? [];
  const block = providerFor(c.git.provider.kind).block?.key;
  if (flat.length === 0 || !block) return planned;
  const list = flat.length === 1
    ? flat[0]
    : `${flat.slice(0, -1).join(", ")} and ${flat[flat.length - 1]}`;
  const verb = flat.length === 1 ? "is deprecated: write it" : "are deprecated: write them";
  return withWarning(planned, `${list} ${verb} in git.${block} (they keep working for now)`);
}

function withWarning(planned: PlannedCluster, warning: string): PlannedCluster {
  return { ...planned, plan: { ...planned.plan, warnings: [...planned.plan.warnings, warning] } };
}

/** How a cluster's plan ends on the progress display. */
export function planEnd(plan: ClusterPlan): { status: "done" | "failed"; summary: string } {
  if (plan.error) return { status: "failed", summary: `failed: ${plan.error}` };
  const n = plan.steps.length;
  return { status: "done", summary: n === 0 ? "no changes" : plural(n, "change") };
}
