/**
 * OpenSSH public keys as GitLab's deploy keys API takes them: one line "type base64 [comment]",
 * checked by decoding the blob (its first field must name the same type, as sshd would read it),
 * with the fingerprints the API answers: `fingerprint` (MD5, colon hex) and `fingerprint_sha256`
 * ("SHA256:" + unpadded base64) (GitLab doc/api/deploy_keys.md).
 */
import { createHash } from "node:crypto";

export interface PublicKey {
  /** "type base64", the part sshd matches: the same key with another comment is the same key. */
  material: string;
  fingerprint: string;
  fingerprintSha256: string;
}

const TYPES = new Set([
  "ssh-rsa",
  "ssh-dss",
  "ssh-ed25519",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
  "sk-ecdsa-sha2-nistp256@openssh.com",
  "sk-ssh-ed25519@openssh.com",
]);

/** A key line is short; anything longer is not a key (and is not held in memory as one). */
const MAX_KEY_CHARS = 16 * 1024;

function decodeBase64(text: string): Uint8Array | undefined {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text) || text.length % 4 !== 0) return undefined;
  try {
    return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  } catch {
    return undefined;
  }
}

/** The type string that opens an SSH key blob (uint32 length + bytes), if it is well formed. */
function blobType(blob: Uint8Array): string | undefined {
  if (blob.length < 4) return undefined;
  const len = new DataView(blob.buffer, blob.byteOffset, 4).getUint32(0);
  if (len === 0 || len > 64 || 4 + len > blob.length) return undefined;
  return new TextDecoder().decode(blob.subarray(4, 4 + len));
}

/** Parses one OpenSSH public key line; undefined when it is not one. */
export function parsePublicKey(text: string): PublicKey | undefined {
  if (text.length > MAX_KEY_CHARS) return undefined;
  const fields = text.trim().split(/\s+/);
  if (fields.length < 2 || !TYPES.has(fields[0])) return undefined;
  const blob = decodeBase64(fields[1]);
  if (!blob || blobType(blob) !== fields[0]) return undefined;
  const md5 = createHash("md5").update(blob).digest("hex");
  const sha = createHash("sha256").update(blob).digest("base64").replace(/=+$/, "");
  return {
    material: `${fields[0]} ${fields[1]}`,
    fingerprint: md5.match(/../g)!.join(":"),
    fingerprintSha256: `SHA256:${sha}`,
  };
}
