/**
 * Typed view of the ssh2 client (the package ships no types), plus the translation of its
 * connection-level errors into sentences. Shared by the host key scan and the git transport.
 * ssh2 is imported on first use: only SSH remotes and host key scans need it.
 */

/** What ssh2 attaches to its errors: `level` says which stage failed. */
export interface Ssh2Error extends Error {
  level?: string;
  code?: string | number;
}

export interface Ssh2Readable {
  on(event: "data", listener: (chunk: Uint8Array) => void): unknown;
}

/** An exec channel: a node Duplex whose stdout is the channel data, plus `stderr`. */
export interface Ssh2Channel extends Ssh2Readable {
  stderr: Ssh2Readable;
  write(chunk: Uint8Array): boolean;
  end(chunk?: Uint8Array): void;
  close(): void;
  pause(): void;
  resume(): void;
  on(event: "data", listener: (chunk: Uint8Array) => void): this;
  on(event: "exit", listener: (code: number | null, signal?: string) => void): this;
  on(event: "close" | "end" | "drain", listener: () => void): this;
  on(event: "error", listener: (err: Error) => void): this;
  once(event: "close" | "end" | "drain", listener: () => void): this;
  removeListener(event: string, listener: (...args: never[]) => void): this;
}

export interface Ssh2ConnectConfig {
  host: string;
  port: number;
  username: string;
  privateKey?: string;
  /** Covers TCP connect, key exchange and authentication. */
  readyTimeout: number;
  /** Gets the raw host key blob; false aborts the handshake before authentication. */
  hostVerifier?: (key: Uint8Array) => boolean;
  algorithms?: { serverHostKey?: string[] };
  /** Never let ssh2 try an agent or keyboard-interactive prompts. */
  agent?: undefined;
  tryKeyboard?: false;
}

export interface Ssh2Client {
  connect(config: Ssh2ConnectConfig): this;
  exec(command: string, callback: (err: Error | undefined, channel: Ssh2Channel) => void): boolean;
  end(): this;
  destroy(): this;
  on(event: "ready" | "close" | "end", listener: () => void): this;
  on(event: "error", listener: (err: Ssh2Error) => void): this;
  once(event: "ready" | "close" | "end", listener: () => void): this;
  once(event: "error", listener: (err: Ssh2Error) => void): this;
  removeListener(event: string, listener: (...args: never[]) => void): this;
}

/** A key as ssh2 parsed it. */
interface Ssh2ParsedKey {
  type: string;
  sign(data: Uint8Array): Uint8Array | Error;
  verify(data: Uint8Array, signature: Uint8Array): boolean | Error;
}

interface Ssh2Module {
  Client: new () => Ssh2Client;
  utils: { parseKey(data: string, passphrase?: string): Ssh2ParsedKey | Ssh2ParsedKey[] | Error };
}

let loaded: Promise<Ssh2Module> | undefined;

function loadSsh2(): Promise<Ssh2Module> {
  // The default export of an untyped npm package is `any`; this is the single place we narrow it.
  loaded ??= import("ssh2").then((m) => m.default as Ssh2Module);
  return loaded;
}

export async function newSsh2Client(): Promise<Ssh2Client> {
  const ssh2 = await loadSsh2();
  return new ssh2.Client();
}

/**
 * Whether ssh2, on this runtime, can produce a signature with the key that verifies: catches
 * runtime crypto gaps (see sec1.ts) before they surface as a misleading "authentication failed".
 */
export async function ssh2CanSign(privateKeyText: string): Promise<boolean> {
  const ssh2 = await loadSsh2();
  try {
    const parsed = ssh2.utils.parseKey(privateKeyText);
    const key = Array.isArray(parsed) ? parsed[0] : parsed;
    if (!key || key instanceof Error) return false;
    const data = new TextEncoder().encode("fluxfleet ssh2 self-check");
    const sig = key.sign(data);
    return !(sig instanceof Error) && key.verify(data, sig) === true;
  } catch {
    return false;
  }
}

/** Host key algorithms that can present a key of the given type (RSA signs with SHA-2 first). */
export function hostKeyAlgorithmsFor(keyType: string): string[] {
  return keyType === "ssh-rsa" ? ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"] : [keyType];
}

/**
 * Network-level failures (refused, timeout, DNS, reset) in words; null for anything else so the
 * caller can describe authentication and host key problems itself.
 */
export function describeNetworkError(
  err: Ssh2Error,
  where: string,
  timeoutMs: number,
): string | null {
  const code = typeof err.code === "string" ? err.code : "";
  const msg = err.message ?? "";
  if (code === "ECONNREFUSED" || /ECONNREFUSED|connection refused/i.test(msg)) {
    return `cannot connect to ${where}: connection refused (is the SSH server running and the port right?)`;
  }
  if (err.level === "client-timeout" || code === "ETIMEDOUT" || /timed out/i.test(msg)) {
    const limit = timeoutMs >= 1000 ? `${timeoutMs / 1000} s` : `${timeoutMs} ms`;
    return `SSH server ${where} did not complete the handshake within ${limit} ` +
      `(firewall, proxy, or wrong port?)`;
  }
  if (err.level === "client-dns" || code === "ENOTFOUND" || code === "EAI_AGAIN") {
    return `cannot resolve the SSH host of ${where}`;
  }
  if (code === "ECONNRESET" || code === "EPIPE" || /ECONNRESET|socket hang up/i.test(msg)) {
    return `SSH connection to ${where} was reset by the server`;
  }
  if (/Connection lost before handshake/i.test(msg)) {
    return `${where} closed the connection before the SSH handshake (not an SSH server, or a ` +
      `firewall or proxy in between?)`;
  }
  if (err.level === "client-socket") return `cannot connect to ${where}: ${msg.split("\n")[0]}`;
  return null;
}
