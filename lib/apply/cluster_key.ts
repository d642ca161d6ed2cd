/**
 * Generated-key mode (`sshKey`, flux's --ssh-hostname): the cluster's SSH key is made once, by
 * apply, right before the secret is written, and kept in the cluster. Plans read it from the
 * secret — they never make one to show — and check with a read-only SSH handshake whether the
 * repository accepts it (see lib/plan/cluster_key.ts for what the plan then says).
 */
import { type ParsedPrivateKey, parsePrivateKey } from "../keys/parse.ts";
import { generateKeyPair, type KeySpec } from "../keys/generate.ts";
import { findPublicKey } from "../keys/fingerprint.ts";
import { sshSecretData } from "../plan/desired.ts";
import { generatedKeyKind, type KeyAcceptance } from "../plan/cluster_key.ts";
import { registerSecret } from "../util/redact.ts";
import { sshKeyAccepted } from "../git/remote.ts";
import { checkInterrupted } from "./options.ts";
import type { ClusterKey, DesiredCluster, KeyCheckTarget, PlannedCluster } from "../plan/types.ts";

/**
 * The key in the secret's `identity`, its public half derived from it (what the cluster really
 * presents, whatever `identity.pub` says). Errors name the secret, never key material.
 */
export async function readClusterKey(
  identity: string,
  knownHosts: string,
  secret: string,
): Promise<ClusterKey> {
  registerSecret(identity.trim());
  let parsed: ParsedPrivateKey;
  try {
    parsed = await parsePrivateKey(identity);
  } catch (e) {
    // parsePrivateKey's messages are fixed sentences without key material.
    throw new Error(
      `secret ${secret}: identity: ${(e as Error).message}; set rotate: true to replace the key`,
    );
  }
  registerSecret(parsed.openssh.trim());
  registerSecret(parsed.ssh2Key.trim());
  return {
    identity,
    publicKey: printablePublicKey(parsed.publicKey),
    fingerprint: parsed.fingerprint,
    knownHosts,
  };
}

/** "type base64 [comment]", the comment kept only when it is plain printable text. */
function printablePublicKey(line: string): string {
  const key = findPublicKey(line)!;
  const comment = /^[\x21-\x7e]+( [\x21-\x7e]+)*$/.test(key.comment) ? ` ${key.comment}` : "";
  return `${key.type} ${key.base64}${comment}`;
}

/** Whether the repository accepts the key: an ls-remote over SSH, read-only. */
export async function checkClusterKey(
  target: KeyCheckTarget,
  key: ClusterKey,
  timeoutMs?: number,
): Promise<KeyAcceptance> {
  const r = await sshKeyAccepted(
    target.url,
    key.identity,
    key.knownHosts,
    target.hostKeyAlgorithms,
    timeoutMs,
  );
  if (r.ok) return { accepted: true };
  // The transport's refusal message goes on with advice for keys that push ("add the public
  // key … with write access"); here the key to add, read-only, is said right after.
  return { accepted: false, reason: r.reason.split(": add the public key")[0] };
}

/**
 * Apply, right before the secret step: generates the key the plan announced and returns the
 * desired state holding it, and the key, to be checked before the cluster is pointed at it.
 */
export async function generateClusterKey(
  cluster: string,
  spec: NonNullable<PlannedCluster["generateKey"]>,
  desired: DesiredCluster,
  event?: (message: string) => void,
): Promise<{ desired: DesiredCluster; key: ClusterKey }> {
  // RSA 4096 takes seconds: generated without blocking, and said so.
  event?.(`generating an ${generatedKeyKind(spec)} SSH key`);
  const pair = await generateKeyPair(
    {
      algorithm: spec.algorithm,
      ecdsaCurve: spec.ecdsaCurve as KeySpec["ecdsaCurve"],
      rsaBits: spec.rsaBits,
    },
    `fluxfleet-${cluster}`,
  );
  registerSecret(pair.privateKey.trim());
  const knownHosts = desired.secret.data.known_hosts;
  const { name, namespace } = desired.secret;
  return {
    desired: {
      ...desired,
      secret: { name, namespace, data: sshSecretData(pair.privateKey, pair.publicKey, knownHosts) },
    },
    key: {
      identity: pair.privateKey,
      publicKey: pair.publicKey,
      fingerprint: pair.fingerprint,
      knownHosts,
    },
  };
}

/** Apply: the key must be accepted before the cluster reads with it; stops with what to add. */
export async function requireAcceptedKey(
  target: KeyCheckTarget,
  key: ClusterKey,
  signal: AbortSignal,
  timeoutMs?: number,
): Promise<void> {
  checkInterrupted(signal, "checking the cluster's SSH key");
  const r = await checkClusterKey(target, key, timeoutMs);
  if (!r.accepted) {
    throw new Error(
      `the repository does not accept the cluster's SSH key yet (${r.reason}); add this public key ` +
        `with read access (deploy key), then re-run: ${key.publicKey.trim()} (fingerprint ${key.fingerprint})`,
    );
  }
}
