/**
 * `--shard i/n` and `--shard-count n`: one part of the selected clusters, so that several runners
 * (a CI matrix, GitLab `parallel`, a Kubernetes Indexed Job) share a fleet.
 *
 * The unit is a repository group: every cluster of one repository (all its branches) goes to the
 * same shard, so each branch still gets one commit per run, no two shards push to one branch, and
 * one process creates and grants the repository.
 *
 * How groups are placed, and why: each group ranks the shards by a rendezvous hash of its
 * repository key and the shard number (highest random weight), and the groups, taken in the
 * order of a hash of their key, each go to their best-ranked shard that still has room under a
 * cap of 10 % above the average (never below the largest group); when none has room, the least
 * loaded. Only the groups' keys and sizes enter: cluster names, order in the manifest, labels,
 * paths and every other setting do not, so editing them moves nothing. Adding or removing a
 * cluster or a repository moves that group and, through the cap, about 1 % of the others
 * (simulated over 100 groups on 8 shards; pure rendezvous hashing moves none but lets a shard run
 * 30–40 % over the average, and a greedy largest-first packing balances best but reshuffles a
 * few groups per edit as the sizes reorder). Balanced by cluster count within 10 % whenever
 * group sizes allow it.
 *
 * Every shard computes the whole partition from the same selection: the runners must agree on
 * the manifest, `--cluster` and `--selector`. Shards count from 1 (`--shard 1/4` … `4/4`), as
 * GitLab's CI_NODE_INDEX and test runners' `--shard` do; a Kubernetes Indexed Job's
 * JOB_COMPLETION_INDEX counts from 0 and is shifted by one.
 */
import { createHash } from "node:crypto";
import { InvalidArgumentError } from "commander";
import type { ClusterConfig } from "../config/types.ts";
import { repositoryKey } from "../git/url.ts";

export interface Shard {
  /** From 1 to count. */
  index: number;
  count: number;
}

/** Room above the average shard a group may still take (see the module comment). */
const SLACK = 1.1;

/** `--shard i/n`, for commander. */
export function parseShardOption(value: string): Shard {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(value);
  if (!m) throw new InvalidArgumentError(`must be INDEX/COUNT such as 2/4, not "${value}"`);
  const shard = { index: Number(m[1]), count: Number(m[2]) };
  const problem = shardProblem(shard);
  if (problem) throw new InvalidArgumentError(problem);
  return shard;
}

function shardProblem({ index, count }: Shard): string | undefined {
  if (count < 1) return `the shard count must be at least 1, not ${count}`;
  if (index < 1 || index > count) {
    return `the shard index counts from 1 to ${count} (1/${count} … ${count}/${count}), not ${index}`;
  }
  return undefined;
}

function wholeNumber(name: string, value: string): number {
  if (!/^\s*\d+\s*$/.test(value)) {
    throw new Error(`${name}="${value}" is not a whole number (shard index from the environment)`);
  }
  return Number(value);
}

/**
 * The shard this run works on: `--shard i/n`, or with `--shard-count n` the index the engine sets
 * (JOB_COMPLETION_INDEX from 0, or CI_NODE_INDEX from 1 with CI_NODE_TOTAL); none without either.
 */
export function resolveShard(
  opts: { shard?: Shard; shardCount?: number },
  env: (name: string) => string | undefined,
): Shard | undefined {
  if (opts.shard && opts.shardCount !== undefined) {
    throw new Error(
      "give --shard INDEX/COUNT or --shard-count COUNT (the index then comes from " +
        "JOB_COMPLETION_INDEX or CI_NODE_INDEX), not both",
    );
  }
  if (opts.shard) return opts.shard;
  const count = opts.shardCount;
  if (count === undefined) return undefined;
  const job = env("JOB_COMPLETION_INDEX");
  const node = env("CI_NODE_INDEX");
  if (job !== undefined && job !== "") {
    const index = wholeNumber("JOB_COMPLETION_INDEX", job) + 1;
    if (index > count) {
      throw new Error(
        `JOB_COMPLETION_INDEX=${job} is not below --shard-count ${count}: ` +
          `the Job's completions must equal --shard-count`,
      );
    }
    return { index, count };
  }
  if (node !== undefined && node !== "") {
    const index = wholeNumber("CI_NODE_INDEX", node);
    const total = env("CI_NODE_TOTAL");
    if (total !== undefined && total !== "" && wholeNumber("CI_NODE_TOTAL", total) !== count) {
      throw new Error(
        `CI_NODE_TOTAL=${total} differs from --shard-count ${count}: ` +
          `the job's parallel count must equal --shard-count`,
      );
    }
    const problem = shardProblem({ index, count });
    if (problem) throw new Error(`CI_NODE_INDEX=${node}: ${problem}`);
    return { index, count };
  }
  throw new Error(
    `--shard-count ${count}: no shard index in the environment (JOB_COMPLETION_INDEX of a ` +
      `Kubernetes Indexed Job, or CI_NODE_INDEX of GitLab's parallel); elsewhere pass --shard INDEX/COUNT`,
  );
}

/**
 * What puts clusters in one group: the repository they commit to, whatever the branch. Its
 * branches share the provider's repository steps (created, granted once, by one process), and a
 * branch's clusters share one commit.
 */
export function repositoryGroup(c: ClusterConfig): string {
  return repositoryKey(c.git.url);
}

function weight(text: string): number {
  // 48 bits: exact as a number, and enough to make ties between keys practically impossible.
  return createHash("sha256").update(text).digest().readUIntBE(0, 6);
}

/** The shard (1 … count) of every repository group of `clusters`. */
export function assignGroups(clusters: ClusterConfig[], count: number): Map<string, number> {
  const sizes = new Map<string, number>();
  for (const c of clusters) {
    const g = repositoryGroup(c);
    sizes.set(g, (sizes.get(g) ?? 0) + 1);
  }
  const largest = Math.max(0, ...sizes.values());
  const cap = Math.max(Math.ceil((clusters.length * SLACK) / count), largest);
  const order = [...sizes.keys()].map((key) => ({ key, w: weight(`order\n${key}`) }))
    .sort((a, b) => a.w - b.w || (a.key < b.key ? -1 : 1));
  const load = new Array<number>(count).fill(0);
  const placed = new Map<string, number>();
  for (const { key } of order) {
    const size = sizes.get(key)!;
    const ranked = Array.from({ length: count }, (_, j) => ({ j, w: weight(`${key}\n${j + 1}`) }))
      .sort((a, b) => b.w - a.w || a.j - b.j).map((r) => r.j);
    const shard = ranked.find((j) => load[j] + size <= cap) ??
      ranked.reduce((best, j) => load[j] < load[best] ? j : best, ranked[0]);
    load[shard] += size;
    placed.set(key, shard + 1);
  }
  return placed;
}

/** The clusters of `shard`, in the order they were selected. */
export function clustersOfShard(clusters: ClusterConfig[], shard: Shard): ClusterConfig[] {
  const placed = assignGroups(clusters, shard.count);
  return clusters.filter((c) => placed.get(repositoryGroup(c)) === shard.index);
}

/** How a sharded run describes itself (JSON `shard`, text headers). */
export interface ShardInfo extends Shard {
  /** Clusters selected before sharding: merged shards must add up to it. */
  selected: number;
}

export function describeShard(s: ShardInfo, clusters: number): string {
  return `shard ${s.index}/${s.count}: ${clusters} of ${s.selected} selected clusters`;
}
