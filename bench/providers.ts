/**
 * API calls of a no-op plan on each hosted provider (issue 17's target: ≤ 2 provider API calls per
 * repository, one deploy-key listing per repository shared by its clusters). Builds a fleet of
 * `--clusters` clusters over `--repos` repositories in the GitHub and Gitea sandboxes (each
 * cluster its own deploy key), then plans it again `--runs` times as a run does — one provider
 * session per repository: observe, plan the repository, plan every cluster's key — counting the
 * requests the sandbox received and timing the provider side. With `--teams` every repository
 * also has a team grant (one more listing per repository).
 *
 *   deno run -A bench/providers.ts [--clusters 100] [--repos 10] [--runs 5] [--teams]
 *
 * tests/integration/forge_fleet_test.ts checks the same count through a whole run (planFleet).
 */
import { parseArgs } from "node:util";
import { fakeKey } from "../tests/helpers/forge_git.ts";
import { type ForgeEnv, type ForgeKind, startForge } from "../tests/helpers/forge.ts";
import type { ProviderSession } from "../lib/providers/types.ts";

const { values } = parseArgs({
  options: {
    clusters: { type: "string", default: "100" },
    repos: { type: "string", default: "10" },
    runs: { type: "string", default: "5" },
    teams: { type: "boolean", default: false },
  },
});
const clusters = Number(values.clusters);
const repos = Number(values.repos);
const runs = Number(values.runs);

function label(cluster: string): string {
  return `fluxfleet-${cluster}-clusters-${cluster}-flux-system`;
}

async function apply(
  s: ProviderSession,
  steps: Parameters<ProviderSession["apply"]>[0][],
  key?: string,
) {
  for (const step of steps) await s.apply(step, { publicKey: key, warn: () => {} });
}

/** The fleet's clusters by repository: cluster i lives in repository i mod repos. */
function layout(): Map<string, string[]> {
  const byRepo = new Map<string, string[]>();
  for (let i = 0; i < clusters; i++) {
    const repo = `fleet-${i % repos}`;
    byRepo.set(repo, [...byRepo.get(repo) ?? [], `c${i}`]);
  }
  return byRepo;
}

/** One pass over the fleet as a run makes it; applies what is planned (nothing, once converged). */
async function pass(env: ForgeEnv, keys: Map<string, string>): Promise<number> {
  let steps = 0;
  const block = values.teams ? { teams: ["ops:push"] } : {};
  await Promise.all([...layout()].map(async ([repo, members]) => {
    const s = env.open({ repository: repo, ...block });
    await s.observe();
    const repoSteps = s.planRepository().steps;
    steps += repoSteps.length;
    await apply(s, repoSteps);
    for (const c of members) {
      const key = keys.get(c) ?? fakeKey(c);
      keys.set(c, key);
      const access = s.planClusterAccess({ label: label(c), publicKey: key });
      steps += access.length;
      await apply(s, access, key);
    }
  }));
  return steps;
}

function stats(xs: number[]): string {
  const sorted = [...xs].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  return `median ${median.toFixed(1)} ms (min ${sorted[0].toFixed(1)}, max ${
    sorted[sorted.length - 1].toFixed(1)
  })`;
}

console.log(
  `no-op plan of ${clusters} clusters over ${repos} repositories${
    values.teams ? ", each with a team" : ""
  }, ${runs} runs`,
);
for (const kind of ["github", "gitea"] as ForgeKind[]) {
  const env = await startForge(kind);
  try {
    const keys = new Map<string, string>();
    const setup = await pass(env, keys);
    const calls: number[] = [];
    const changes: number[] = [];
    const times: number[] = [];
    for (let r = 0; r < runs; r++) {
      const before = env.requests().length;
      const changed = env.mutations().length;
      const t0 = performance.now();
      const planned = await pass(env, keys);
      times.push(performance.now() - t0);
      if (planned !== 0) throw new Error(`${kind}: the fleet did not converge (${planned} steps)`);
      calls.push(env.requests().length - before);
      changes.push(env.mutations().length - changed);
    }
    const perRepo = calls.map((c) => c / repos);
    console.log(
      `${kind}: setup ${setup} steps; no-op plan: ${calls.join("/")} API calls ` +
        `(${perRepo[0]} a repository, ${(calls[0] / clusters).toFixed(2)} a cluster), ` +
        `${Math.max(...changes)} changing; provider side ${stats(times)}; ` +
        `${perRepo.every((p) => p <= 2) ? "PASS" : "MISS"} (target ≤ 2 a repository)`,
    );
  } finally {
    await env.close();
  }
}
