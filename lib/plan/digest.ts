/**
 * Digests saved with a plan so that `apply --plan-file` can refuse a stale plan (like Terraform):
 * of what was observed for one cluster, and of what its steps would write. Secret values never
 * enter them: only key names.
 */
import { createHash } from "node:crypto";
import type { ObservedCluster, ObservedFluxObject, ObservedRepo, PlannedCluster } from "./types.ts";

function fluxPart(o: ObservedFluxObject | undefined) {
  return o ? { spec: o.spec, generation: o.generation, revision: o.revision ?? null } : null;
}

/** Stable JSON: object keys sorted, so equal states give equal digests. */
function stable(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stable).join(",")}]`;
  if (v && typeof v === "object") {
    const entries = Object.entries(v as Record<string, unknown>)
      .filter(([, x]) => x !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${stable(x)}`).join(",")}}`;
  }
  return JSON.stringify(v ?? null);
}

/**
 * What one cluster's observation was, as a digest: its files enter by their own digests
 * (`fileDigest`), so a file most clusters share (gotk-components.yaml) is hashed once per run, not
 * once per cluster. (Before 2026-12 the files entered whole: a plan saved by an older version now
 * reads as stale, "… changed since the plan was made", and is made again.)
 */
export function observedDigest(repo: ObservedRepo, cluster: ObservedCluster): string {
  const files: Record<string, string | null> = {};
  for (const [path, content] of Object.entries(repo.files)) {
    files[path] = content === null ? null : fileDigest(content);
  }
  const state = {
    repo: { head: repo.head, branchExists: repo.branchExists, files },
    cluster: {
      namespace: cluster.namespace,
      secretKeys: cluster.secret ? Object.keys(cluster.secret).sort() : null,
      // Only for clusters with an image pull secret (undefined is left out: other digests stay).
      pullSecret: cluster.pullSecret
        ? { type: cluster.pullSecret.type, keys: Object.keys(cluster.pullSecret.data).sort() }
        : undefined,
      gitRepository: fluxPart(cluster.gitRepository),
      kustomization: fluxPart(cluster.kustomization),
    },
  };
  return "sha256:" + createHash("sha256").update(stable(state)).digest("hex");
}

const textDigests = new Map<string, string>();

/**
 * Observed contents already hashed, by content: clusters of other repositories hold equal files in
 * strings of their own. Bounded (what it keeps is the first copy of each content): past
 * `OBSERVED_CACHE_CHARS` a content is hashed without being kept, so a fleet whose files all
 * differ does not hold them all until the run ends.
 */
const observedDigests = new Map<string, string>();
const OBSERVED_CACHE_CHARS = 8 * 1024 * 1024;
let observedCachedChars = 0;

function fileDigest(content: string): string {
  let d = observedDigests.get(content);
  if (d === undefined) {
    d = sha256(content);
    if (observedCachedChars + content.length <= OBSERVED_CACHE_CHARS) {
      observedDigests.set(content, d);
      observedCachedChars += content.length;
    }
  }
  return d;
}
const objectDigests = new WeakMap<object, string>();

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** A file's content or a list of objects, hashed once however many clusters share them. */
function digestOf(v: string | object): string {
  if (typeof v === "string") {
    let d = textDigests.get(v);
    if (!d) textDigests.set(v, d = sha256(v));
    return d;
  }
  let d = objectDigests.get(v);
  if (!d) objectDigests.set(v, d = sha256(stable(v)));
  return d;
}

/**
 * A digest of what a cluster's steps would write, as a saved plan pins it (`apply --plan-file`
 * refuses a plan whose payloads changed): file contents, the components and sync objects, the
 * pull secret's registry. Secret values never enter it — a secret step counts by its key names.
 */
export function payloadDigest(planned: PlannedCluster): string | undefined {
  const d = planned.desired;
  if (!d) return undefined;
  const parts = planned.plan.steps.map((s) => {
    switch (s.kind) {
      case "file":
        return [s.path, digestOf(d.files.find((f) => f.path === s.path)?.content ?? "")];
      case "components":
        return [
          s.kind,
          planned.customKustomization ? "kustomization.yaml" : digestOf(d.components),
        ];
      case "sync":
        return [s.kind, digestOf(s.object === "GitRepository" ? d.gitRepository : d.kustomization)];
      case "pullSecret":
        return [s.kind, d.pullSecret?.registry ?? null];
      default:
        return [s.kind];
    }
  });
  return "sha256:" + sha256(stable(parts));
}
