/**
 * Reads a private key in whatever form a user has it (OpenSSH, encrypted or not; PKCS#1 RSA PEM;
 * SEC1 EC PEM; PKCS#8; legacy encrypted PEM) and returns an unencrypted OpenSSH form that ssh2
 * accepts (ssh2 rejects PKCS#8 and, under Deno, legacy encrypted PEM).
 *
 * Error messages are fixed sentences: the underlying parsers' messages can quote bytes of the key,
 * so they are never passed on.
 */
import { createPrivateKey } from "node:crypto";
import { Buffer } from "node:buffer";
import { findPublicKey, sha256Fingerprint } from "./fingerprint.ts";
import { ecSec1Pem, needsSec1 } from "./sec1.ts";
import { loadSshpk, type SshpkApi, type SshpkPrivateKey } from "./sshpk.ts";

export interface ParsedPrivateKey {
  /** Unencrypted OpenSSH form ("-----BEGIN OPENSSH PRIVATE KEY-----"): store this (Flux secret). */
  openssh: string;
  /**
   * The form to hand ssh2: `openssh`, except SEC1 PEM for ECDSA P-256/P-384, which ssh2 cannot
   * sign with under Deno half of the time when given OpenSSH form (see sec1.ts).
   */
  ssh2Key: string;
  /** authorized_keys line ("type base64 [comment]"). */
  publicKey: string;
  /** "SHA256:…" of the public key. */
  fingerprint: string;
  /** Public key type: "ssh-ed25519", "ecdsa-sha2-nistp384", "ssh-rsa" … */
  type: string;
  /** The input was passphrase-protected. */
  encrypted: boolean;
}

export const NEEDS_PASSPHRASE = "the private key is encrypted and needs a passphrase";
export const WRONG_PASSPHRASE = "the private key is encrypted and the passphrase is wrong";
const UNREADABLE =
  "the private key could not be read: expected an OpenSSH, PEM (PKCS#1, SEC1) or PKCS#8 private key";

const OPENSSH_BEGIN = "-----BEGIN OPENSSH PRIVATE KEY-----";
const OPENSSH_END = "-----END OPENSSH PRIVATE KEY-----";

type Kind = "openssh" | "encrypted-pem" | "other";

function kindOf(text: string): Kind {
  if (text.includes(OPENSSH_BEGIN)) return "openssh";
  // Legacy OpenSSL encryption (Proc-Type header) and PKCS#8 EncryptedPrivateKeyInfo.
  if (/^Proc-Type:\s*4,\s*ENCRYPTED/m.test(text)) return "encrypted-pem";
  if (text.includes("-----BEGIN ENCRYPTED PRIVATE KEY-----")) return "encrypted-pem";
  return "other";
}

/** Whether an OpenSSH-format key names a cipher other than "none" (openssh-key-v1 header). */
function opensshIsEncrypted(text: string): boolean {
  const start = text.indexOf(OPENSSH_BEGIN) + OPENSSH_BEGIN.length;
  const end = text.indexOf(OPENSSH_END, start);
  if (end < 0) throw new Error(UNREADABLE);
  const body = Buffer.from(text.slice(start, end).replace(/\s+/g, ""), "base64");
  const magic = "openssh-key-v1\0";
  if (body.subarray(0, magic.length).toString("latin1") !== magic) throw new Error(UNREADABLE);
  const len = body.length >= magic.length + 4 ? body.readUInt32BE(magic.length) : -1;
  if (len <= 0 || len > 64) throw new Error(UNREADABLE);
  const cipher = body.subarray(magic.length + 4, magic.length + 4 + len).toString("latin1");
  return cipher !== "none";
}

function looksLikePublicKey(text: string): boolean {
  return findPublicKey(text.split("\n")[0]) !== null ||
    text.includes("---- BEGIN SSH2 PUBLIC KEY ----") ||
    text.includes("-----BEGIN PUBLIC KEY-----");
}

/**
 * Encrypted PEM goes through node:crypto: sshpk decrypts it with a stream whose "bad decrypt"
 * error is thrown from an event handler, i.e. as an uncaught exception that kills the process.
 */
function decryptPem(sshpk: SshpkApi, text: string, passphrase: string): SshpkPrivateKey {
  let pkcs8: string;
  try {
    const key = createPrivateKey({ key: text, format: "pem", passphrase });
    pkcs8 = String(key.export({ type: "pkcs8", format: "pem" }));
  } catch {
    // A wrong passphrase shows as "bad decrypt" or, when the padding happens to fit, as garbage.
    throw new Error(WRONG_PASSPHRASE);
  }
  return readWithSshpk(sshpk, pkcs8, "pkcs8");
}

function readWithSshpk(
  sshpk: SshpkApi,
  text: string,
  format: "auto" | "pkcs8" | "openssh",
  passphrase?: string,
): SshpkPrivateKey {
  try {
    return sshpk.parsePrivateKey(text, format, passphrase === undefined ? {} : { passphrase });
  } catch {
    throw new Error(UNREADABLE);
  }
}

/** Parses a private key; `passphrase` is needed only for encrypted keys. */
export async function parsePrivateKey(
  text: string,
  passphrase?: string,
): Promise<ParsedPrivateKey> {
  const sshpk = await loadSshpk();
  // Keys pasted on Windows or into YAML often carry CRLF or stray indentation.
  const clean = text.replace(/\r\n?/g, "\n").split("\n").map((l) => l.trim()).join("\n").trim() +
    "\n";
  if (looksLikePublicKey(clean)) {
    throw new Error("this is a public key; the private key is needed (the file without .pub)");
  }
  const kind = kindOf(clean);
  const encrypted = kind === "encrypted-pem" || (kind === "openssh" && opensshIsEncrypted(clean));
  if (encrypted && !passphrase) throw new Error(NEEDS_PASSPHRASE);
  let key: SshpkPrivateKey;
  if (kind === "encrypted-pem") key = decryptPem(sshpk, clean, passphrase ?? "");
  else if (encrypted) {
    try {
      // OpenSSH keys decrypt with padding off, so sshpk reports a wrong passphrase synchronously.
      key = sshpk.parsePrivateKey(clean, "openssh", { passphrase });
    } catch (e) {
      const wrong = e instanceof Error && e.message.includes("Incorrect passphrase");
      throw new Error(wrong ? WRONG_PASSPHRASE : UNREADABLE);
    }
  } else key = readWithSshpk(sshpk, clean, kind === "openssh" ? "openssh" : "auto");
  if (key.type === "dsa") {
    throw new Error(
      "DSA keys are not supported (OpenSSH disabled them): use ed25519, ECDSA or RSA",
    );
  }
  const pub = key.toPublic();
  const blob = pub.toBuffer("rfc4253");
  const line = pub.toString("ssh").trim();
  const parsed = findPublicKey(line);
  if (!parsed) throw new Error(UNREADABLE);
  // sshpk names keys without a comment "(unnamed)"; that is not a comment worth publishing.
  const comment = key.comment && key.comment !== "(unnamed)" ? ` ${key.comment}` : "";
  const openssh = key.toString("openssh");
  const d = key.part.d?.data;
  const q = key.part.Q?.data;
  const ssh2Key = key.type === "ecdsa" && needsSec1(key.curve) && d && q
    ? ecSec1Pem(key.curve ?? "", d, q)
    : openssh;
  return {
    openssh,
    ssh2Key,
    publicKey: `${parsed.type} ${parsed.base64}${comment}`,
    fingerprint: sha256Fingerprint(blob),
    type: parsed.type,
    encrypted,
  };
}

/** "SHA256:…" of an authorized_keys / known_hosts style public key line. */
export function publicKeyFingerprint(authorizedKeysLine: string): string {
  const key = findPublicKey(authorizedKeysLine);
  if (!key) throw new Error('not an SSH public key line (expected "<type> <base64> [comment]")');
  return sha256Fingerprint(key.blob);
}
