/**
 * What a plan says about the SSH key fluxfleet generates for a cluster (`sshKey`). Pure.
 *
 * A key that does not exist yet is never shown — it is named by its kind and made by apply, as
 * Terraform shows values known after apply. Once the secret holds it, every plan shows that key
 * and whether the repository accepts it, until it does; then nothing more is said.
 */
import type { ClusterSshKey } from "./types.ts";

export interface GeneratedKeySpec {
  algorithm: "ed25519" | "ecdsa" | "rsa";
  ecdsaCurve?: string;
  rsaBits?: number;
}

/** "ecdsa-p384", "ed25519", "rsa-4096": the kind of key apply generates. */
export function generatedKeyKind(spec: GeneratedKeySpec): string {
  switch (spec.algorithm) {
    case "ecdsa":
      return `ecdsa-${spec.ecdsaCurve ?? "p384"}`;
    case "rsa":
      return `rsa-${spec.rsaBits ?? 2048}`;
    default:
      return spec.algorithm;
  }
}

export type KeyAcceptance = { accepted: true } | { accepted: false; reason: string };

export type ClusterKeyFacts =
  & (
    /** The secret holds no key (or the cluster is rotated): apply generates one of this kind. */
    | { generateAtApply: string }
    /** The key the secret holds, with what the repository said about it. */
    | { existing: { publicKey: string; fingerprint: string; acceptance: KeyAcceptance } }
  )
  & {
    /** A provider registers the key as an access key; otherwise the user adds it by hand. */
    registeredByApi: boolean;
  };

export interface ClusterKeyReport {
  sshKey: ClusterSshKey;
  notes: string[];
  warnings: string[];
}

const MAX_REASON = 300;

/** The server's answer, on one line and bounded: it comes from the network. */
function oneLine(reason: string): string {
  // deno-lint-ignore no-control-regex
  const flat = reason.replace(/[\x00-\x1f\x7f-\x9f]+/g, " ").trim();
  return flat.length > MAX_REASON ? `${flat.slice(0, MAX_REASON)}…` : flat;
}

export function describeClusterKey(facts: ClusterKeyFacts): ClusterKeyReport {
  if ("generateAtApply" in facts) {
    return {
      sshKey: {
        generatedAtApply: true,
        algorithm: facts.generateAtApply,
        publicKey: null,
        fingerprint: null,
      },
      // A provider's access-key step says it is registered with the key generated at apply.
      notes: facts.registeredByApi ? [] : [
        "after apply, add the cluster's public key to the repository as a read-only deploy key (shown then)",
      ],
      warnings: [],
    };
  }
  const { publicKey, fingerprint, acceptance } = facts.existing;
  const sshKey: ClusterSshKey = {
    generatedAtApply: false,
    publicKey,
    fingerprint,
    accepted: acceptance.accepted,
    ...(acceptance.accepted ? {} : { reason: oneLine(acceptance.reason) }),
  };
  if (acceptance.accepted) return { sshKey, notes: [], warnings: [] };
  if (facts.registeredByApi) {
    return {
      sshKey,
      notes: [
        `apply registers this public key as a repository access key: ${publicKey} (fingerprint ${fingerprint})`,
      ],
      warnings: [],
    };
  }
  return {
    sshKey,
    notes: [
      `add this public key to the repository as a read-only deploy key: ${publicKey} (fingerprint ${fingerprint})`,
    ],
    warnings: [
      `the cluster's SSH key ${fingerprint} is not accepted yet by the repository (${
        oneLine(acceptance.reason)
      })`,
    ],
  };
}

/** Access key labels unique per cluster, repository path and namespace (flux users hit collisions). */
export function accessKeyLabel(cluster: string, path: string, namespace: string): string {
  return `fluxfleet-${cluster}-${path.replaceAll("/", "-")}-${namespace}`.slice(0, 100);
}
