/** Status helpers shared by the Flux stand-in's controllers: conditions as Flux writes them. */

import { isObject } from "./json.ts";
import { nowTimestamp } from "./kinds.ts";
import type { JsonObject } from "./status.ts";
import { meta } from "./store.ts";

/** "status": Kustomizations only report; "apply": they build and apply their revision. */
export type FluxMode = "status" | "apply";

export function obj(v: unknown): JsonObject {
  return isObject(v) ? v : {};
}

export function generationOf(o: JsonObject): number {
  const g = meta(o).generation;
  return typeof g === "number" ? g : 0;
}

/** Has the controller already reported on the current spec? Only those are polled. */
export function observedCurrent(o: JsonObject): boolean {
  const s = obj(o.status);
  return typeof s.observedGeneration === "number" && s.observedGeneration === generationOf(o);
}

export function readyCondition(o: JsonObject): JsonObject | undefined {
  const conds = obj(o.status).conditions;
  return Array.isArray(conds) ? conds.filter(isObject).find((c) => c.type === "Ready") : undefined;
}

/** A condition that keeps lastTransitionTime unless its status flips (Flux semantics). */
export function condition(
  prev: JsonObject,
  type: string,
  status: "True" | "False" | "Unknown",
  reason: string,
  message: string,
): JsonObject {
  const conds = obj(prev.status).conditions;
  const old = Array.isArray(conds)
    ? conds.filter(isObject).find((c) => c.type === type)
    : undefined;
  const since = old && old.status === status ? old.lastTransitionTime : nowTimestamp();
  return {
    type,
    status,
    observedGeneration: generationOf(prev),
    lastTransitionTime: since,
    reason,
    message,
  };
}
