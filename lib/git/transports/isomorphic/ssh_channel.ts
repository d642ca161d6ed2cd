/**
 * One SSH exec channel running git-upload-pack / git-receive-pack: its stdout as a pull-based
 * reader with backpressure and an idle timeout, its stderr collected for error messages, and the
 * pkt-line framing needed to find the end of the ref advertisement.
 */
import type { Ssh2Channel, Ssh2Client } from "../../../keys/ssh2.ts";
import { concatBytes } from "../../../util/bytes.ts";

/** Pause the channel when this much unread stdout piles up. */
const HIGH_WATER = 1 << 20;
const MAX_STDERR = 16 * 1024;

export class IdleTimeoutError extends Error {}

export class ExecChannel {
  readonly closed: Promise<void>;
  exitCode: number | null = null;
  #chunks: Uint8Array[] = [];
  #size = 0;
  #ended = false;
  #isClosed = false;
  #wake: (() => void) | undefined;
  #stderr = "";
  #discarding = false;

  constructor(readonly channel: Ssh2Channel) {
    const decoder = new TextDecoder();
    channel.on("data", (chunk: Uint8Array) => {
      if (this.#discarding) return;
      this.#chunks.push(chunk);
      this.#size += chunk.length;
      if (this.#size > HIGH_WATER) channel.pause();
      this.#notify();
    });
    channel.stderr.on("data", (chunk: Uint8Array) => {
      if (this.#stderr.length < MAX_STDERR) this.#stderr += decoder.decode(chunk, { stream: true });
    });
    channel.on("exit", (code: number | null) => {
      this.exitCode = code;
    });
    channel.on("end", () => {
      this.#ended = true;
      this.#notify();
    });
    // Errors also end in "close"; the listener only keeps them from being unhandled.
    channel.on("error", () => {});
    this.closed = new Promise((resolve) => {
      channel.once("close", () => {
        this.#ended = true;
        this.#isClosed = true;
        this.#notify();
        resolve();
      });
    });
  }

  get isClosed(): boolean {
    return this.#isClosed;
  }

  /** What the remote command wrote to stderr (e.g. git's "fatal: … not a git repository"). */
  stderr(): string {
    return this.#stderr.trim();
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /** Next stdout chunk; null at end of stream; IdleTimeoutError after idleMs without data. */
  async next(idleMs: number): Promise<Uint8Array | null> {
    while (this.#chunks.length === 0) {
      if (this.#ended) return null;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timedOut = await new Promise<boolean>((resolve) => {
        this.#wake = () => resolve(false);
        timer = setTimeout(() => resolve(true), idleMs);
      });
      clearTimeout(timer);
      if (timedOut) throw new IdleTimeoutError(`no data for ${idleMs} ms`);
    }
    const chunk = this.#chunks.shift()!;
    this.#size -= chunk.length;
    if (this.#size <= HIGH_WATER) this.channel.resume();
    return chunk;
  }

  /**
   * Stops keeping stdout: what is buffered and what still comes is dropped, and the channel
   * flows again. A channel left paused never closes (its end is never read), so one given up
   * half-read must be discarded before settle().
   */
  discard(): void {
    this.#discarding = true;
    this.#chunks = [];
    this.#size = 0;
    this.channel.resume();
  }

  /** Puts bytes read too far back in front of the stream. */
  unshift(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.#chunks.unshift(chunk);
    this.#size += chunk.length;
  }

  /** Writes with backpressure; false when the channel closed first. */
  async write(chunk: Uint8Array): Promise<boolean> {
    if (this.#isClosed) return false;
    if (this.channel.write(chunk)) return true;
    return await new Promise<boolean>((resolve) => {
      const onDrain = () => {
        this.channel.removeListener("close", onClose);
        resolve(true);
      };
      const onClose = () => {
        this.channel.removeListener("drain", onDrain);
        resolve(false);
      };
      this.channel.once("drain", onDrain);
      this.channel.once("close", onClose);
    });
  }

  /** Ends our side (EOF to the remote command), optionally with final bytes. */
  end(chunk?: Uint8Array): void {
    if (this.#isClosed) return;
    try {
      this.channel.end(chunk);
    } catch {
      // The connection went away; "close" follows.
    }
  }

  /** Waits for the channel to close; forces it closed after waitMs. */
  async settle(waitMs: number): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const gaveUp = await Promise.race([
      this.closed.then(() => false),
      new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(true), waitMs)),
    ]);
    clearTimeout(timer);
    if (gaveUp) {
      try {
        this.channel.close();
      } catch {
        // Already closing.
      }
      await this.closed;
    }
  }
}

/** Opens an exec channel (no pty, no env: git then speaks protocol v0/v1). */
export function openExec(client: Ssh2Client, command: string): Promise<ExecChannel> {
  return new Promise((resolve, reject) => {
    try {
      client.exec(command, (err, channel) => {
        if (err) reject(err);
        else resolve(new ExecChannel(channel));
      });
    } catch (e) {
      reject(e);
    }
  });
}

export const FLUSH_PKT: Uint8Array = new TextEncoder().encode("0000");

/** A pkt-line: 4 hex digits of length (including themselves) and the payload. */
export function pktLine(text: string): Uint8Array {
  const payload = new TextEncoder().encode(text);
  const len = (payload.length + 4).toString(16).padStart(4, "0");
  return concatBytes([new TextEncoder().encode(len), payload]);
}

/**
 * Scans whole pkt-lines of `buf` from `from`: the offset just past the first flush-pkt (`end`),
 * or -1 and where the next, still incomplete, pkt-line starts (`next`). Throws on framing that is
 * not pkt-lines (e.g. a shell banner printed before git started).
 */
function scanToFlush(buf: Uint8Array, from: number): { end: number; next: number } {
  let at = from;
  while (at + 4 <= buf.length) {
    const head = new TextDecoder().decode(buf.subarray(at, at + 4));
    if (!/^[0-9a-f]{4}$/i.test(head)) throw new Error("the server's answer is not git pkt-lines");
    const len = parseInt(head, 16);
    if (len === 0) return { end: at + 4, next: at + 4 };
    if (len < 4) throw new Error("the server sent a protocol v2 packet on protocol v1");
    if (at + len > buf.length) break;
    at += len;
  }
  return { end: -1, next: at };
}

/**
 * Reads the v1 ref advertisement up to and including its flush-pkt. Returns null when the
 * channel ended before a complete advertisement (the caller reports stderr); throws
 * `tooLarge()` once more than `maxBytes` came without one. Linear in the bytes read: the buffer
 * grows by doubling and each pkt-line is scanned once.
 */
export async function readAdvertisement(
  ch: ExecChannel,
  idleMs: number,
  maxBytes: number,
  tooLarge: () => Error,
): Promise<Uint8Array | null> {
  let buf = new Uint8Array(64 * 1024);
  let size = 0;
  let scanned = 0;
  while (true) {
    const { end, next } = scanToFlush(buf.subarray(0, size), scanned);
    if (end >= 0) {
      ch.unshift(buf.slice(end, size));
      return buf.slice(0, end);
    }
    scanned = next;
    if (size > maxBytes) throw tooLarge();
    const chunk = await ch.next(idleMs);
    if (chunk === null) return null;
    if (size + chunk.length > buf.length) {
      const grown = new Uint8Array(Math.max(buf.length * 2, size + chunk.length));
      grown.set(buf.subarray(0, size));
      buf = grown;
    }
    buf.set(chunk, size);
    size += chunk.length;
  }
}
