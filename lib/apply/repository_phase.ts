/**
 * Apply's repository phase, once per repository and branch before any cluster: the provider's
 * steps on the repository (create, visibility, grants), a repository created now adopted by its
 * branches (their payloads take its real URLs, the git remote is opened), one commit holding
 * every cluster's files, and the default branch set after the push.
 */
import type { PlannedCluster, RepositoryPlan } from "../plan/types.ts";
import { clusterRepoUrl, withRepositoryUrl } from "../plan/desired.ts";
import { checkInterrupted, type RunOptions } from "./options.ts";
import { keyTarget, withProviderUrls } from "./observe.ts";
import { type FleetSession, openRepoRemote, type RepoSession } from "./session.ts";
import type { PhaseTracker } from "./deadline.ts";
import { stepProgress } from "./step_progress.ts";

export interface RepoContext {
  signal: AbortSignal;
  tracker: PhaseTracker;
  planned: Map<string, PlannedCluster>;
  /** Clusters whose storage migration failed: their files stay out of the commit. */
  unmigrated: Map<string, string>;
}

/**
 * The provider's steps on the repository (create it, change visibility, grant groups); a
 * repository created now gets its real clone links: the clusters' payloads take its URLs and
 * the git remote is opened for the push.
 */
export async function applyProviderSteps(
  rp: RepositoryPlan,
  r: RepoSession,
  session: FleetSession,
  ctx: RepoContext,
  opts: RunOptions,
): Promise<void> {
  const steps = rp.providerSteps.filter((st) => !isDefaultBranch(st));
  if (steps.length === 0 || !r.provider) {
    return await adoptBranches(rp, r, session, ctx, opts);
  }
  const name = rp.name ?? rp.url;
  checkInterrupted(ctx.signal, `changing repository ${name}`);
  const first = rp.clusters[0];
  opts.onEvent?.(first, `reconciling repository ${name}`);
  const warn = (w: string) => opts.onEvent?.(first, `warning: ${w}`);
  for (const step of steps) {
    const facts = await r.provider.apply(step, { warn });
    if (facts) r.facts = facts;
  }
  await adoptBranches(rp, r, session, ctx, opts);
}

/**
 * A repository created at apply on another of its branches (the steward's, applied first): this
 * branch takes the repository as it was left, then is adopted as created.
 */
async function adoptBranches(
  rp: RepositoryPlan,
  r: RepoSession,
  session: FleetSession,
  ctx: RepoContext,
  opts: RunOptions,
): Promise<void> {
  if (r.remote) return;
  const lead = r.lead ?? r;
  const created = [lead, ...lead.followers].find((x) => x.facts?.exists);
  if (!r.facts?.exists && created) r.facts = created.facts;
  if (!r.facts?.exists && rp.commit && rp.steward) {
    throw new Error(
      `repository ${rp.name ?? rp.url} does not exist: it was to be created with branch ${
        session.repos.find((x) => x.key === rp.steward)?.branch
      }, which did not get that far`,
    );
  }
  await adoptCreated(rp, r, session, ctx, opts);
}

/**
 * A repository created now gets its real clone links: the clusters' payloads take its URLs and
 * the git remote is opened for the push.
 */
async function adoptCreated(
  rp: RepositoryPlan,
  r: RepoSession,
  session: FleetSession,
  ctx: RepoContext,
  opts: RunOptions,
): Promise<void> {
  if (r.remote || !r.facts?.exists) return;
  if (r.facts.httpUrl) r.url = r.facts.httpUrl;
  for (const c of rp.clusters) {
    const p = ctx.planned.get(c)!;
    if (!p.desired) continue;
    const config = withProviderUrls(session.clusters.get(c)!.config, r.facts);
    ctx.planned.set(c, {
      ...p,
      desired: withRepositoryUrl(p.desired, config.git.url, clusterRepoUrl(config)),
      ...(p.keyTarget ? { keyTarget: keyTarget(config) } : {}),
    });
  }
  r.remote = await openRepoRemote(r, session.connect, opts);
  await r.remote.adopt(r.checkout!);
}

function isDefaultBranch(step: RepositoryPlan["providerSteps"][number]): boolean {
  return step.kind === "repository" && step.action === "defaultBranch";
}

/**
 * The default branch is set after the commit: the API refuses a branch that does not exist yet
 * (GitHub answers 422), and this run's push may be what creates it.
 */
export async function applyDefaultBranch(
  rp: RepositoryPlan,
  r: RepoSession,
  ctx: RepoContext,
  opts: RunOptions,
): Promise<void> {
  const steps = rp.providerSteps.filter(isDefaultBranch);
  if (steps.length === 0 || !r.provider) return;
  checkInterrupted(ctx.signal, `changing repository ${rp.name ?? rp.url}`);
  const first = rp.clusters[0];
  for (const step of steps) {
    opts.onEvent?.(first, stepProgress(step));
    await r.provider.apply(step, { warn: (w) => opts.onEvent?.(first, `warning: ${w}`) });
  }
}

/** One commit with the files of every cluster of the repository that has file steps. */
export async function commit(
  rp: RepositoryPlan,
  r: RepoSession,
  ctx: RepoContext,
  opts: RunOptions,
): Promise<void> {
  const clusters = rp.commit?.clusters.filter((c) => !ctx.unmigrated.has(c)) ?? [];
  if (!rp.commit || !r.checkout || clusters.length === 0) return;
  const changes = clusters.flatMap((c) => {
    const files = ctx.planned.get(c)!.desired!.files;
    return ctx.planned.get(c)!.plan.steps.flatMap((st) =>
      st.kind === "file"
        ? files.filter((f) => f.path === st.path).map(({ path, content }) => ({ path, content }))
        : []
    );
  });
  checkInterrupted(ctx.signal, `pushing to ${r.url}`);
  ctx.tracker.phase = `pushing to ${r.url}`;
  for (const c of clusters) opts.onEvent?.(c, `pushing to ${r.url} (${r.branch})`);
  await r.remote!.push(r.checkout, changes, rp.commit.message, rp.commit.author);
}
