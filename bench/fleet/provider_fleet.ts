/**
 * The bench fleet on hosted providers (`--provider github,gitea,gitlab`): the smallest size's
 * layout (clusters/repositories) built once more on each provider's API sandbox, each with Kubernetes
 * sandboxes of its own. Bootstrapped by an untimed apply, then for the fleet without teams and
 * again with a team granted on every repository:
 *   - rounds of no-op plans: the generic fleet, then each provider's, so their wall times share the
 *     machine's load; the API requests of each run as its sandbox counted them;
 *   - one no-op plan of a fleet of one cluster per repository (the same repositories): the requests
 *     a further cluster adds, (full − one per repository) ÷ (clusters − repositories);
 *   - a second `apply --auto-approve`: its API requests (0 mutating), Kubernetes writes, and
 *     whether any repository's main branch moved.
 */
import { writeKubeconfig } from "../../sandbox/kube/kubeconfig.ts";
import { applyArgs, cli, planArgs } from "./cli.ts";
import { log } from "./log.ts";
import { type CallCounts, callCounts, callsKey, describeCalls } from "./provider_calls.ts";
import { type HostedKind, type ProviderSite, startProviderSite } from "./provider_sites.ts";
import { loadAverage, requireOk } from "./proc.ts";
import type { RunFigures } from "./noop.ts";
import { secs, secsSpread, type Spread, spread } from "./stats.ts";
import { clusterName, type Fleet, fleetManifest, repoName, type World } from "./world.ts";

export interface SecondApply {
  ms: number;
  calls: CallCounts;
  /** POST/PUT/PATCH/DELETE the clusters' API servers received. */
  kubeWrites: number;
  /** Repositories whose main branch moved. */
  commits: number;
  /** Connections to the site's sshd (host-key scans): the clusters read over SSH. */
  sshConnections: number;
  /** The CLI's "Apply: …" line. */
  summary: string;
}

export interface PhaseFigures {
  teams: boolean;
  runs: RunFigures[];
  wall: Spread;
  /** The generic fleet's no-op plans of the same rounds. */
  genericWall: Spread;
  /** This median ÷ the generic median. */
  ratio: number;
  /** Requests of the last timed plan; whether every plan (warm-up included) asked the same. */
  calls: CallCounts;
  /** Connections the site's sshd accepted during the last timed plan (host-key scans). */
  sshConnections: number;
  sameCallsEveryRun: boolean;
  /** Requests of a no-op plan of one cluster per repository. */
  oneClusterPerRepo?: CallCounts;
  /** What each cluster beyond the first of its repository adds. */
  marginalPerCluster?: number;
  secondApply: SecondApply;
}

export interface ProviderFigures {
  provider: HostedKind;
  clusters: number;
  repos: number;
  /** Untimed applies that built the fleet (and granted the team). */
  setup: { label: string; ms: number; calls: CallCounts }[];
  phases: PhaseFigures[];
}

interface ProviderFleet {
  site: ProviderSite;
  fleet: Fleet;
  /** One cluster per repository (the first of each), the same repositories. */
  firsts: Fleet;
  repos: string[];
}

function manifestText(
  site: ProviderSite,
  label: string,
  members: number[],
  repoOf: (i: number) => number,
  teams: boolean,
): string {
  return fleetManifest(
    label,
    members,
    site.gitLines(teams),
    (i) => `\n      ${site.clusterGit(repoName(repoOf(i)))}`,
  );
}

async function writeManifests(p: ProviderFleet, teams: boolean): Promise<void> {
  for (const f of [p.fleet, p.firsts]) {
    await Deno.writeTextFile(
      f.manifest,
      manifestText(p.site, p.fleet.label, f.members, f.repoOf, teams),
    );
  }
}

/** Kubernetes sandboxes [offset, offset + clusters) for the provider's fleet; manifests without teams. */
async function buildFleet(
  world: World,
  kind: HostedKind,
  offset: number,
  clusters: number,
  perRepo: number,
): Promise<ProviderFleet> {
  const site = await startProviderSite(kind, world.env.token);
  const members = Array.from({ length: clusters }, (_, k) => offset + k);
  await world.ensureSandboxes(offset + clusters);
  const label = kind;
  const kubeconfig = `${world.env.work}/kubeconfig-${label}`;
  await writeKubeconfig(
    kubeconfig,
    members.map((i) => ({ context: clusterName(i), sandbox: world.sandboxes[i] })),
  );
  const repoOf = (i: number) => Math.floor((i - offset) / perRepo);
  const fleet: Fleet = {
    label,
    members,
    repoOf,
    manifest: `${world.env.work}/fleet-${label}.yaml`,
    kubeconfig,
  };
  const firsts: Fleet = {
    ...fleet,
    label: `${label}-firsts`,
    members: members.filter((i) => (i - offset) % perRepo === 0),
    manifest: `${world.env.work}/fleet-${label}-firsts.yaml`,
  };
  const repos = [...new Set(members.map(repoOf))].map(repoName);
  const p = { site, fleet, firsts, repos };
  await writeManifests(p, false);
  return p;
}

/** A CLI run, the API requests its sandbox answered and the SSH connections meanwhile. */
async function counted(
  world: World,
  p: ProviderFleet,
  args: string[],
  what: string,
  traceRss = false,
) {
  const before = p.site.calls().length;
  const sshBefore = p.site.sshConnections();
  const r = await cli(world.env, args, { traceRss });
  requireOk(r, `${what} (${p.site.kind})`);
  // sshd logs a connection when it accepts it; its log pipe may still be on the way.
  await new Promise((res) => setTimeout(res, 200));
  return {
    r,
    calls: p.site.calls().slice(before),
    ssh: p.site.sshConnections() - sshBefore,
  };
}

async function setupApply(
  world: World,
  p: ProviderFleet,
  label: string,
  concurrency: number,
): Promise<ProviderFigures["setup"][number]> {
  const { r, calls } = await counted(world, p, applyArgs(p.fleet, concurrency), label);
  const c = callCounts(p.site, calls, p.repos, p.fleet.members.length);
  log(`  ${p.site.kind}: ${label} ${secs(r.ms)}; API ${describeCalls(c)}`);
  return { label, ms: r.ms, calls: c };
}

async function secondApply(
  world: World,
  p: ProviderFleet,
  concurrency: number,
): Promise<SecondApply> {
  const heads = await p.site.heads(p.repos);
  world.resetRequests(p.fleet);
  const { r, calls, ssh } = await counted(
    world,
    p,
    applyArgs(p.fleet, concurrency),
    "second apply",
  );
  const after = await p.site.heads(p.repos);
  return {
    ms: r.ms,
    calls: callCounts(p.site, calls, p.repos, p.fleet.members.length),
    kubeWrites: p.fleet.members.reduce(
      (n, i) => n + world.sandboxes[i].mutatingRequests().length,
      0,
    ),
    commits: after.filter((h, k) => h !== heads[k]).length,
    sshConnections: ssh,
    summary: r.stdout.split("\n").find((l) => l.startsWith("Apply:")) ?? "(no Apply: line)",
  };
}

async function phase(
  world: World,
  generic: Fleet,
  fleets: ProviderFleet[],
  opts: { rounds: number; concurrency: number; teams: boolean },
): Promise<PhaseFigures[]> {
  const n = opts.concurrency;
  log(`provider no-op plans ${opts.teams ? "with" : "without"} teams, ${opts.rounds} rounds`);
  // Warm-up (Deno's code cache of the provider modules); its requests are compared with the rest.
  const warm = [];
  for (const p of fleets) {
    const { calls } = await counted(world, p, planArgs(p.fleet, n), "warm-up no-op plan");
    warm.push(callCounts(p.site, calls, p.repos, p.fleet.members.length));
  }
  const genericRuns: number[] = [];
  const runs: RunFigures[][] = fleets.map(() => []);
  const last: CallCounts[] = [...warm];
  const same = fleets.map(() => true);
  const ssh = fleets.map(() => 0);
  for (let k = 0; k < opts.rounds; k++) {
    const gl = await loadAverage();
    const g = await cli(world.env, planArgs(generic, n));
    requireOk(g, "generic no-op plan");
    genericRuns.push(g.ms);
    let line = `  round ${k + 1}/${opts.rounds} (load ${gl}): generic ${secs(g.ms)}`;
    for (const [j, p] of fleets.entries()) {
      const load = await loadAverage();
      const { r, calls, ssh: s } = await counted(
        world,
        p,
        planArgs(p.fleet, n),
        "no-op plan",
        true,
      );
      ssh[j] = s;
      runs[j].push({
        ms: r.ms,
        maxRssKb: r.maxRssKb ?? NaN,
        cpuS: (r.userS ?? 0) + (r.sysS ?? 0),
        load,
      });
      last[j] = callCounts(p.site, calls, p.repos, p.fleet.members.length);
      if (callsKey(last[j]) !== callsKey(warm[j])) same[j] = false;
      line += `; ${p.site.kind} ${secs(r.ms)} (${last[j].total} API)`;
    }
    log(line);
  }
  const genericWall = spread(genericRuns);
  const out: PhaseFigures[] = [];
  for (const [j, p] of fleets.entries()) {
    const wall = spread(runs[j].map((r) => r.ms));
    const f: PhaseFigures = {
      teams: opts.teams,
      runs: runs[j],
      wall,
      genericWall,
      ratio: wall.median / genericWall.median,
      calls: last[j],
      sshConnections: ssh[j],
      sameCallsEveryRun: same[j],
      secondApply: undefined as unknown as SecondApply,
    };
    const clusters = p.fleet.members.length;
    if (p.firsts.members.length < clusters) {
      const { calls } = await counted(world, p, planArgs(p.firsts, n), "one-per-repository plan");
      f.oneClusterPerRepo = callCounts(p.site, calls, p.repos, p.firsts.members.length);
      f.marginalPerCluster = (f.calls.total - f.oneClusterPerRepo.total) /
        (clusters - p.firsts.members.length);
    }
    f.secondApply = await secondApply(world, p, n);
    log(
      `  ${p.site.kind}${opts.teams ? " with teams" : ""}: no-op plan ${secsSpread(wall)} = ${
        f.ratio.toFixed(2)
      }× generic; API ${describeCalls(f.calls)}; ${
        f.marginalPerCluster?.toFixed(2) ?? "–"
      } more a further cluster; ${f.sshConnections} SSH connections; second apply ${
        secs(f.secondApply.ms)
      }: API ${
        describeCalls(f.secondApply.calls)
      }, ${f.secondApply.kubeWrites} Kubernetes writes, ${f.secondApply.commits} commits`,
    );
    out.push(f);
  }
  return out;
}

/**
 * Builds each provider's fleet (the layout of `generic`) on Kubernetes sandboxes from `offset`
 * on, and measures it without and with teams. The sites are closed at the end.
 */
export async function providerFleets(
  world: World,
  generic: Fleet,
  opts: {
    kinds: HostedKind[];
    offset: number;
    rounds: number;
    concurrency: number;
    setupConcurrency: number;
  },
): Promise<ProviderFigures[]> {
  const clusters = generic.members.length;
  const fleets: ProviderFleet[] = [];
  const figures: ProviderFigures[] = [];
  try {
    for (const [k, kind] of opts.kinds.entries()) {
      log(`${kind}: ${clusters} clusters over ${clusters / world.perRepo} repositories`);
      const p = await buildFleet(world, kind, opts.offset + k * clusters, clusters, world.perRepo);
      fleets.push(p);
      figures.push({
        provider: kind,
        clusters,
        repos: p.repos.length,
        setup: [await setupApply(world, p, `apply ${clusters}`, opts.setupConcurrency)],
        phases: [],
      });
    }
    const o = { rounds: opts.rounds, concurrency: opts.concurrency };
    for (const [j, f] of (await phase(world, generic, fleets, { ...o, teams: false })).entries()) {
      figures[j].phases.push(f);
    }
    for (const [j, p] of fleets.entries()) {
      await writeManifests(p, true);
      figures[j].setup.push(
        await setupApply(world, p, "apply granting the team", opts.setupConcurrency),
      );
    }
    for (const [j, f] of (await phase(world, generic, fleets, { ...o, teams: true })).entries()) {
      figures[j].phases.push(f);
    }
  } finally {
    for (const p of fleets) await p.site.close();
  }
  return figures;
}
