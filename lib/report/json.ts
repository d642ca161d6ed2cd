/**
 * JSON forms of plans and apply results. The shape is versioned (`formatVersion`) and described by
 * schemas/plan-output.schema.json; secret values are never part of it (steps carry key names only).
 */
import type { ClusterPlan } from "../plan/types.ts";
import type { ClusterResult } from "../apply/fleet.ts";

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
