/** The command line's options: the ones plan, apply and destroy share, and their parsers. */
import { InvalidArgumentError, Option } from "commander";
import type { Command } from "commander";
import { parseDuration } from "../config/duration.ts";
import { DEFAULT_LIMITS, describeLimits, type Limits, withLimitOption } from "../util/limits.ts";

export interface CommonOptions {
  output: "text" | "json";
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

function outputFormat(value: string): "text" | "json" {
  if (value !== "text" && value !== "json") throw new InvalidArgumentError("must be text or json");
  return value;
}

export function withCommon(cmd: Command): Command {
  return cmd
    .argument("<file>", "flux-bootstrap.yaml")
    .option("-o, --output <format>", "text or json", outputFormat, "text")
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
}
