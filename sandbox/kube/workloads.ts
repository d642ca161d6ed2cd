/**
 * Stand-in for the deployment controller + kubelet: every Deployment becomes fully available,
 * unless a test keeps it unavailable (a rollout stuck on an image that never starts). Flux's own
 * install waits for its controller Deployments (kstatus / `kubectl rollout status`), which only
 * look at these status fields.
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

function falseCondition(
  prev: JsonObject,
  type: string,
  reason: string,
  message: string,
): JsonObject {
  const conds = isObject(prev.status) && Array.isArray(prev.status.conditions)
    ? prev.status.conditions.filter(isObject)
    : [];
  const old = conds.find((c) => c.type === type && c.status === "False");
  const at = typeof old?.lastTransitionTime === "string" ? old.lastTransitionTime : nowTimestamp();
  return { type, status: "False", lastUpdateTime: at, lastTransitionTime: at, reason, message };
}

/**
 * The status of a rollout whose pods never become ready: no replica available and the
 * progress deadline exceeded, which `kubectl rollout status` and kstatus report as failed.
 */
export function unavailableDeploymentStatus(deploy: JsonObject): JsonObject {
  const spec = isObject(deploy.spec) ? deploy.spec : {};
  const replicas = typeof spec.replicas === "number" ? spec.replicas : 1;
  const name = String(meta(deploy).name);
  return {
    observedGeneration: meta(deploy).generation ?? 1,
    replicas,
    updatedReplicas: replicas,
    unavailableReplicas: replicas,
    conditions: [
      falseCondition(
        deploy,
        "Available",
        "MinimumReplicasUnavailable",
        "Deployment does not have minimum availability.",
      ),
      falseCondition(
        deploy,
        "Progressing",
        "ProgressDeadlineExceeded",
        `ReplicaSet "${name}" has timed out progressing.`,
      ),
    ],
  };
}
