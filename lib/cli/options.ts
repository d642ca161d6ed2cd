/** The command line's options: the ones plan, apply and destroy share, and their parsers. */
import { InvalidArgumentError, Option } from "commander";
import type { Command } from "commander";
import { parseDuration } from "../config/duration.ts";
import { DEFAULT_LIMITS, describeLimits, type Limits, withLimitOption } from "../util/limits.ts";
import { parseShardOption, type Shard } from "./shard.ts";

export type OutputFormat = "text" | "json" | "markdown";

export interface CommonOptions {
  output: OutputFormat;
  cluster: string[];
  selector: string[];
  concurrency: number;
  quiet?: boolean;
  failFast?: boolean;
  force?: boolean;
  rotate: string[];
  retries: number;
  timeout?: number;
  clusterTimeout: number;
  debug?: boolean;
  limit: Limits;
  /** `--shard i/n` (lib/cli/shard.ts). */
  shard?: Shard;
  /** `--shard-count n`: the index comes from the engine's environment. */
  shardCount?: number;
}

export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("must be a whole number ≥ 1");
  return n;
}

function duration(value: string): number {
  let ms: number;
  try {
    ms = parseDuration(value);
  } catch {
    throw new InvalidArgumentError("must be a duration such as 30s, 2m or 1m30s");
  }
  if (ms < 1) throw new InvalidArgumentError("must be longer than 0");
  return ms;
}

function limitOption(value: string, previous: Limits): Limits {
  try {
    return withLimitOption(previous, value);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
}

/** `--limit NAME=SIZE`, repeatable; its default shown in words. */
export function limitsOption(description: string): Option {
  return new Option("--limit <name=size>", description)
    .argParser(limitOption)
    .default(DEFAULT_LIMITS, describeLimits(DEFAULT_LIMITS));
}

function outputFormat(formats: OutputFormat[]): (value: string) => OutputFormat {
  return (value) => {
    const found = formats.find((f) => f === value);
    if (!found) {
      throw new InvalidArgumentError(
        `must be ${formats.slice(0, -1).join(", ")} or ${formats[formats.length - 1]}`,
      );
    }
    return found;
  };
}

/** `-o, --output`; its formats are also kept as the option's choices (shell completion). */
function outputOption(formats: OutputFormat[]): Option {
  // Help lists the choices itself: "output format (choices: "text", "json", default: "text")".
  const option = new Option("-o, --output <format>", "output format")
    .argParser(outputFormat(formats))
    .default("text");
  option.argChoices = formats;
  return option;
}

export function withCommon(
  cmd: Command,
  outputs: OutputFormat[] = ["text", "json"],
): Command {
  cmd
    .argument("<file>", "flux-bootstrap.yaml")
    .addOption(outputOption(outputs))
    .option("-c, --cluster <name>", "only this cluster (repeatable)", collect, [])
    .option(
      "-l, --selector <selector>",
      "only clusters whose labels match, kubectl's syntax: env=prod, env!=dev, " +
        "'region in (eu,us)', 'tier notin (test)', team, !legacy; comma = and (repeatable)",
      collect,
      [],
    )
    .option("--concurrency <n>", "clusters handled at once", positiveInt, 8)
    .option("-q, --quiet", "no progress lines")
    .option("--fail-fast", "stop starting new work as soon as one cluster fails")
    .option(
      "--force",
      "take over Flux CRDs that another tool manages (app.kubernetes.io/managed-by)",
    )
    .option(
      "--rotate <cluster>",
      "replace this cluster's credentials on purpose (repeatable)",
      collect,
      [],
    )
    .option(
      "--retries <n>",
      "attempts for transient faults (429, 5xx, network), with backoff",
      positiveInt,
      4,
    )
    .option(
      "--timeout <duration>",
      "time one request may take (git, Kubernetes API, SSH, provider API); default 60s for git, 30s for the others",
      duration,
    )
    .option(
      "--cluster-timeout <duration>",
      "deadline for one cluster's work in one stage (observing, or applying its steps; the health wait is bounded by flux.timeout)",
      duration,
      parseDuration("10m"),
    )
    .option("--debug", "log every request (method, path, status; redacted) on stderr")
    .addOption(
      limitsOption(
        'change a read limit (repeatable; see README, "Failure behaviour and security")',
      ),
    );
  return withShardOptions(cmd);
}

/** `--shard i/n` and `--shard-count n` (lib/cli/shard.ts), for every command that takes clusters. */
export function withShardOptions(cmd: Command): Command {
  return cmd
    .option(
      "--shard <index/count>",
      "work on one shard of the selected clusters, e.g. 2/4 (a repository's clusters stay together)",
      parseShardOption,
    )
    .option(
      "--shard-count <n>",
      "shard count; the index comes from JOB_COMPLETION_INDEX (Kubernetes) or CI_NODE_INDEX (GitLab)",
      positiveInt,
    );
}
