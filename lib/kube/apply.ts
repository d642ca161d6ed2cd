/** Executes the cluster steps of a plan with server-side apply, then waits for Flux to be Ready. */
import type { KubeObject } from "../manifests/types.ts";
import type { DesiredCluster, Step } from "../plan/types.ts";
import { migrateCrd } from "./migrate.ts";
import type { KubeClient } from "./client.ts";
import { credentialsDigest, DIGEST_ANNOTATION } from "../plan/credentials_digest.ts";
import { getFluxObject } from "./observe.ts";
import { DOCKER_CONFIG_JSON_TYPE } from "../plan/desired.ts";

export interface ClusterApplyHooks {
  onStep?(step: Step): void;
  /** Injected for tests; defaults to setTimeout. */
  sleep?(ms: number): Promise<void>;
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function applyClusterStep(
  client: KubeClient,
  desired: DesiredCluster,
  step: Step,
  hooks: ClusterApplyHooks = {},
): Promise<void> {
  hooks.onStep?.(step);
  switch (step.kind) {
    case "file":
      return; // done by the repository phase
    case "namespace":
      await client.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: step.name } });
      return;
    case "components":
      await installComponents(
        client,
        desired.components,
        desired.timeoutMs,
        hooks.sleep ?? defaultSleep,
      );
      return;
    case "secret":
      await client.apply(secretObject(desired));
      return;
    case "pullSecret":
      // A Secret's type cannot be changed in place: one of another type is replaced.
      if (step.recreate) {
        await client.delete(`/api/v1/namespaces/${step.namespace}/secrets/${step.name}`);
      }
      await client.apply(pullSecretObject(desired));
      return;
    case "sync":
      await client.apply(
        step.object === "GitRepository" ? desired.gitRepository : desired.kustomization,
      );
      return;
    case "migrate":
      await migrateCrd(client, step.crd, step.version);
      return;
  }
}

export function secretObject(desired: DesiredCluster): KubeObject {
  return secretWithDigest(desired.secret, "Opaque");
}

/**
 * The image pull secret, as flux2 pkg/bootstrap reconcileImagePullSecret makes it (type
 * kubernetes.io/dockerconfigjson, key .dockerconfigjson), with fluxfleet's credentials digest.
 */
export function pullSecretObject(desired: DesiredCluster): KubeObject {
  if (!desired.pullSecret) throw new Error("no image pull secret is configured");
  return secretWithDigest(desired.pullSecret, DOCKER_CONFIG_JSON_TYPE);
}

function secretWithDigest(
  secret: { name: string; namespace: string; data: Record<string, string> },
  type: string,
): KubeObject {
  const enc = new TextEncoder();
  const data: Record<string, string> = {};
  for (const [k, v] of Object.entries(secret.data)) {
    data[k] = btoa(String.fromCharCode(...enc.encode(v)));
  }
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: {
      name: secret.name,
      namespace: secret.namespace,
      annotations: { [DIGEST_ANNOTATION]: credentialsDigest(secret.data) },
    },
    type,
    data,
  };
}

/** Two stages, as flux: CRDs and Namespaces first, wait until the CRDs are Established, then the rest. */
async function installComponents(
  client: KubeClient,
  objects: KubeObject[],
  timeoutMs: number,
  sleep: (ms: number) => Promise<void>,
): Promise<void> {
  const first = objects.filter((o) =>
    o.kind === "CustomResourceDefinition" || o.kind === "Namespace"
  );
  const rest = objects.filter((o) => !first.includes(o));
  for (const o of first) await client.apply(o);
  const crds = first.filter((o) => o.kind === "CustomResourceDefinition");
  const deadline = Date.now() + timeoutMs;
  for (const crd of crds) {
    while (true) {
      const live = await client.get(await client.objectPath(crd));
      const conds =
        ((live?.status as { conditions?: { type: string; status: string }[] })?.conditions) ?? [];
      if (conds.some((c) => c.type === "Established" && c.status === "True")) break;
      if (Date.now() > deadline) {
        throw new Error(`CRD ${crd.metadata.name} was not Established within the timeout`);
      }
      await sleep(250);
    }
  }
  client.resetDiscovery();
  for (const o of rest) await client.apply(o);
}

export interface WaitOptions {
  /** `<branch>@sha1:<sha>` the objects must report; undefined accepts any revision. */
  revision?: string;
  timeoutMs: number;
  intervalMs?: number;
  sleep?(ms: number): Promise<void>;
  onWait?(message: string): void;
  signal?: AbortSignal;
  /**
   * Whether a revision other than the one pushed includes it: someone pushed on top of our
   * commit while we waited (a busy fleet repository), so the cluster will never report ours.
   */
  laterRevision?(revision: string): Promise<boolean>;
}

/**
 * Polls GitRepository then Kustomization until Ready for the expected revision (flux2
 * pkg/bootstrap health check). A Ready=False that persists over three polls fails at once;
 * otherwise the timeout error carries the last condition seen.
 */
export async function waitForSync(
  client: KubeClient,
  desired: DesiredCluster,
  opts: WaitOptions,
): Promise<void> {
  const sleep = opts.sleep ?? defaultSleep;
  const deadline = Date.now() + opts.timeoutMs;
  for (const obj of [desired.gitRepository, desired.kustomization]) {
    const label = `${obj.kind} ${obj.metadata.namespace}/${obj.metadata.name}`;
    let last = "not found yet";
    let falseCount = 0;
    while (true) {
      const o = await getFluxObject(client, obj);
      if (o) {
        const caughtUp = o.observedGeneration === undefined ||
          o.observedGeneration === o.generation;
        const revOk = opts.revision === undefined || o.revision === opts.revision ||
          (o.revision !== undefined && o.ready?.status === "True" &&
            (await opts.laterRevision?.(o.revision)) === true);
        if (o.suspended) {
          throw new Error(`${label} is suspended; resume it (flux resume) and re-run`);
        }
        if (o.ready?.status === "True" && caughtUp && revOk) break;
        last = o.ready
          ? `Ready=${o.ready.status}${o.ready.reason ? ` (${o.ready.reason})` : ""}: ${
            o.ready.message ?? ""
          }`
          : "no Ready condition yet (controller has not reconciled it)";
        if (o.ready?.status === "True" && !revOk) {
          last = `Ready at revision ${o.revision}, waiting for ${opts.revision}`;
        }
        falseCount = o.ready?.status === "False" && caughtUp ? falseCount + 1 : 0;
        if (falseCount >= 3) throw new Error(`${label} failed: ${last}`);
      }
      if (opts.signal?.aborted) {
        throw new Error(`interrupted while waiting for ${label}; last status: ${last}`);
      }
      if (Date.now() >= deadline) {
        throw new Error(
          `timed out after ${
            Math.round(opts.timeoutMs / 1000)
          }s waiting for ${label} to be Ready; last status: ${last}`,
        );
      }
      opts.onWait?.(`${label}: ${last}`);
      await sleep(opts.intervalMs ?? 1000);
    }
  }
  // Then the controllers themselves, as flux2 bootstrap checks them with kstatus.
  for (const dep of desired.components.filter((o) => o.kind === "Deployment")) {
    const label = `Deployment ${dep.metadata.namespace}/${dep.metadata.name}`;
    while (true) {
      const live = await client.get(await client.objectPath(dep));
      const status = (live?.status ?? {}) as {
        conditions?: { type: string; status: string; message?: string }[];
      };
      const available = status.conditions?.find((c) => c.type === "Available");
      if (available?.status === "True") break;
      if (opts.signal?.aborted) throw new Error(`interrupted while waiting for ${label}`);
      if (Date.now() >= deadline) {
        throw new Error(
          `timed out waiting for ${label} to be available; last status: ${
            available?.message ?? (live ? "no Available condition" : "not found")
          }`,
        );
      }
      await sleep(opts.intervalMs ?? 1000);
    }
  }
}
