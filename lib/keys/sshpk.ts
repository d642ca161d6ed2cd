/**
 * Typed view of the parts of sshpk we use. sshpk ships no TypeScript types; keeping the surface
 * here means the rest of the code never touches an untyped value. It is imported on first use:
 * only SSH keys need it, and a run with tokens only would pay its import at start-up (bench/fleet.ts
 * measures it with ssh2: ~0.1 s and ~25 MiB together).
 */

export interface SshpkPublicKey {
  type: string;
  toString(format: "ssh"): string;
  toBuffer(format: "rfc4253"): Uint8Array;
}

export interface SshpkPrivateKey {
  /** "rsa" | "ecdsa" | "ed25519" | "dsa" */
  type: string;
  size: number;
  /** "nistp256" | "nistp384" | "nistp521" for ECDSA. */
  curve?: string;
  comment: string;
  /** Key components by name (ECDSA: d, Q, curve), as stored in the SSH wire format. */
  part: Record<string, { data: Uint8Array } | undefined>;
  toString(format: "openssh" | "pkcs1" | "pkcs8"): string;
  toPublic(): SshpkPublicKey;
}

export interface SshpkApi {
  parsePrivateKey(
    data: string,
    format: "auto" | "pem" | "pkcs8" | "openssh",
    options?: { passphrase?: string; filename?: string },
  ): SshpkPrivateKey;
}

let loaded: Promise<SshpkApi> | undefined;

/** sshpk, imported once on first use. */
export function loadSshpk(): Promise<SshpkApi> {
  // The default export of an untyped npm package is `any`; this is the single place we narrow it.
  loaded ??= import("sshpk").then((m) => m.default as SshpkApi);
  return loaded;
}
