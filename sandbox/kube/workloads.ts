/**
 * Stand-in for the deployment controller + kubelet: every Deployment becomes fully available.
 * Flux's own install waits for its controller Deployments (kstatus / `kubectl rollout
 * status`), which only look at these status fields.
 */

import { isObject } from "./json.ts";
import { nowTimestamp } from "./kinds.ts";
import type { JsonObject } from "./status.ts";
import { meta } from "./store.ts";

function condition(prev: JsonObject, type: string, reason: string, message: string): JsonObject {
  const conds = isObject(prev.status) && Array.isArray(prev.status.conditions)
    ? prev.status.conditions.filter(isObject)
    : [];
  const old = conds.find((c) => c.type === type && c.status === "True");
  const at = typeof old?.lastTransitionTime === "string" ? old.lastTransitionTime : nowTimestamp();
  return { type, status: "True", lastUpdateTime: at, lastTransitionTime: at, reason, message };
}

/** The status a healthy rollout converges to for the Deployment's current spec. */
export function availableDeploymentStatus(deploy: JsonObject): JsonObject {
  const spec = isObject(deploy.spec) ? deploy.spec : {};
  const replicas = typeof spec.replicas === "number" ? spec.replicas : 1;
  const name = String(meta(deploy).name);
  const status: JsonObject = { observedGeneration: meta(deploy).generation ?? 1 };
  if (replicas > 0) {
    Object.assign(status, {
      replicas,
      updatedReplicas: replicas,
      readyReplicas: replicas,
      availableReplicas: replicas,
    });
  }
  status.conditions = [
    condition(
      deploy,
      "Available",
      "MinimumReplicasAvailable",
      "Deployment has minimum availability.",
    ),
    condition(
      deploy,
      "Progressing",
      "NewReplicaSetAvailable",
      `ReplicaSet "${name}" has successfully progressed.`,
    ),
  ];
  return status;
}
