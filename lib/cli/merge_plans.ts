/**
 * `fluxfleet merge-plans A.json B.json …`: the `plan --output json` documents of several shards
 * (or of runs over other clusters of one manifest) as one plan document, valid under the same
 * schema (schemas/plan-output.schema.json) — e.g. for one pull-request comment
 * (`--output markdown`).
 *
 * Refused, in words naming the files: a document that is not a plan of this format version, or
 * not valid under the schema; documents of other manifests (their `manifestDigest` differs, so
 * runners may check the manifest out at different paths) or made by another fluxfleet version; a
 * cluster in two documents; sharded and whole plans mixed; shards of different counts or
 * selections, a shard twice, or a shard missing (a partial merge would understate the plan).
 */
import type { Command } from "commander";
import { InvalidArgumentError, Option } from "commander";
import { FORMAT_VERSION, jsonText, type PlanDocument, type Summary } from "../report/json.ts";
import { renderPlanMarkdown } from "../report/markdown.ts";
import type { Cli } from "./context.ts";
import { subcommand } from "./program.ts";

/** A plan document is a few MiB for thousands of clusters; this bounds what one file may hold. */
const MAX_PLAN_BYTES = 256 * 1024 * 1024;

export interface NamedDocument {
  file: string;
  doc: PlanDocument;
}

/** Reads one document: JSON, a plan of this format version, valid under the schema. */
export async function readPlanDocument(
  file: string,
  schemaErrors: (doc: unknown) => string[],
): Promise<NamedDocument> {
  let text: string;
  try {
    const size = (await Deno.stat(file)).size;
    if (size > MAX_PLAN_BYTES) {
      throw new Error(`${size} bytes, more than a plan document holds (${MAX_PLAN_BYTES})`);
    }
    text = await Deno.readTextFile(file);
  } catch (e) {
    throw new Error(`cannot read ${file}: ${(e as Error).message}`);
  }
  let doc: { kind?: unknown; formatVersion?: unknown };
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file} is not JSON: ${(e as Error).message}`);
  }
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) {
    throw new Error(`${file} is not a fluxfleet plan document (plan --output json)`);
  }
  if (doc.kind !== "fluxfleet.plan") {
    throw new Error(
      `${file} is ${
        typeof doc.kind === "string" ? `a ${doc.kind} document` : "not a fluxfleet document"
      }; merge-plans merges the output of plan --output json`,
    );
  }
  if (doc.formatVersion !== FORMAT_VERSION) {
    throw new Error(
      `${file} is in format version ${JSON.stringify(doc.formatVersion)}; this fluxfleet ` +
        `reads version ${FORMAT_VERSION}: plan again with this version`,
    );
  }
  const errors = schemaErrors(doc);
  if (errors.length > 0) {
    throw new Error(
      `${file} is not a valid plan document: ${errors.slice(0, 5).join("; ")}${
        errors.length > 5 ? `; and ${errors.length - 5} more` : ""
      }`,
    );
  }
  return { file, doc: doc as PlanDocument };
}

function sameEverywhere<T>(
  docs: NamedDocument[],
  value: (d: PlanDocument) => T,
  problem: (a: NamedDocument, b: NamedDocument) => string,
): void {
  const first = docs[0];
  const other = docs.find((d) => value(d.doc) !== value(first.doc));
  if (other) throw new Error(problem(first, other));
}

function checkShards(docs: NamedDocument[]): void {
  const sharded = docs.filter((d) => d.doc.shard);
  if (sharded.length === 0) return;
  if (sharded.length < docs.length) {
    const whole = docs.find((d) => !d.doc.shard)!;
    throw new Error(
      `${whole.file} is a plan of every selected cluster and ${sharded[0].file} one of a ` +
        `shard: merge the shards' plans only`,
    );
  }
  const shardOf = (d: PlanDocument) => `${d.shard!.index}/${d.shard!.count}`;
  sameEverywhere(
    docs,
    (d) => d.shard!.count,
    (a, b) =>
      `${a.file} is shard ${shardOf(a.doc)} and ${b.file} shard ${shardOf(b.doc)}: ` +
      `the shard counts differ`,
  );
  sameEverywhere(
    docs,
    (d) => d.shard!.selected,
    (a, b) =>
      `${a.file} was planned over ${a.doc.shard!.selected} selected clusters and ${b.file} over ` +
      `${b.doc.shard!.selected}: every shard must run with the same --cluster and --selector`,
  );
  const byIndex = new Map<number, string>();
  for (const d of docs) {
    const seen = byIndex.get(d.doc.shard!.index);
    if (seen) throw new Error(`${seen} and ${d.file} are both shard ${shardOf(d.doc)}`);
    byIndex.set(d.doc.shard!.index, d.file);
  }
  const count = docs[0].doc.shard!.count;
  const missing = Array.from({ length: count }, (_, i) => i + 1).filter((i) => !byIndex.has(i));
  if (missing.length > 0) {
    throw new Error(
      `shard ${missing.map((i) => `${i}/${count}`).join(", ")} missing: merge the plans of ` +
        `all ${count} shards (a partial merge would understate the plan)`,
    );
  }
}

/** The documents as one plan document (see the module comment for what is refused). */
export function mergePlanDocuments(docs: NamedDocument[]): PlanDocument {
  if (docs.length === 0) throw new Error("merge-plans needs at least one plan document");
  const unpinned = docs.find((d) => !d.doc.manifestDigest);
  if (unpinned) {
    throw new Error(
      `${unpinned.file} does not say which manifest it was planned from (no manifestDigest): ` +
        `plan again with this fluxfleet`,
    );
  }
  sameEverywhere(
    docs,
    (d) => d.manifestDigest,
    (a, b) =>
      `${a.file} and ${b.file} were planned from different manifests ` +
      `(${a.doc.manifestDigest?.slice(0, 19)}… and ${b.doc.manifestDigest?.slice(0, 19)}…): ` +
      `plan every shard from the same manifest`,
  );
  sameEverywhere(
    docs,
    (d) => d.fluxfleetVersion,
    (a, b) =>
      `${a.file} was planned by fluxfleet ${a.doc.fluxfleetVersion} and ${b.file} by ` +
      `${b.doc.fluxfleetVersion}: plan every shard with the same version`,
  );
  checkShards(docs);
  const owner = new Map<string, string>();
  for (const d of docs) {
    for (const c of d.doc.clusters) {
      const seen = owner.get(c.cluster);
      if (seen) throw new Error(`cluster ${c.cluster} is in both ${seen} and ${d.file}`);
      owner.set(c.cluster, d.file);
    }
  }
  const ordered = [...docs].sort((a, b) => (a.doc.shard?.index ?? 0) - (b.doc.shard?.index ?? 0));
  const clusters = ordered.flatMap((d) => d.doc.clusters);
  const selected = docs[0].doc.shard?.selected;
  if (selected !== undefined && clusters.length !== selected) {
    throw new Error(
      `the shards hold ${clusters.length} clusters, but ${selected} were selected: were they ` +
        `planned with the same manifest, --cluster and --selector?`,
    );
  }
  const summary: Summary = {
    clusters: 0,
    changed: 0,
    unchanged: 0,
    failed: 0,
    skipped: 0,
    steps: 0,
  };
  for (const d of docs) {
    for (const key of Object.keys(summary) as (keyof Summary)[]) summary[key] += d.doc.summary[key];
  }
  const first = docs[0].doc;
  return {
    formatVersion: FORMAT_VERSION,
    kind: "fluxfleet.plan",
    manifest: first.manifest,
    manifestDigest: first.manifestDigest,
    ...(first.fluxfleetVersion ? { fluxfleetVersion: first.fluxfleetVersion } : {}),
    clusters,
    summary,
  };
}

function mergedFormat(value: string): "json" | "markdown" {
  if (value !== "json" && value !== "markdown") {
    throw new InvalidArgumentError("must be json or markdown");
  }
  return value;
}

export function mergePlansCommand(program: Command, cli: Cli): void {
  const output = new Option("-o, --output <format>", "output format").argParser(mergedFormat)
    .default("json");
  output.argChoices = ["json", "markdown"];
  subcommand(program, "merge-plans")
    .description(
      "merge the plan --output json documents of several shards into one plan document",
    )
    .argument("<plan-files...>", "plan documents (plan --output json)")
    .addOption(output)
    .action(async (files: string[], opts: { output: "json" | "markdown" }) => {
      // The schema is compiled only for this command (other runs never need it).
      const { planSchemaErrors } = await import("../report/plan_schema.ts");
      const docs: NamedDocument[] = [];
      for (const file of files) docs.push(await readPlanDocument(file, planSchemaErrors));
      const merged = mergePlanDocuments(docs);
      const errors = planSchemaErrors(merged);
      if (errors.length > 0) throw new Error(`the merged plan is not valid: ${errors.join("; ")}`);
      cli.print(opts.output === "json" ? jsonText(merged) : renderPlanMarkdown(merged));
    });
}
