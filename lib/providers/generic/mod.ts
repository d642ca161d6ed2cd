/**
 * `provider: generic` (flux bootstrap git): any git server by its URL, no hosting API. Its session
 * observes nothing and plans no step: the repository exists, and the cluster's key is added by
 * the user (the plan says which), checked with an SSH handshake.
 */
import type { Permission, ProviderModule, ProviderSession } from "../types.ts";
import { resolve, validate } from "./settings.ts";

export const KIND = "generic";

function openSession(): ProviderSession {
  return {
    registersKeys: false,
    observe: () => Promise.resolve({ exists: true }),
    planRepository: () => ({ steps: [], warnings: [] }),
    planClusterAccess: () => [],
    keyRegistered: () => false,
    apply: (step) => Promise.reject(new Error(`${KIND} has no ${step.kind} steps`)),
    close: () => {},
  };
}

export const provider: ProviderModule = {
  kind: KIND,
  summary: "generic: any git server by URL (flux bootstrap git)",
  validate,
  resolve,
  open: () => openSession(),
  permissionWord: (p: Permission) => p,
};
