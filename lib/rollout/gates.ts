/**
 * A cluster's health gates during a rollout: the flux-system GitRepository and Kustomization
 * Ready at the revision the wave pushed, every Flux controller Deployment rolled out, Available
 * and running the images of the target release, and the extra gates the manifest names. Reads
 * only (GETs, and one list of the namespace's Deployments).
 */
import type { KubeClient } from "../kube/client.ts";
import type { KubeObject } from "../manifests/types.ts";
import type { DesiredCluster } from "../plan/types.ts";
import type { Gate } from "./waves.ts";

/** One gate's state now: passed, not there yet, or failed (with what the condition said). */
export interface GateState {
  state: "pass" | "pending" | "fail";
  /** "Kustomization flux-system/flux-system", "Deployment flux-system/source-controller". */
  gate: string;
  message: string;
}

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

type Obj = Record<string, unknown>;

function conditions(o: Obj | undefined): Condition[] {
  const status = (o?.status ?? {}) as { conditions?: Condition[] };
  return Array.isArray(status.conditions) ? status.conditions : [];
}

function said(c: Condition | undefined): string {
  if (!c) return "no Ready condition yet";
  return `${c.type}=${c.status}${c.reason ? ` (${c.reason})` : ""}${
    c.message ? `: ${c.message}` : ""
  }`;
}

function caughtUp(o: Obj): boolean {
  const gen = (o.metadata as { generation?: number } | undefined)?.generation;
  const seen = (o.status as { observedGeneration?: number } | undefined)?.observedGeneration;
  return gen === undefined || seen === undefined || seen >= gen;
}

/**
 * A Flux object Ready; with `revision`, at it (artifact.revision or lastAppliedRevision). Ready=
 * False is a failure only for the revision asked for (lastAttemptedRevision), or for an object
 * with no revision to wait for: an older revision's failure may still be replaced.
 */
export function fluxObjectGate(gate: string, o: Obj | undefined, revision?: string): GateState {
  if (!o) return { state: "pending", gate, message: "not found" };
  const spec = (o.spec ?? {}) as { suspend?: boolean };
  if (spec.suspend === true) {
    return { state: "fail", gate, message: "suspended (flux resume it, then re-run)" };
  }
  const status = (o.status ?? {}) as {
    artifact?: { revision?: string };
    lastAppliedRevision?: string;
    lastAttemptedRevision?: string;
  };
  const ready = conditions(o).find((c) => c.type === "Ready");
  const at = status.artifact?.revision ?? status.lastAppliedRevision;
  if (ready?.status === "True" && caughtUp(o) && (revision === undefined || at === revision)) {
    return { state: "pass", gate, message: said(ready) };
  }
  if (ready?.status === "False" && caughtUp(o)) {
    const attempted = status.lastAttemptedRevision ?? at;
    if (revision === undefined || attempted === revision || attempted === undefined) {
      return { state: "fail", gate, message: said(ready) };
    }
  }
  const message = ready?.status === "True" && revision !== undefined && at !== revision
    ? `Ready at ${at ?? "no revision"}, waiting for ${revision}`
    : said(ready);
  return { state: "pending", gate, message };
}

function images(o: Obj | undefined): string[] {
  const spec = (o?.spec ?? {}) as {
    template?: { spec?: { containers?: { image?: string }[] } };
  };
  return (spec.template?.spec?.containers ?? []).map((c) => String(c.image ?? "")).sort();
}

/**
 * A controller Deployment rolled out, Available, with the images of the target release (unless
 * `ownImages`: the repository's own kustomization.yaml may patch them, e.g. to a mirror).
 */
export function deploymentGate(
  desired: KubeObject,
  live: Obj | undefined,
  ownImages = false,
): GateState {
  const gate = `Deployment ${desired.metadata.namespace}/${desired.metadata.name}`;
  if (!live) return { state: "pending", gate, message: "not found" };
  const want = images(desired as unknown as Obj);
  const have = images(live);
  if (!ownImages && want.join(" ") !== have.join(" ")) {
    return { state: "pending", gate, message: `runs ${have.join(", ")}, not ${want.join(", ")}` };
  }
  const available = conditions(live).find((c) => c.type === "Available");
  const status = (live.status ?? {}) as { updatedReplicas?: number; replicas?: number };
  if (available?.status === "True" && caughtUp(live)) {
    return { state: "pass", gate, message: said(available) };
  }
  if (available?.status === "False" && caughtUp(live)) {
    const progressing = conditions(live).find((c) => c.type === "Progressing");
    // A rollout still in progress is pending; a deadline exceeded is a failure.
    if (progressing?.status === "False" || status.updatedReplicas === status.replicas) {
      return { state: "fail", gate, message: said(available) };
    }
  }
  return { state: "pending", gate, message: available ? said(available) : "not rolled out yet" };
}

/** Every gate of one cluster, now. */
export async function checkGates(
  client: KubeClient,
  desired: DesiredCluster,
  revision: string | undefined,
  extra: Gate[],
  ownImages = false,
): Promise<GateState[]> {
  const sync = [desired.gitRepository, desired.kustomization];
  const deployments = desired.components.filter((o) => o.kind === "Deployment");
  const namespaces = [...new Set(deployments.map((d) => d.metadata.namespace ?? "default"))];
  const [syncObjects, lists, extras] = await Promise.all([
    Promise.all(sync.map(async (o) => await client.get(await client.objectPath(o)))),
    Promise.all(namespaces.map((ns) => client.get(`/apis/apps/v1/namespaces/${ns}/deployments`))),
    Promise.all(extra.map(async (g) => {
      try {
        return await client.get(
          await client.objectPath({
            apiVersion: g.apiVersion,
            kind: g.kind,
            metadata: { name: g.name, namespace: g.namespace },
          }),
        );
      } catch {
        // The kind is not served (its controller is not installed): the gate cannot pass yet.
        return undefined;
      }
    })),
  ]);
  const live = new Map<string, Obj>();
  for (const list of lists) {
    for (const item of ((list?.items ?? []) as Obj[])) {
      const m = item.metadata as { name: string; namespace: string };
      live.set(`${m.namespace}/${m.name}`, item);
    }
  }
  return [
    ...sync.map((o, i) =>
      fluxObjectGate(
        `${o.kind} ${o.metadata.namespace}/${o.metadata.name}`,
        syncObjects[i],
        revision,
      )
    ),
    ...deployments.map((d) =>
      deploymentGate(
        d,
        live.get(`${d.metadata.namespace ?? "default"}/${d.metadata.name}`),
        ownImages,
      )
    ),
    ...extra.map((g, i) => fluxObjectGate(`${g.kind} ${g.namespace}/${g.name}`, extras[i])),
  ];
}

/** The first gate that failed, else the first not passed yet; undefined when all pass. */
export function worstGate(states: GateState[]): GateState | undefined {
  return states.find((s) => s.state === "fail") ?? states.find((s) => s.state === "pending");
}
