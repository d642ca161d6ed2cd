/**
 * Reads a server's SSH host key like `ssh-keygen`'s sibling `ssh-keyscan`: key exchange only, the
 * verifier records the key and refuses it, so the connection ends before authentication.
 * The result is trust-on-first-use: callers should show the fingerprint and allow pinning.
 */
import { blobKeyType, encodeBase64, sha256Fingerprint } from "./fingerprint.ts";
import type { HostKey } from "./known_hosts.ts";
import { describeNetworkError, newSsh2Client, type Ssh2Error } from "./ssh2.ts";

export interface ScanOptions {
  /** Default 30000 (flux bootstrap's dial timeout). */
  timeoutMs?: number;
  /** Host key algorithms to offer, e.g. ["rsa-sha2-512","rsa-sha2-256"]; default ssh2's set. */
  algorithms?: string[];
}

const DEFAULT_TIMEOUT_MS = 30_000;
/** ssh2 checks usernames only for being a string; nobody authenticates during a scan. */
const SCAN_USER = "fluxfleet-keyscan";

/** The one host key the server presents for the negotiated algorithm. */
export async function scanHostKey(
  host: string,
  port: number,
  opts: ScanOptions = {},
): Promise<HostKey> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const where = `${host}:${port}`;
  const client = await newSsh2Client();
  return await new Promise<HostKey>((resolve, reject) => {
    let blob: Uint8Array | undefined;
    let failure: Ssh2Error | undefined;
    client.on("error", (err) => {
      failure ??= err;
    });
    // Settle on "close" only, so no socket outlives the promise.
    client.on("close", () => {
      if (blob) {
        const type = blobKeyType(blob);
        if (type) {
          resolve({ type, base64: encodeBase64(blob), fingerprint: sha256Fingerprint(blob) });
          return;
        }
        reject(new Error(`SSH server ${where} presented a malformed host key`));
        return;
      }
      const why = failure
        ? describeNetworkError(failure, where, timeoutMs) ??
          `cannot scan the SSH host key of ${where}: ${failure.message.split("\n")[0]}`
        : `SSH server ${where} closed the connection before presenting a host key`;
      reject(new Error(why));
    });
    client.on("ready", () => {
      // Unreachable (the verifier refuses), but never leave a session open.
      client.end();
    });
    try {
      client.connect({
        host,
        port,
        username: SCAN_USER,
        readyTimeout: timeoutMs,
        hostVerifier: (key: Uint8Array) => {
          blob = new Uint8Array(key);
          return false;
        },
        ...(opts.algorithms ? { algorithms: { serverHostKey: opts.algorithms } } : {}),
      });
    } catch (e) {
      client.destroy();
      reject(new Error(`cannot scan the SSH host key of ${where}: ${(e as Error).message}`));
    }
  });
}
