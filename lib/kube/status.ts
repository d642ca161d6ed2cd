/**
 * What `fluxfleet status` reads from one cluster, with GETs only: the Flux controllers (one list
 * of the namespace's Deployments), the flux-system GitRepository and Kustomization, and the
 * source secret (for its kind and the SSH key's fingerprint; no other value leaves this file).
 */
import type { KubeClient } from "./client.ts";
import { findPublicKey, sha256Fingerprint } from "../keys/fingerprint.ts";

export interface ControllerStatus {
  name: string;
  /** The image's tag ("v1.5.0"); the image when it has none. */
  version: string;
  /** app.kubernetes.io/version: the Flux release the controller belongs to. */
  release?: string;
  available: boolean;
  /** The Available condition's message when it is not. */
  message?: string;
}

export interface SyncStatus {
  ready: "True" | "False" | "Unknown";
  reason?: string;
  message?: string;
  suspended: boolean;
  revision?: string;
  /** When the revision was fetched (GitRepository) or applied (Kustomization's Ready time). */
  since?: string;
}

export interface ClusterStatus {
  cluster: string;
  /** The cluster could not be read (unreachable, refused): nothing else is set. */
  error?: string;
  installed: boolean;
  controllers: ControllerStatus[];
  source?: SyncStatus & { url?: string };
  kustomization?: SyncStatus;
  credentials?:
    | { kind: "ssh"; fingerprint?: string; created?: string }
    | { kind: "token"; created?: string }
    | { kind: "other"; created?: string };
}

export interface StatusTarget {
  namespace: string;
  secret: string;
  gitRepository: string;
  kustomization: string;
}

type Obj = Record<string, unknown>;

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
}

function conditions(o: Obj): Condition[] {
  const c = (o.status as { conditions?: Condition[] } | undefined)?.conditions;
  return Array.isArray(c) ? c : [];
}

function syncStatus(o: Obj): SyncStatus {
  const ready = conditions(o).find((c) => c.type === "Ready");
  const status = (o.status ?? {}) as {
    artifact?: { revision?: string; lastUpdateTime?: string };
    lastAppliedRevision?: string;
  };
  const state = ready?.status === "True" || ready?.status === "False" ? ready.status : "Unknown";
  return {
    ready: state,
    ...(ready?.reason ? { reason: ready.reason } : {}),
    ...(ready?.message ? { message: ready.message } : {}),
    suspended: (o.spec as { suspend?: boolean } | undefined)?.suspend === true,
    ...(status.artifact?.revision ?? status.lastAppliedRevision
      ? { revision: status.artifact?.revision ?? status.lastAppliedRevision }
      : {}),
    ...(status.artifact?.lastUpdateTime ?? ready?.lastTransitionTime
      ? { since: status.artifact?.lastUpdateTime ?? ready?.lastTransitionTime }
      : {}),
  };
}

function controller(d: Obj): ControllerStatus {
  const meta = d.metadata as { name: string; labels?: Record<string, string> };
  const image = ((d.spec as { template?: { spec?: { containers?: { image?: string }[] } } })
    ?.template?.spec?.containers?.[0]?.image) ?? "";
  const tag = /:([^:/@]+)(@.*)?$/.exec(image)?.[1];
  const available = conditions(d).find((c) => c.type === "Available");
  return {
    name: meta.name,
    version: tag ?? image,
    ...(meta.labels?.["app.kubernetes.io/version"]
      ? { release: meta.labels["app.kubernetes.io/version"] }
      : {}),
    available: available?.status === "True",
    ...(available?.status !== "True" && available?.message ? { message: available.message } : {}),
  };
}

function credentials(secret: Obj): NonNullable<ClusterStatus["credentials"]> {
  const data = (secret.data ?? {}) as Record<string, string>;
  const created = (secret.metadata as { creationTimestamp?: string }).creationTimestamp;
  const at = created ? { created } : {};
  if ("identity" in data) {
    // Only the public half is decoded.
    let fingerprint: string | undefined;
    try {
      const line = new TextDecoder().decode(
        Uint8Array.from(atob(data["identity.pub"] ?? ""), (c) => c.charCodeAt(0)),
      );
      const key = findPublicKey(line);
      if (key) fingerprint = sha256Fingerprint(key.blob);
    } catch { /* not base64: no fingerprint */ }
    return { kind: "ssh", ...(fingerprint ? { fingerprint } : {}), ...at };
  }
  if ("password" in data || "bearerToken" in data) return { kind: "token", ...at };
  return { kind: "other", ...at };
}

/** One cluster's status: four requests, each a GET, one of them a list. */
export async function readClusterStatus(
  cluster: string,
  client: KubeClient,
  t: StatusTarget,
): Promise<ClusterStatus> {
  const ns = encodeURIComponent(t.namespace);
  const [deployments, gitRepository, kustomization, secret] = await Promise.all([
    client.get(`/apis/apps/v1/namespaces/${ns}/deployments`),
    client.get(
      `/apis/source.toolkit.fluxcd.io/v1/namespaces/${ns}/gitrepositories/${
        encodeURIComponent(t.gitRepository)
      }`,
    ),
    client.get(
      `/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/${ns}/kustomizations/${
        encodeURIComponent(t.kustomization)
      }`,
    ),
    client.get(`/api/v1/namespaces/${ns}/secrets/${encodeURIComponent(t.secret)}`),
  ]);
  const items = ((deployments?.items ?? []) as Obj[]).filter((d) =>
    (d.metadata as { labels?: Record<string, string> }).labels?.["app.kubernetes.io/part-of"] ===
      "flux"
  );
  return {
    cluster,
    installed: items.length > 0 || kustomization !== undefined,
    controllers: items.map(controller).sort((a, b) => a.name.localeCompare(b.name)),
    ...(gitRepository
      ? {
        source: {
          ...syncStatus(gitRepository),
          url: String((gitRepository.spec as { url?: string }).url ?? ""),
        },
      }
      : {}),
    ...(kustomization ? { kustomization: syncStatus(kustomization) } : {}),
    ...(secret ? { credentials: credentials(secret) } : {}),
  };
}
