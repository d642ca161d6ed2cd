/**
 * JSON forms of plans and apply results. The shape is versioned (`formatVersion`) and described by
 * schemas/plan-output.schema.json; secret values are never part of it (steps carry key names only).
 */
import type { ClusterPlan } from "../plan/types.ts";
import type { ClusterResult } from "../apply/fleet.ts";
import { redact, safeText } from "../util/redact.ts";

export const PLAN_FORMAT_VERSION = 1;

export interface PlanDocument {
  formatVersion: number;
  kind: "fluxfleet.plan";
  manifest: string;
  /** sha256 of the manifest file the plan was made from (plan files only). */
  manifestDigest?: string;
  clusters: ClusterPlan[];
  summary: { clusters: number; changed: number; unchanged: number; failed: number; steps: number };
}

export function planDocument(
  manifest: string,
  plans: ClusterPlan[],
  manifestDigest?: string,
): PlanDocument {
  const failed = plans.filter((p) => p.error).length;
  const changed = plans.filter((p) => !p.error && p.steps.length > 0).length;
  return {
    formatVersion: PLAN_FORMAT_VERSION,
    kind: "fluxfleet.plan",
    manifest,
    ...(manifestDigest ? { manifestDigest } : {}),
    clusters: plans,
    summary: {
      clusters: plans.length,
      changed,
      unchanged: plans.length - changed - failed,
      failed,
      steps: plans.reduce((n, p) => n + (p.error ? 0 : p.steps.length), 0),
    },
  };
}

export interface ApplyDocument {
  formatVersion: number;
  kind: "fluxfleet.apply";
  manifest: string;
  plan: PlanDocument;
  results: ClusterResult[];
  summary: { changed: number; unchanged: number; failed: number; skipped: number };
}

export function applyDocument(
  manifest: string,
  plans: ClusterPlan[],
  results: ClusterResult[],
): ApplyDocument {
  const count = (o: ClusterResult["outcome"]) => results.filter((r) => r.outcome === o).length;
  return {
    formatVersion: PLAN_FORMAT_VERSION,
    kind: "fluxfleet.apply",
    manifest,
    plan: planDocument(manifest, plans),
    results,
    summary: {
      changed: count("changed"),
      unchanged: count("unchanged"),
      failed: count("failed"),
      skipped: count("skipped"),
    },
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
