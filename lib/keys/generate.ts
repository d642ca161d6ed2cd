/**
 * SSH key pair generation for deploy keys (flux bootstrap generates ECDSA P-384 by default, RSA
 * 2048 or ed25519 on request). node:crypto's callback form keeps RSA-4096 (seconds of CPU) off
 * the event loop; sshpk converts the PKCS#8 result to the OpenSSH format every consumer accepts
 * (OpenSSH itself rejects ed25519 in PKCS#8).
 */
import { generateKeyPair as nodeGenerateKeyPair } from "node:crypto";
import { sha256Fingerprint } from "./fingerprint.ts";
import { loadSshpk } from "./sshpk.ts";

export type KeyAlgorithm = "ed25519" | "ecdsa" | "rsa";
export type EcdsaCurve = "p256" | "p384" | "p521";

export interface KeySpec {
  algorithm: KeyAlgorithm;
  /** Default p384, as flux bootstrap. */
  ecdsaCurve?: EcdsaCurve;
  /** Default 2048; 2048..8192. */
  rsaBits?: number;
}

export interface SshKeyPair {
  /** OpenSSH format ("-----BEGIN OPENSSH PRIVATE KEY-----"), unencrypted. */
  privateKey: string;
  /** authorized_keys line "ssh-ed25519 AAAA… comment". */
  publicKey: string;
  /** "SHA256:…" as `ssh-keygen -lf` prints it. */
  fingerprint: string;
}

const CURVES: Record<EcdsaCurve, string> = {
  p256: "prime256v1",
  p384: "secp384r1",
  p521: "secp521r1",
};

const MIN_RSA_BITS = 2048;
const MAX_RSA_BITS = 8192;

type NodeKeyRequest =
  | { type: "ed25519" }
  | { type: "ec"; namedCurve: string }
  | { type: "rsa"; modulusLength: number };

function nodeRequest(spec: KeySpec): NodeKeyRequest {
  switch (spec.algorithm) {
    case "ed25519":
      return { type: "ed25519" };
    case "ecdsa": {
      const curve = spec.ecdsaCurve ?? "p384";
      if (!Object.hasOwn(CURVES, curve)) {
        throw new Error(`unsupported ECDSA curve "${curve}": use p256, p384 or p521`);
      }
      return { type: "ec", namedCurve: CURVES[curve] };
    }
    case "rsa": {
      const bits = spec.rsaBits ?? MIN_RSA_BITS;
      if (!Number.isInteger(bits) || bits < MIN_RSA_BITS || bits > MAX_RSA_BITS || bits % 8 !== 0) {
        throw new Error(
          `unsupported RSA key size ${bits}: use a multiple of 8 from ${MIN_RSA_BITS} to ${MAX_RSA_BITS}`,
        );
      }
      return { type: "rsa", modulusLength: bits };
    }
    default:
      throw new Error(
        `unsupported key algorithm "${String(spec.algorithm)}": use ed25519, ecdsa or rsa`,
      );
  }
}

const ENCODING = {
  publicKeyEncoding: { type: "spki", format: "pem" },
  privateKeyEncoding: { type: "pkcs8", format: "pem" },
} as const;

/** PKCS#8 PEM of a fresh private key, generated without blocking the event loop. */
function generatePkcs8(req: NodeKeyRequest): Promise<string> {
  return new Promise((resolve, reject) => {
    const done = (err: Error | null, _publicKey: string, privateKey: string): void => {
      if (err) reject(new Error(`key generation failed: ${err.message}`));
      else resolve(privateKey);
    };
    // One call per branch: node's overloads are keyed on the literal key type.
    if (req.type === "ed25519") nodeGenerateKeyPair("ed25519", ENCODING, done);
    else if (req.type === "ec") {
      nodeGenerateKeyPair("ec", { namedCurve: req.namedCurve, ...ENCODING }, done);
    } else nodeGenerateKeyPair("rsa", { modulusLength: req.modulusLength, ...ENCODING }, done);
  });
}

/** Generates a key pair; `comment` ends up in the public line and in the private key. */
export async function generateKeyPair(spec: KeySpec, comment = ""): Promise<SshKeyPair> {
  if (/[\r\n]/.test(comment)) throw new Error("the key comment must be a single line");
  const pkcs8 = await generatePkcs8(nodeRequest(spec));
  const key = (await loadSshpk()).parsePrivateKey(pkcs8, "pkcs8");
  key.comment = comment;
  const pub = key.toPublic();
  return {
    privateKey: key.toString("openssh"),
    publicKey: pub.toString("ssh").trim(),
    fingerprint: sha256Fingerprint(pub.toBuffer("rfc4253")),
  };
}
