/**
 * Orchestration for a whole manifest: resolve secrets (before any contact), observe repositories
 * and clusters with bounded concurrency, plan each cluster (pure), then apply: one commit per
 * repository, then the cluster steps, then the health wait.
 */
import { dirname } from "node:path";
import type { ClusterConfig, Manifest } from "../config/types.ts";
import { type Components, componentsFor, desiredCluster, installOptions } from "../plan/desired.ts";
import { type Credentials, resolveCredentials } from "./credentials.ts";
import type { ClusterPlan } from "../plan/types.ts";
import { type DestroyOptions, type DestroyPlan, planDestroy } from "../plan/destroy.ts";
import { emptyCheckout } from "../git/checkout.ts";
import type { CommitSigner } from "../git/sign.ts";
import { providerFor } from "../providers/registry.ts";
import {
  assertExecPluginsAllowed,
  registerKubeSecrets,
  resolveKubeContext,
} from "../kube/kubeconfig.ts";
import { ConfigError, describeField } from "../config/errors.ts";
import { repositoryKey } from "../git/url.ts";
import { sharedInstallationProblems } from "./targets.ts";
import { type FluxManifests, loadManifests } from "../manifests/source.ts";
import { buildReleaseComponents } from "../manifests/release.ts";
import { mapLimit } from "../util/pool.ts";
import { errorMessage } from "../util/redact.ts";
import {
  type ClusterEnd,
  type ClusterResult,
  type ClusterState,
  type DestroyResult,
  type RepoGroup,
  type RunOptions,
} from "./state.ts";
import { observeAndPlan, openGroupRemote } from "./observe.ts";
import { withDeadline } from "./deadline.ts";
import { applyFleet } from "./execute.ts";
import { destroyFleet } from "./destroy.ts";

export type { ClusterResult, DestroyResult, RunOptions };

export interface FleetRun {
  plans: ClusterPlan[];
  /** Carries out the plans just made (same observations, same clones). */
  apply(): Promise<ClusterResult[]>;
  /** Uninstall plans from the same observations. */
  destroyPlans(opts: DestroyOptions): DestroyPlan[];
  destroy(plans: DestroyPlan[]): Promise<DestroyResult[]>;
  /** Closes connections and removes the temporary clones. */
  close(): Promise<void>;
}

/** The repository's commit is signed by its first cluster's signer: the plan says how. */
function withSigning(plan: ClusterPlan, signer: CommitSigner | undefined): ClusterPlan {
  return signer
    ? { ...plan, repository: { ...plan.repository, signing: signer.description } }
    : plan;
}

/**
 * flux.manifests over plain http:// (allowed with flux.allowInsecureHttp) and not pinned: anyone
 * on the way could have changed what gets installed, so the plan says how to pin what came.
 */
function withSourceWarning(plan: ClusterPlan, c: ClusterConfig, m: FluxManifests): ClusterPlan {
  if (!/^http:\/\//i.test(c.flux.manifests) || c.flux.manifestsSha256) return plan;
  const pin = m.sha256 ? `flux.manifestsSha256: ${m.sha256}` : "flux.manifestsSha256";
  return {
    ...plan,
    warnings: [
      ...plan.warnings,
      `flux.manifests ${c.flux.manifests} was downloaded over plain http:// and is not pinned: check it, then pin it with ${pin}`,
    ],
  };
}

/** Flat provider settings of older manifests: they work, and the plan says where they belong. */
function withDeprecations(plan: ClusterPlan, c: ClusterConfig): ClusterPlan {
  const flat = c.git.provider.deprecated ?? [];
  const block = providerFor(c.git.provider.kind).block?.key;
  if (flat.length === 0 || !block) return plan;
  const list = flat.length === 1
    ? flat[0]
    : `${flat.slice(0, -1).join(", ")} and ${flat[flat.length - 1]}`;
  const verb = flat.length === 1 ? "is deprecated: write it" : "are deprecated: write them";
  return {
    ...plan,
    warnings: [...plan.warnings, `${list} ${verb} in git.${block} (they keep working for now)`],
  };
}

/**
 * What is checked before anything is contacted (also `validate --full`): every secret reference
 * resolved (a missing variable, unreadable file or wrong passphrase stops the run here), every
 * cluster's kubeconfig context found in its local kubeconfig files (and its credential plugin
 * allowed), and no two clusters on one API server and Flux namespace.
 */
export async function resolveLocal(
  manifest: Manifest,
  clusters: ClusterConfig[],
  secrets: RunOptions["secrets"],
): Promise<Map<string, Credentials>> {
  const baseDir = dirname(manifest.file);
  // Errors name the setting where the manifest writes it: file:line:col, cluster, field.
  const fieldOf = (c: ClusterConfig) => (field: string) =>
    describeField({ location: manifest.locate?.(c.name, field), cluster: c.name, field });
  const creds = new Map<string, Credentials>();
  for (const c of clusters) {
    creds.set(c.name, await resolveCredentials(c, baseDir, secrets, fieldOf(c)));
    // The kubeconfig and its context are local files: check them before any contact too.
    try {
      resolveKubeContext(c.kube);
      assertExecPluginsAllowed(c.kube);
      registerKubeSecrets(c.kube);
    } catch (e) {
      const where = describeField({ location: manifest.locate?.(c.name, "kube"), cluster: c.name });
      throw new Error(`${where}: ${(e as Error).message}`);
    }
  }
  // Two clusters on one API server and Flux namespace would fight over one installation.
  const shared = sharedInstallationProblems(manifest);
  if (shared.length > 0) throw new ConfigError(shared);
  return creds;
}

export async function planFleet(
  manifest: Manifest,
  clusters: ClusterConfig[],
  opts: RunOptions,
): Promise<FleetRun> {
  const creds = await resolveLocal(manifest, clusters, opts.secrets);
  // The local checks passed: from here on servers are contacted (progress starts showing).
  opts.onChecked?.();
  // Components are the same for every cluster with the same release and install options: the
  // source is read once, and a release archive is built with kubectl kustomize once per distinct
  // (source, options) — never per cluster. Both caches hold promises, so this stays true for
  // lookups that overlap.
  const sourceCache = new Map<string, Promise<FluxManifests>>();
  const sourceKey = (c: ClusterConfig) =>
    JSON.stringify([c.flux.manifests, c.flux.manifestsSha256 ?? null]);
  const componentsCache = new Map<string, Promise<Components>>();
  const components = (c: ClusterConfig): Promise<Components> => {
    const src = c.flux.manifests;
    const srcKey = sourceKey(c);
    if (!sourceCache.has(srcKey)) {
      sourceCache.set(
        srcKey,
        loadManifests({
          source: src,
          sha256: c.flux.manifestsSha256,
          retry: opts.retry,
          maxBytes: opts.limits?.manifests,
          allowInsecureHttp: c.flux.allowInsecureHttp,
        }).catch((e) => {
          // Said once, for the first cluster that needs it (the source is shared).
          throw new Error(`cluster "${c.name}": ${(e as Error).message}`);
        }),
      );
    }
    const options = installOptions(c);
    const key = JSON.stringify([srcKey, options]);
    if (!componentsCache.has(key)) {
      componentsCache.set(
        key,
        sourceCache.get(srcKey)!.then((m) =>
          m.kind === "install" ? componentsFor(m.text, options) : buildReleaseComponents(m, options)
        ),
      );
    }
    return componentsCache.get(key)!;
  };
  const states = new Map<string, ClusterState>();
  const groups = new Map<string, RepoGroup>();
  for (const c of clusters) {
    // One commit per repository, however its clusters spell its URL (lib/git/url.ts).
    const key = `${repositoryKey(c.git.url)}#${c.git.branch}`;
    let group = groups.get(key);
    if (!group) {
      group = {
        key,
        url: c.git.url,
        branch: c.git.branch,
        owner: c,
        creds: creds.get(c.name)!,
        author: c.git.author,
        appendix: c.git.commitMessageAppendix,
        version: c.flux.version,
        clusters: [],
      };
      groups.set(key, group);
    }
    group.clusters.push(c.name);
    // Secret data is filled in once the cluster and host keys are observed.
    const rotate = c.rotate || (opts.rotate ?? []).includes(c.name);
    const desired = {
      ...desiredCluster(c, await components(c), {}, creds.get(c.name)!.registry),
      force: opts.force,
      rotate,
    };
    states.set(c.name, {
      config: c,
      creds: creds.get(c.name)!,
      desired,
      repo: group,
      components: await components(c),
    });
  }

  const workspace = await Deno.makeTempDir({ prefix: "fluxfleet-" });
  const close = async () => {
    for (const s of states.values()) s.client?.close();
    for (const g of groups.values()) g.session?.close();
    for (const g of groups.values()) await g.remote?.close().catch(() => {});
    await Deno.remove(workspace, { recursive: true }).catch(() => {});
  };
  try {
    // One shallow fetch per repository, shared by every cluster that uses it.
    await mapLimit([...groups.values()], opts.concurrency, async (g, i) => {
      const tracker = { phase: `fetching ${g.url}` };
      for (const c of g.clusters) opts.onEvent?.(c, `fetching ${g.url} (${g.branch})`);
      try {
        await withDeadline(opts.clusterTimeoutMs, tracker, async (deadline) => {
          g.deadline = deadline;
          await fetchRepository(g, `${workspace}/repo-${i}`, opts);
        });
      } catch (e) {
        g.error = errorMessage(e);
      }
    });
    const plans = await mapLimit(
      [...states.values()],
      opts.concurrency,
      async (s) => {
        const plan = withDeprecations(
          withSourceWarning(
            withSigning(await observeAndPlan(s, opts), s.repo.creds.signer),
            s.config,
            await sourceCache.get(sourceKey(s.config))!,
          ),
          s.config,
        );
        opts.onEnd?.(s.config.name, planEnd(plan));
        return plan;
      },
    );
    return {
      plans,
      close,
      apply: () => applyFleet(plans, states, groups, opts),
      destroyPlans: (o) =>
        plans.map((p) => {
          const st = states.get(p.cluster)!;
          return p.error || !st.observed
            ? { cluster: p.cluster, steps: [], error: p.error ?? "not observed" }
            : planDestroy(st.desired, st.observed.repo, st.observed.cluster, o);
        }),
      destroy: (d) => destroyFleet(d, states, groups, opts),
    };
  } catch (e) {
    await close();
    throw e;
  }
}

/** How a cluster's plan ends on the progress display. */
function planEnd(plan: ClusterPlan): ClusterEnd {
  if (plan.error) return { status: "failed", summary: `failed: ${plan.error}` };
  const n = plan.steps.length;
  return { status: "done", summary: n === 0 ? "no changes" : `${n} change${n === 1 ? "" : "s"}` };
}

/** The provider's side first (the repository may not exist yet), then the shallow fetch. */
async function fetchRepository(g: RepoGroup, dir: string, opts: RunOptions): Promise<void> {
  const provider = g.owner.git.provider;
  g.session = providerFor(provider.kind).open(provider.settings, {
    token: g.creds.kind === "token" ? g.creds.token : "",
    allowInsecureHttp: g.owner.git.allowInsecureHttp,
    timeoutMs: opts.timeoutMs,
    attempts: opts.retry?.attempts,
  });
  g.facts = await g.session.observe();
  g.providerPlan = g.session.planRepository();
  if (!g.facts.exists) {
    // Created by apply before the first push; until then it is an empty repository.
    g.checkout = await emptyCheckout(dir, g.branch, g.facts.httpUrl ?? g.url);
    return;
  }
  if (g.facts.httpUrl) g.url = g.facts.httpUrl;
  g.remote = await openGroupRemote(g, opts);
  g.checkout = await g.remote.checkout(g.branch, dir);
}
