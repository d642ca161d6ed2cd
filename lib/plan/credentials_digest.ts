/**
 * Which credentials fluxfleet last wrote to a cluster's source secret, kept as a salted SHA-256
 * in an annotation. It lets the planner tell "the manifest's credentials changed" (apply them)
 * from "someone changed the secret in the cluster" (report it, overwrite only on rotate).
 * The values hashed are tokens and private keys, high-entropy by nature; the salt is random.
 */
import { createHash, randomBytes } from "node:crypto";

export const DIGEST_ANNOTATION = "fluxfleet.dev/credentials-digest";

function digest(salt: string, data: Record<string, string>): string {
  const h = createHash("sha256").update(salt);
  for (const k of Object.keys(data).sort()) h.update(`\0${k}\0${data[k]}`);
  return h.digest("hex");
}

export function credentialsDigest(data: Record<string, string>): string {
  const salt = randomBytes(16).toString("hex");
  return `${salt}:${digest(salt, data)}`;
}

export function matchesDigest(annotation: string, data: Record<string, string>): boolean {
  const [salt, hex] = annotation.split(":");
  return salt !== undefined && hex !== undefined && digest(salt, data) === hex;
}
