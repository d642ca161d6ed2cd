/**
 * SSH public-key wire helpers: the "SHA256:…" fingerprint `ssh-keygen -lf` prints, the key type a
 * blob names, and reading the key out of an authorized_keys / known_hosts style line.
 */
import { createHash } from "node:crypto";
import { Buffer } from "node:buffer";

/** Key types we recognise in authorized_keys and known_hosts lines (certificates excluded). */
export const PUBLIC_KEY_TYPES: ReadonlySet<string> = new Set([
  "ssh-ed25519",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
  "ssh-rsa",
  "ssh-dss",
  "sk-ssh-ed25519@openssh.com",
  "sk-ecdsa-sha2-nistp256@openssh.com",
]);

/** `"SHA256:" + base64(sha256(blob))` without padding, exactly as `ssh-keygen -lf` prints it. */
export function sha256Fingerprint(blob: Uint8Array): string {
  const digest = createHash("sha256").update(blob).digest("base64");
  return `SHA256:${digest.replace(/=+$/, "")}`;
}

/** The type string every SSH public key blob starts with (RFC 4253 §6.6), or null if malformed. */
export function blobKeyType(blob: Uint8Array): string | null {
  if (blob.length < 4) return null;
  const len = new DataView(blob.buffer, blob.byteOffset, blob.byteLength).getUint32(0);
  if (len === 0 || len > 64 || 4 + len > blob.length) return null;
  const type = new TextDecoder().decode(blob.subarray(4, 4 + len));
  return /^[\x21-\x7e]+$/.test(type) ? type : null;
}

/** Strict base64 → bytes; null when the text is not base64 (so garbage never fingerprints). */
export function decodeBase64(text: string): Uint8Array | null {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text) || text.length % 4 === 1) return null;
  return new Uint8Array(Buffer.from(text, "base64"));
}

export function encodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("base64");
}

export interface PublicKeyText {
  type: string;
  base64: string;
  blob: Uint8Array;
  comment: string;
}

/**
 * Finds "type base64 [comment]" in a line that may start with authorized_keys options
 * (`restrict,command="…" ssh-ed25519 AAAA…`) or known_hosts host patterns. The blob must name the
 * same type as the text, as OpenSSH requires.
 */
export function findPublicKey(line: string): PublicKeyText | null {
  const tokens = line.trim().split(/\s+/);
  for (let i = 0; i < tokens.length - 1; i++) {
    if (!PUBLIC_KEY_TYPES.has(tokens[i])) continue;
    const blob = decodeBase64(tokens[i + 1]);
    if (!blob || blobKeyType(blob) !== tokens[i]) continue;
    return {
      type: tokens[i],
      base64: tokens[i + 1],
      blob,
      comment: tokens.slice(i + 2).join(" "),
    };
  }
  return null;
}
