/**
 * JSON forms of plan, apply and destroy: one versioned family (`formatVersion`), described by
 * schemas/plan-output.schema.json. Every document has the same envelope (`formatVersion`, `kind`,
 * `manifest`) and the same `summary` shape; apply and destroy carry their plan as
 * `plan: {clusters, summary}` and one result per cluster in the same shape. Secret values are
 * never part of it (steps carry key names only).
 *
 * Format version 2 (incompatible with 1): destroy documents (`plans` → `plan`, `results[].done` →
 * `applied`, outcome `destroyed` → `changed`, a summary), one summary shape everywhere (apply's
 * gained `clusters` and `steps`, plan's `skipped`), apply's `plan` without its own envelope, and
 * `skipped` results carry `reason` instead of `error`.
 */
import type { ClusterPlan, ClusterPlanView, PlannedCluster, StepView } from "../plan/types.ts";
import { payloadDigest } from "../plan/digest.ts";
import { stepView } from "../providers/registry.ts";
import { type ClusterResult, type DestroyResult, shownOutcome } from "../plan/results.ts";
import type { DestroyPlan, DestroyStep } from "../plan/destroy.ts";
import { redact, safeText } from "../util/redact.ts";

export const FORMAT_VERSION = 2;
/** The plan file (`plan --out`) is a plan document of this family. */
export const PLAN_FORMAT_VERSION = FORMAT_VERSION;

/** The same for every document: counts of clusters by outcome, and the steps planned or done. */
export interface Summary {
  clusters: number;
  changed: number;
  unchanged: number;
  failed: number;
  skipped: number;
  /** Plans: steps planned. Apply/destroy results: steps carried out. */
  steps: number;
}

export interface PlanDocument {
  formatVersion: number;
  kind: "fluxfleet.plan";
  manifest: string;
  /** sha256 of the manifest file the plan was made from (plan files; plan --output json). */
  manifestDigest?: string;
  /** The fluxfleet that made it (plan --output json): merge-plans refuses mixed versions. */
  fluxfleetVersion?: string;
  /** One shard's plan (`--shard`): merge-plans checks that the shards add up. */
  shard?: { index: number; count: number; selected: number };
  clusters: ClusterPlanView[];
  summary: Summary;
}

export type Outcome = "changed" | "unchanged" | "failed" | "skipped";

export interface Result<S> {
  cluster: string;
  outcome: Outcome;
  /** Steps carried out (also those of a cluster that failed half way). */
  applied: S[];
  error?: string;
  /** Why a cluster was skipped (never started). */
  reason?: string;
  revision?: string;
  generatedKey?: { publicKey: string; fingerprint: string };
}

export interface ApplyDocument {
  formatVersion: number;
  kind: "fluxfleet.apply";
  manifest: string;
  plan: { clusters: ClusterPlanView[]; summary: Summary };
  results: Result<StepView>[];
  summary: Summary;
}

export interface DestroyDocument {
  formatVersion: number;
  kind: "fluxfleet.destroy";
  manifest: string;
  plan: { clusters: DestroyPlan[]; summary: Summary };
  results: Result<DestroyStep>[];
  summary: Summary;
}

/** The plan as shown and saved: provider steps in the provider's words. */
export function planView(plan: ClusterPlan): ClusterPlanView {
  return { ...plan, steps: plan.steps.map(stepView) };
}

function planSummary(plans: { steps: unknown[]; error?: string }[]): Summary {
  const failed = plans.filter((p) => p.error).length;
  const changed = plans.filter((p) => !p.error && p.steps.length > 0).length;
  return {
    clusters: plans.length,
    changed,
    unchanged: plans.length - changed - failed,
    failed,
    skipped: 0,
    steps: plans.reduce((n, p) => n + (p.error ? 0 : p.steps.length), 0),
  };
}

function resultSummary(results: Result<unknown>[]): Summary {
  const count = (o: Outcome) => results.filter((r) => r.outcome === o).length;
  return {
    clusters: results.length,
    changed: count("changed"),
    unchanged: count("unchanged"),
    failed: count("failed"),
    skipped: count("skipped"),
    steps: results.reduce((n, r) => n + r.applied.length, 0),
  };
}

export function planDocument(
  manifest: string,
  plans: ClusterPlan[],
  manifestDigest?: string,
): PlanDocument {
  return {
    formatVersion: FORMAT_VERSION,
    kind: "fluxfleet.plan",
    manifest,
    ...(manifestDigest ? { manifestDigest } : {}),
    clusters: plans.map(planView),
    summary: planSummary(plans),
  };
}

/**
 * A plan file (`plan --out`): the plan document with the manifest's digest and, per cluster, the
 * digest of what its steps would write; `apply --plan-file` applies it only while both hold.
 */
export function planFileDocument(
  manifest: string,
  planned: PlannedCluster[],
  manifestDigest: string,
): PlanDocument {
  return planDocument(
    manifest,
    planned.map((p) => ({ ...p.plan, ...withPayload(p) })),
    manifestDigest,
  );
}

/** The plans as a saved plan is compared with them (`apply --plan-file`). */
export function plannedViews(planned: PlannedCluster[]): ClusterPlanView[] {
  return planned.map((p) => ({ ...planView(p.plan), ...withPayload(p) }));
}

function withPayload(p: PlannedCluster): { payload?: string } {
  const payload = payloadDigest(p);
  return payload ? { payload } : {};
}

export function applyDocument(
  manifest: string,
  plans: ClusterPlan[],
  results: ClusterResult[],
): ApplyDocument {
  const out: Result<StepView>[] = results.map((r) => ({
    ...r,
    outcome: shownOutcome(r.outcome),
    applied: r.applied.map(stepView),
  }));
  return {
    formatVersion: FORMAT_VERSION,
    kind: "fluxfleet.apply",
    manifest,
    plan: { clusters: plans.map(planView), summary: planSummary(plans) },
    results: out,
    summary: resultSummary(out),
  };
}

export function destroyDocument(
  manifest: string,
  plans: DestroyPlan[],
  results: DestroyResult[],
): DestroyDocument {
  const out = results.map((r): Result<DestroyStep> => ({
    cluster: r.cluster,
    outcome: r.outcome === "destroyed" ? "changed" : shownOutcome(r.outcome),
    applied: r.done,
    ...(r.error !== undefined ? { error: r.error } : {}),
    ...(r.reason !== undefined ? { reason: r.reason } : {}),
  }));
  return {
    formatVersion: FORMAT_VERSION,
    kind: "fluxfleet.destroy",
    manifest,
    plan: { clusters: plans, summary: planSummary(plans) },
    results: out,
    summary: resultSummary(out),
  };
}

/**
 * A document as printed: indented JSON, every string without control characters or escape
 * sequences (JSON escapes them, but a consumer decoding a message and printing it would get
 * them back; tabs and newlines, e.g. of a diff, are kept) and redacted before it is escaped (a
 * secret inside a quoted JSON text would otherwise be escaped once more than its forms are).
 */
export function jsonText(doc: unknown): string {
  return JSON.stringify(
    doc,
    (_key, value) => typeof value === "string" ? safeText(value) : value,
    2,
  ) + "\n";
}

/** A plan file: redacted like jsonText, not stripped (apply compares its steps verbatim). */
export function planFileText(doc: PlanDocument): string {
  return JSON.stringify(
    doc,
    (_key, value) => typeof value === "string" ? redact(value) : value,
    2,
  ) + "\n";
}
