/**
 * SEC1 ("-----BEGIN EC PRIVATE KEY-----") for NIST P-256 / P-384 keys, written by hand.
 *
 * Why: OpenSSH stores the private scalar d as an mpint, which carries a leading 0x00 whenever its
 * top bit is set (half of all keys). ssh2 copies those bytes verbatim into the SEC1 privateKey
 * OCTET STRING; OpenSSL tolerates the extra byte, Deno's node:crypto does not, so signing fails and
 * the server reports "authentication failed" for a perfectly good key. sshpk's PKCS#1/PKCS#8
 * writers have the same flaw. SEC1 with d padded to the curve size signs correctly everywhere.
 * (P-521 is left in OpenSSH form: its top byte is at most 0x01, and ssh2 cannot parse a P-521
 * SEC1 key under Deno because Deno lacks P-521 ECDH.)
 */
import { Buffer } from "node:buffer";
import { concatBytes } from "../util/bytes.ts";

const CURVES: Record<string, { oid: number[]; size: number }> = {
  // 1.2.840.10045.3.1.7
  nistp256: { oid: [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07], size: 32 },
  // 1.3.132.0.34
  nistp384: { oid: [0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22], size: 48 },
};

function tlv(tag: number, body: Uint8Array): Uint8Array {
  const n = body.length;
  const len = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : [0x82, n >> 8, n & 0xff];
  const out = new Uint8Array(1 + len.length + n);
  out.set([tag, ...len]);
  out.set(body, 1 + len.length);
  return out;
}

/** Whether we write SEC1 for this curve (sshpk curve names: nistp256, nistp384, nistp521). */
export function needsSec1(curve: string | undefined): boolean {
  return curve !== undefined && Object.hasOwn(CURVES, curve);
}

/** SEC1 PEM from the curve name, the scalar d (any leading zeros) and the public point Q. */
export function ecSec1Pem(curve: string, d: Uint8Array, q: Uint8Array): string {
  const spec = CURVES[curve];
  if (!spec) throw new Error(`no SEC1 writer for curve ${curve}`);
  let start = 0;
  while (start < d.length - 1 && d[start] === 0) start++;
  const raw = d.subarray(start);
  if (raw.length > spec.size) throw new Error("the private key's ECDSA scalar is too long");
  const fixed = new Uint8Array(spec.size);
  fixed.set(raw, spec.size - raw.length);
  const der = tlv(
    0x30,
    concatBytes([
      tlv(0x02, new Uint8Array([1])),
      tlv(0x04, fixed),
      tlv(0xa0, new Uint8Array(spec.oid)),
      tlv(0xa1, tlv(0x03, concatBytes([new Uint8Array([0]), q]))),
    ]),
  );
  const body = Buffer.from(der).toString("base64").replace(/.{1,64}/g, "$&\n");
  return `-----BEGIN EC PRIVATE KEY-----\n${body}-----END EC PRIVATE KEY-----\n`;
}
