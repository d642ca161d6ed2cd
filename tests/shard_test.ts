/**
 * `--shard`: the partition of the selected clusters (repository groups kept whole, balanced,
 * stable under edits that do not touch a cluster's repository) and where the shard comes from
 * (the option, or the environment a Kubernetes Indexed Job or GitLab's `parallel` sets).
 */
import assert from "node:assert/strict";
import {
  assignGroups,
  clustersOfShard,
  parseShardOption,
  repositoryGroup,
  resolveShard,
} from "../lib/cli/shard.ts";
import type { ClusterConfig } from "../lib/config/types.ts";

/** Only what sharding reads: the name, and the repository and branch. */
function cluster(name: string, repo: string, branch = "main", extra = {}): ClusterConfig {
  return {
    name,
    labels: {},
    path: `clusters/${name}`,
    ...extra,
    git: { url: `https://git.example.com/org/${repo}.git`, branch },
  } as unknown as ClusterConfig;
}

/** c<i> on repository fleet-<i mod repos>. */
function fleet(clusters: number, repos: number): ClusterConfig[] {
  return Array.from({ length: clusters }, (_, i) => cluster(`c${i}`, `fleet-${i % repos}`));
}

function shardsOf(clusters: ClusterConfig[], count: number): string[][] {
  return Array.from(
    { length: count },
    (_, i) => clustersOfShard(clusters, { index: i + 1, count }).map((c) => c.name),
  );
}

Deno.test("40 clusters on 8 repositories in 4 shards: 10 each, repositories whole, disjoint, covering", () => {
  const clusters = fleet(40, 8);
  const shards = shardsOf(clusters, 4);
  assert.deepEqual(shards.map((s) => s.length), [10, 10, 10, 10]);
  assert.deepEqual(shards.flat().sort(), clusters.map((c) => c.name).sort());
  for (let r = 0; r < 8; r++) {
    const holding = shards.filter((s) => s.some((n) => Number(n.slice(1)) % 8 === r));
    assert.equal(holding.length, 1, `repository fleet-${r} must be in one shard`);
  }
});

Deno.test("sharding ignores order, names, labels and paths; a repository's branches stay together", () => {
  const clusters = fleet(60, 12);
  const before = assignGroups(clusters, 5);
  const edited = clusters.map((c, i) =>
    cluster(`renamed-${i}`, c.git.url.replace(/^.*\/|\.git$/g, ""), "main", {
      labels: { env: i % 2 ? "prod" : "dev" },
      path: `elsewhere/${i}`,
    })
  ).reverse();
  assert.deepEqual([...assignGroups(edited, 5)].sort(), [...before].sort());
  // The same repository spelled with a trailing slash and without .git is the same group.
  const spelled = {
    ...clusters[0],
    git: { ...clusters[0].git, url: "https://git.example.com/org/fleet-0/" },
  };
  assert.equal(repositoryGroup(spelled as ClusterConfig), repositoryGroup(clusters[0]));
  // Two branches of one repository: one process creates and grants the repository once.
  assert.equal(
    repositoryGroup(cluster("x", "fleet-0", "prod")),
    repositoryGroup(cluster("x", "fleet-0", "main")),
  );
});

/** Repository sizes 1 … 20, the same on every run. */
function unevenFleet(repos: number): ClusterConfig[] {
  const out: ClusterConfig[] = [];
  for (let r = 0; r < repos; r++) {
    const size = 1 + ((r * 7919) % 20);
    for (let k = 0; k < size; k++) out.push(cluster(`r${r}-${k}`, `repo-${r}`));
  }
  return out;
}

Deno.test("balanced within 10 % of the average shard, and an edit moves few other repositories", () => {
  const clusters = unevenFleet(100);
  const count = 8;
  const load = (cs: ClusterConfig[]) => shardsOf(cs, count).map((s) => s.length);
  const cap = Math.ceil((clusters.length * 1.1) / count);
  assert.ok(Math.max(...load(clusters)) <= cap, `loads ${load(clusters)} over ${cap}`);

  const before = assignGroups(clusters, count);
  const moved = (after: Map<string, number>, except: string) =>
    [...after].filter(([g, s]) => g !== except && before.has(g) && before.get(g) !== s).length;
  // One more cluster in repo-3; a new repository; a repository gone.
  const grown = [...clusters, cluster("new", "repo-3")];
  const added = [...clusters, ...fleet(4, 1).map((c) => cluster(c.name, "repo-new"))];
  const removed = clusters.filter((c) => !c.git.url.includes("/repo-5."));
  const g3 = repositoryGroup(cluster("x", "repo-3"));
  for (const [what, cs] of [["grown", grown], ["added", added], ["removed", removed]] as const) {
    const n = moved(assignGroups(cs, count), g3);
    assert.ok(n <= 5, `${what}: ${n} of 100 other repositories changed shard`);
    assert.ok(Math.max(...load(cs)) <= Math.ceil((cs.length * 1.1) / count), what);
  }
});

Deno.test("more shards than repositories: some shards are empty, none is shared", () => {
  const shards = shardsOf(fleet(6, 2), 4);
  assert.deepEqual(shards.map((s) => s.length).sort(), [0, 0, 3, 3]);
});

Deno.test("--shard INDEX/COUNT: counts from 1; bad values say what is expected", () => {
  assert.deepEqual(parseShardOption("2/4"), { index: 2, count: 4 });
  assert.deepEqual(parseShardOption("1/1"), { index: 1, count: 1 });
  const bad: [string, RegExp][] = [
    ["0/4", /^the shard index counts from 1 to 4 \(1\/4 … 4\/4\), not 0$/],
    ["5/4", /counts from 1 to 4 .*not 5$/],
    ["1/0", /^the shard count must be at least 1, not 0$/],
    ["2", /^must be INDEX\/COUNT such as 2\/4, not "2"$/],
    ["a/b", /^must be INDEX\/COUNT/],
    ["-1/4", /^must be INDEX\/COUNT/],
  ];
  for (const [value, message] of bad) {
    assert.throws(() => parseShardOption(value), { message }, value);
  }
});

Deno.test("--shard-count: the index from JOB_COMPLETION_INDEX (from 0) or CI_NODE_INDEX (from 1)", () => {
  const env = (vars: Record<string, string>) => (name: string) => vars[name];
  assert.equal(resolveShard({}, env({ JOB_COMPLETION_INDEX: "1", CI_NODE_INDEX: "1" })), undefined);
  assert.deepEqual(
    resolveShard({ shard: { index: 3, count: 4 } }, env({ JOB_COMPLETION_INDEX: "0" })),
    { index: 3, count: 4 },
  );
  assert.deepEqual(resolveShard({ shardCount: 4 }, env({ JOB_COMPLETION_INDEX: "0" })), {
    index: 1,
    count: 4,
  });
  assert.deepEqual(resolveShard({ shardCount: 4 }, env({ JOB_COMPLETION_INDEX: "3" })), {
    index: 4,
    count: 4,
  });
  assert.deepEqual(
    resolveShard({ shardCount: 3 }, env({ CI_NODE_INDEX: "3", CI_NODE_TOTAL: "3" })),
    { index: 3, count: 3 },
  );
  const refused: [Parameters<typeof resolveShard>[0], Record<string, string>, RegExp][] = [
    [{ shard: { index: 1, count: 2 }, shardCount: 2 }, {}, /not both/],
    [
      { shardCount: 4 },
      {},
      /^--shard-count 4: no shard index in the environment \(JOB_COMPLETION_INDEX/,
    ],
    [
      { shardCount: 4 },
      { JOB_COMPLETION_INDEX: "4" },
      /^JOB_COMPLETION_INDEX=4 is not below --shard-count 4/,
    ],
    [
      { shardCount: 4 },
      { JOB_COMPLETION_INDEX: "x" },
      /^JOB_COMPLETION_INDEX="x" is not a whole number/,
    ],
    [
      { shardCount: 4 },
      { CI_NODE_INDEX: "0" },
      /^CI_NODE_INDEX=0: the shard index counts from 1 to 4/,
    ],
    [
      { shardCount: 4 },
      { CI_NODE_INDEX: "2", CI_NODE_TOTAL: "3" },
      /^CI_NODE_TOTAL=3 differs from --shard-count 4/,
    ],
  ];
  for (const [opts, vars, message] of refused) {
    assert.throws(() => resolveShard(opts, env(vars)), { message }, JSON.stringify(vars));
  }
});
