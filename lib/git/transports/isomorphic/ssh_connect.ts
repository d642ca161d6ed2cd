/**
 * Opens an authenticated ssh2 connection for the git transport, refusing any host key that is not
 * in known_hosts (no trust on first use here), and turning every failure into a sentence that
 * says what to do. Nothing derived from the private key except its public fingerprint is ever
 * put in a message.
 */
import { blobKeyType, encodeBase64, sha256Fingerprint } from "../../../keys/fingerprint.ts";
import {
  findHostKeys,
  findRevokedHostKeys,
  type HostKey,
  knownHostsName,
} from "../../../keys/known_hosts.ts";
import { parsePrivateKey } from "../../../keys/parse.ts";
import {
  describeNetworkError,
  hostKeyAlgorithmsFor,
  newSsh2Client,
  ssh2CanSign,
  type Ssh2Client,
  type Ssh2Error,
} from "../../../keys/ssh2.ts";
import { hostPort } from "../../ssh_url.ts";

export interface ConnectTarget {
  user: string;
  host: string;
  port: number;
  privateKey: string;
  passphrase?: string;
  knownHosts: string;
  hostKeyAlgorithms?: string[];
  timeoutMs: number;
}

/** What the host verifier saw, for the error message when it said no. */
type HostKeyVerdict =
  | { kind: "ok" }
  | { kind: "mismatch"; got: HostKey }
  | { kind: "revoked"; got: HostKey };

function describeFingerprints(keys: HostKey[]): string {
  return keys.map((k) => `${k.fingerprint} (${k.type})`).join(" or ");
}

function mismatchMessage(name: string, expected: HostKey[], got: HostKey): string {
  const sameType = expected.filter((k) => k.type === got.type);
  return `host key for ${name} does not match known_hosts: expected ${
    describeFingerprints(sameType.length > 0 ? sameType : expected)
  }, got ${got.fingerprint} (${got.type}) — possible man-in-the-middle, or the server's key ` +
    `changed: if the change is expected, replace the known_hosts entry after checking the new ` +
    `fingerprint with the server's operator`;
}

function authMessage(t: ConnectTarget, fingerprint: string, type: string): string {
  return `the server refused the SSH key for user ${t.user} at ${hostPort(t.host, t.port)}: ` +
    `add the public key ${fingerprint} (${type}) to the repository's deploy keys (with write ` +
    `access to push) or to that user's authorized keys, and check the user name in the URL ` +
    `(e.g. AWS CodeCommit wants the SSH key id, not "git")`;
}

function hostKeyOf(blob: Uint8Array): HostKey {
  return {
    type: blobKeyType(blob) ?? "unknown",
    base64: encodeBase64(blob),
    fingerprint: sha256Fingerprint(blob),
  };
}

/** Connects and authenticates; the returned client is ready for exec. */
export async function connectSsh(t: ConnectTarget): Promise<Ssh2Client> {
  // Before any connection: wrong or missing passphrase, unreadable key.
  const key = await parsePrivateKey(t.privateKey, t.passphrase);
  const name = knownHostsName(t.host, t.port);
  const where = hostPort(t.host, t.port);
  const trusted = findHostKeys(t.knownHosts, t.host, t.port);
  if (trusted.length === 0) {
    throw new Error(
      `no known_hosts entry for ${name}: add the server's host key to known_hosts ` +
        `(scan it, e.g. "ssh-keyscan -p ${t.port} ${t.host}", and check the fingerprint ` +
        `with the server's operator)`,
    );
  }
  if (!await ssh2CanSign(key.ssh2Key)) {
    throw new Error(
      `the SSH client cannot sign with this ${key.type} key (${key.fingerprint}) on this ` +
        `runtime: use an ed25519 key instead`,
    );
  }
  const revoked = findRevokedHostKeys(t.knownHosts, t.host, t.port);
  // As OpenSSH does: offer only algorithms for key types known_hosts has for this host, so the
  // server presents a key we can check instead of one we have never seen.
  const algorithms = t.hostKeyAlgorithms ??
    [...new Set(trusted.flatMap((k) => hostKeyAlgorithmsFor(k.type)))];

  const client = await newSsh2Client();
  return await new Promise<Ssh2Client>((resolve, reject) => {
    let verdict: HostKeyVerdict | undefined;
    let failure: Ssh2Error | undefined;
    let ready = false;
    const explain = (): string => {
      if (verdict?.kind === "mismatch") return mismatchMessage(name, trusted, verdict.got);
      if (verdict?.kind === "revoked") {
        return `host key ${verdict.got.fingerprint} of ${name} is marked @revoked in known_hosts: ` +
          `refusing to connect`;
      }
      if (!failure) return `SSH server ${where} closed the connection during the handshake`;
      if (failure.level === "client-authentication") {
        return authMessage(t, key.fingerprint, key.type);
      }
      const network = describeNetworkError(failure, where, t.timeoutMs);
      if (network) return network;
      if (failure.level === "handshake" && /host key|no matching/i.test(failure.message)) {
        return `SSH server ${where} offers none of the host key algorithms known_hosts allows for ` +
          `${name} (${algorithms.join(", ")}): known_hosts may hold an outdated key type; ` +
          `rescan the server's key and check its fingerprint`;
      }
      return `SSH connection to ${where} failed: ${failure.message.split("\n")[0]}`;
    };
    client.on("ready", () => {
      ready = true;
      resolve(client);
    });
    client.on("error", (err) => {
      failure ??= err;
    });
    // Reject only on "close", so no socket outlives a failed connect.
    client.on("close", () => {
      if (!ready) reject(new Error(explain()));
    });
    try {
      client.connect({
        host: t.host,
        port: t.port,
        username: t.user,
        privateKey: key.ssh2Key,
        readyTimeout: t.timeoutMs,
        agent: undefined,
        tryKeyboard: false,
        algorithms: { serverHostKey: algorithms },
        hostVerifier: (blob: Uint8Array) => {
          const got = hostKeyOf(new Uint8Array(blob));
          if (revoked.some((k) => k.base64 === got.base64)) {
            verdict = { kind: "revoked", got };
            return false;
          }
          if (trusted.some((k) => k.type === got.type && k.base64 === got.base64)) {
            verdict = { kind: "ok" };
            return true;
          }
          verdict = { kind: "mismatch", got };
          return false;
        },
      });
    } catch (e) {
      // ssh2 throws synchronously for a key it cannot use; its text names no key material.
      client.destroy();
      reject(new Error(`SSH connection to ${where} failed: ${(e as Error).message}`));
    }
  });
}
