/**
 * Commit signing for the commits fluxfleet pushes: OpenPGP (as flux bootstrap's `--gpg-key-ring`,
 * `--gpg-passphrase`, `--gpg-key-id`) or SSH signatures (git's `gpg.format=ssh`, the SSHSIG format
 * of OpenSSH's PROTOCOL.sshsig). A signer is made once, before anything is contacted (a wrong
 * passphrase or an unusable key is an error then), and hands isomorphic-git an `onSign` callback.
 *
 * Error messages are fixed sentences naming the field: the underlying parsers' messages may quote
 * key material, so they are never passed on.
 */
import { createHash, createPrivateKey, createPublicKey, type KeyObject, sign } from "node:crypto";
import { Buffer } from "node:buffer";
// Types only: openpgp is loaded when a GPG key is configured (it costs every other run start-up).
import type * as openpgp from "openpgp";
import type { SignCallback } from "isomorphic-git";
import { parsePrivateKey } from "../keys/parse.ts";
import { findPublicKey } from "../keys/fingerprint.ts";
import { loadSshpk } from "../keys/sshpk.ts";
import { registerSecret } from "../util/redact.ts";
import { concatBytes } from "../util/bytes.ts";

/** The resolved secrets of `git.signing` (values, not references). */
export type SigningKeys =
  | { format: "openpgp"; keyRing: string; passphrase?: string; keyId?: string }
  | { format: "ssh"; privateKey: string; passphrase?: string };

export interface CommitSigner {
  format: "openpgp" | "ssh";
  /** Secret-free, for plans and logs: "signed with SSH key SHA256:… (ssh-ed25519)". */
  description: string;
  /**
   * What isomorphic-git gets as `signingKey` (it signs only when one is set): a public identifier;
   * the key itself stays inside `onSign`.
   */
  signingKey: string;
  onSign: SignCallback;
}

/** A key that cannot sign; `field` is the `git.signing.<gpg|ssh>.` field at fault. */
export class SigningKeyError extends Error {
  readonly field: string;
  constructor(field: string, message: string) {
    super(message);
    this.name = "SigningKeyError";
    this.field = field;
  }
}

/** Every failure is a rejection (a SigningKeyError for an unusable key), never a throw. */
export async function createCommitSigner(keys: SigningKeys): Promise<CommitSigner> {
  return keys.format === "ssh"
    ? await sshSigner(keys.privateKey, keys.passphrase)
    : await openpgpSigner(keys);
}

// ---------------------------------------------------------------------------------------------
// OpenPGP

const PRIVATE_BLOCK =
  /-----BEGIN PGP PRIVATE KEY BLOCK-----[\s\S]*?-----END PGP PRIVATE KEY BLOCK-----/g;

async function readKeyRing(pgp: typeof openpgp, text: string): Promise<openpgp.PrivateKey[]> {
  const blocks = text.replace(/\r\n?/g, "\n").match(PRIVATE_BLOCK) ?? [];
  if (blocks.length === 0) {
    throw new SigningKeyError(
      "keyRing",
      text.includes("-----BEGIN PGP PUBLIC KEY BLOCK-----")
        ? "this is a public key ring; the private keys are needed (gpg --armor --export-secret-keys)"
        : "expected an armored OpenPGP private key ring (gpg --armor --export-secret-keys)",
    );
  }
  const keys: openpgp.PrivateKey[] = [];
  for (const armoredKeys of blocks) {
    try {
      keys.push(...await pgp.readPrivateKeys({ armoredKeys }));
    } catch {
      throw new SigningKeyError("keyRing", "the OpenPGP private key ring could not be read");
    }
  }
  return keys;
}

async function canSign(key: openpgp.PrivateKey): Promise<boolean> {
  try {
    await key.getSigningKey();
    return true;
  } catch {
    return false;
  }
}

/**
 * As flux2's getOpenPgpEntity (pkg/bootstrap): `keyId` (16 hex digits, optional 0x) picks the key
 * whose primary key has that id; without it the first key is used (here: the first that can
 * sign). The key is decrypted with the passphrase.
 */
async function openpgpSigner(
  keys: { keyRing: string; passphrase?: string; keyId?: string },
): Promise<CommitSigner> {
  const pgp = await import("openpgp");
  const ring = await readKeyRing(pgp, keys.keyRing);
  let key: openpgp.PrivateKey | undefined;
  if (keys.keyId) {
    const id = keys.keyId.replace(/^0x/i, "").toUpperCase();
    key = ring.find((k) => k.getKeyID().toHex().toUpperCase() === id);
    if (!key) throw new SigningKeyError("keyId", `the key ring has no key with id ${id}`);
    if (!await canSign(key)) {
      throw new SigningKeyError(
        "keyId",
        `key ${id} has no valid signing key (expired, revoked or not for signing)`,
      );
    }
  } else {
    for (const k of ring) {
      if (await canSign(k)) {
        key = k;
        break;
      }
    }
    if (!key) {
      throw new SigningKeyError(
        "keyRing",
        "no key in the key ring can sign (expired, revoked or not for signing)",
      );
    }
  }
  if (!key.isDecrypted()) {
    if (!keys.passphrase) {
      throw new SigningKeyError(
        "passphrase",
        "the OpenPGP key is encrypted and needs a passphrase",
      );
    }
    try {
      key = await pgp.decryptKey({ privateKey: key, passphrase: keys.passphrase });
    } catch {
      throw new SigningKeyError(
        "passphrase",
        "the OpenPGP key is encrypted and the passphrase is wrong",
      );
    }
  }
  const signingKey = key;
  const id = signingKey.getKeyID().toHex().toUpperCase();
  const user = signingKey.getUserIDs()[0];
  return {
    format: "openpgp",
    description: `signed with OpenPGP key ${id}${user ? ` (${user})` : ""}`,
    signingKey: id,
    async onSign({ payload }) {
      const message = await pgp.createMessage({ binary: new TextEncoder().encode(payload) });
      const signature = await pgp.sign({
        message,
        signingKeys: signingKey,
        detached: true,
        format: "armored",
      });
      return { signature };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// SSH signatures (SSHSIG, https://github.com/openssh/openssh-portable/blob/master/PROTOCOL.sshsig)

const SSHSIG_MAGIC = new TextEncoder().encode("SSHSIG");
/** git signs commits in the namespace "git" (gpg-interface.c). */
const NAMESPACE = "git";
const HASH = "sha512";

function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
}

/** RFC 4251 `string`: uint32 length + bytes. */
function sshString(data: Uint8Array | string): Uint8Array {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  return concatBytes([u32(bytes.length), bytes]);
}

function stripZeros(b: Uint8Array): Uint8Array {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  return b.subarray(i);
}

/** RFC 4251 `mpint` of an unsigned big-endian number. */
function mpint(b: Uint8Array): Uint8Array {
  const v = stripZeros(b);
  if (v.length === 1 && v[0] === 0) return u32(0);
  return sshString(v[0] & 0x80 ? concatBytes([new Uint8Array([0]), v]) : v);
}

const b64url = (b: Uint8Array) => Buffer.from(b).toString("base64url");

function toBigInt(b: Uint8Array): bigint {
  return b.length === 0 ? 0n : BigInt("0x" + Buffer.from(b).toString("hex"));
}

function fromBigInt(n: bigint): Uint8Array {
  const hex = n.toString(16);
  return new Uint8Array(Buffer.from(hex.length % 2 ? "0" + hex : hex, "hex"));
}

const CURVES: Record<string, { jwk: string; hash: string; size: number }> = {
  nistp256: { jwk: "P-256", hash: "sha256", size: 32 },
  nistp384: { jwk: "P-384", hash: "sha384", size: 48 },
  nistp521: { jwk: "P-521", hash: "sha512", size: 66 },
};

interface SshKey {
  /** Public key blob (RFC 4253), as in authorized_keys. */
  blob: Uint8Array;
  /** Signature of `data` as an SSH signature blob: string(algorithm) string(signature). */
  sign(data: Uint8Array): Uint8Array;
}

const BROKEN = "the private key does not match its public key";

/** node:crypto key from the OpenSSH key's parts (JWK: exact sizes, no format quirks). */
async function sshKeyFrom(openssh: string, blob: Uint8Array): Promise<SshKey> {
  const key = (await loadSshpk()).parsePrivateKey(openssh, "openssh");
  const part = (name: string) => {
    const p = key.part[name]?.data;
    if (!p) throw new SigningKeyError("key", BROKEN);
    return new Uint8Array(p);
  };
  let priv: KeyObject;
  if (key.type === "ed25519") {
    const x = part("A");
    priv = createPrivateKey({
      key: { kty: "OKP", crv: "Ed25519", x: b64url(x), d: b64url(part("k").subarray(0, 32)) },
      format: "jwk",
    });
    if (createPublicKey(priv).export({ format: "jwk" }).x !== b64url(x)) {
      throw new SigningKeyError("key", BROKEN);
    }
    return {
      blob,
      sign: (data) => concatBytes([sshString("ssh-ed25519"), sshString(sign(null, data, priv))]),
    };
  }
  if (key.type === "ecdsa") {
    const curve = CURVES[key.curve ?? ""];
    if (!curve) throw new SigningKeyError("key", `ECDSA curve ${key.curve} is not supported`);
    const q = part("Q");
    if (q.length !== 1 + 2 * curve.size || q[0] !== 4) throw new SigningKeyError("key", BROKEN);
    const d = stripZeros(part("d"));
    if (d.length > curve.size) throw new SigningKeyError("key", BROKEN);
    const fixed = new Uint8Array(curve.size);
    fixed.set(d, curve.size - d.length);
    const x = b64url(q.subarray(1, 1 + curve.size));
    const y = b64url(q.subarray(1 + curve.size));
    priv = createPrivateKey({
      key: { kty: "EC", crv: curve.jwk, x, y, d: b64url(fixed) },
      format: "jwk",
    });
    const pub = createPublicKey(priv).export({ format: "jwk" });
    if (pub.x !== x || pub.y !== y) throw new SigningKeyError("key", BROKEN);
    const type = `ecdsa-sha2-${key.curve}`;
    return {
      blob,
      sign(data) {
        // ieee-p1363: r || s, each the curve's size; SSH wants them as two mpints.
        const rs = sign(curve.hash, data, { key: priv, dsaEncoding: "ieee-p1363" });
        const r = rs.subarray(0, rs.length / 2);
        const s = rs.subarray(rs.length / 2);
        return concatBytes([sshString(type), sshString(concatBytes([mpint(r), mpint(s)]))]);
      },
    };
  }
  if (key.type === "rsa") {
    const [n, e, d, p, q, iqmp] = ["n", "e", "d", "p", "q", "iqmp"].map((k) => stripZeros(part(k)));
    const dBig = toBigInt(d);
    priv = createPrivateKey({
      key: {
        kty: "RSA",
        n: b64url(n),
        e: b64url(e),
        d: b64url(d),
        p: b64url(p),
        q: b64url(q),
        dp: b64url(fromBigInt(dBig % (toBigInt(p) - 1n))),
        dq: b64url(fromBigInt(dBig % (toBigInt(q) - 1n))),
        qi: b64url(iqmp),
      },
      format: "jwk",
    });
    // What ssh-keygen -Y sign uses for RSA keys (SHA-1 "ssh-rsa" signatures are refused).
    return {
      blob,
      sign: (data) =>
        concatBytes([sshString("rsa-sha2-512"), sshString(sign("sha512", data, priv))]),
    };
  }
  throw new SigningKeyError("key", `${key.type} keys cannot sign commits here`);
}

/** The armored SSHSIG signature of `message`, as `ssh-keygen -Y sign -n git` makes it. */
function sshsigArmor(key: SshKey, message: Uint8Array): string {
  const digest = new Uint8Array(createHash(HASH).update(message).digest());
  const signed = concatBytes([
    SSHSIG_MAGIC,
    sshString(NAMESPACE),
    sshString(""),
    sshString(HASH),
    sshString(digest),
  ]);
  const blob = concatBytes([
    SSHSIG_MAGIC,
    u32(1),
    sshString(key.blob),
    sshString(NAMESPACE),
    sshString(""),
    sshString(HASH),
    sshString(key.sign(signed)),
  ]);
  const body = Buffer.from(blob).toString("base64").replace(/.{1,70}/g, "$&\n");
  return `-----BEGIN SSH SIGNATURE-----\n${body}-----END SSH SIGNATURE-----\n`;
}

async function sshSigner(privateKey: string, passphrase?: string): Promise<CommitSigner> {
  let parsed;
  try {
    parsed = await parsePrivateKey(privateKey, passphrase);
  } catch (e) {
    // parsePrivateKey's messages are fixed sentences without key material.
    const msg = (e as Error).message;
    throw new SigningKeyError(/passphrase/.test(msg) ? "passphrase" : "key", msg);
  }
  registerSecret(parsed.openssh.trim());
  const pub = findPublicKey(parsed.publicKey);
  if (!pub) throw new SigningKeyError("key", BROKEN);
  let key: SshKey;
  try {
    key = await sshKeyFrom(parsed.openssh, pub.blob);
  } catch (e) {
    if (e instanceof SigningKeyError) throw e;
    throw new SigningKeyError("key", "the private key cannot be used for signing");
  }
  return {
    format: "ssh",
    description: `signed with SSH key ${parsed.fingerprint} (${parsed.type})`,
    signingKey: parsed.fingerprint,
    onSign: ({ payload }) => ({
      signature: sshsigArmor(key, new TextEncoder().encode(payload)),
    }),
  };
}
