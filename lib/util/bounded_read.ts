/**
 * Reading answers and files without trusting their size: at most `max` bytes are kept, the read
 * stops (and the connection is cancelled) the moment a source goes past it, and a body shorter
 * than its Content-Length is an error rather than a short answer. The limits themselves live in
 * ./limits.ts.
 */
import { concatBytes } from "./bytes.ts";

/** A body that ended before the length its Content-Length announced (a cut connection). */
export class TruncatedBodyError extends Error {
  override name = "TruncatedBodyError";
  constructor(readonly received: number, readonly expected: number) {
    super(`the answer was cut off: ${received} of the ${expected} bytes announced arrived`);
  }
}

/** The announced Content-Length, if the answer has a valid one. */
export function contentLength(res: Response): number | undefined {
  const raw = res.headers.get("content-length");
  if (raw === null || !/^\d+$/.test(raw.trim())) return undefined;
  return Number(raw);
}

/**
 * The whole body of `res`, at most `max` bytes. A Content-Length over `max` is refused before
 * anything is read; `tooLarge` makes the error (it is thrown, the body cancelled).
 */
export async function readBody(
  res: Response,
  max: number,
  tooLarge: () => Error,
): Promise<Uint8Array> {
  const announced = contentLength(res);
  if (announced !== undefined && announced > max) {
    await res.body?.cancel().catch(() => {});
    throw tooLarge();
  }
  if (!res.body) return new Uint8Array(0);
  if (announced !== undefined && !res.headers.has("content-encoding")) {
    // A length within the limit: read whole, without a promise per chunk (fetch never delivers
    // more than Content-Length; a connection cut earlier throws, as the chunked read does). Not
    // with a Content-Encoding: fetch decompresses, and the length announced is the compressed
    // one (a gzip of a few KiB can unpack to GiB), so those are counted chunk by chunk below.
    const whole = new Uint8Array(await res.arrayBuffer());
    if (whole.length > max) throw tooLarge();
    if (whole.length < announced) throw new TruncatedBodyError(whole.length, announced);
    return whole;
  }
  const parts: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of boundedChunks(res.body, max, tooLarge)) {
    parts.push(chunk);
    size += chunk.length;
  }
  if (announced !== undefined && size < announced) throw new TruncatedBodyError(size, announced);
  return parts.length === 1 ? parts[0] : concatBytes(parts);
}

/**
 * The chunks of `source` as they come, throwing `tooLarge()` as soon as more than `max` bytes
 * went by (the source is cancelled then, or when the consumer stops early).
 */
export async function* boundedChunks(
  source: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>,
  max: number,
  tooLarge: () => Error,
): AsyncGenerator<Uint8Array> {
  let total = 0;
  const iterator = source instanceof ReadableStream
    ? source[Symbol.asyncIterator]()
    : source[Symbol.asyncIterator]();
  let finished = false;
  try {
    while (true) {
      const { done, value } = await iterator.next();
      if (done) {
        finished = true;
        return;
      }
      total += value.length;
      if (total > max) throw tooLarge();
      yield value;
    }
  } finally {
    // Stops the download (a ReadableStream's iterator cancels it on return()).
    if (!finished) await iterator.return?.().catch(() => {});
  }
}

/**
 * A file's bytes, at most `max` of them: read in chunks, so /dev/zero, a FIFO or a file that grows
 * while being read stop at the limit instead of filling memory.
 */
export async function readFileBounded(
  path: string,
  max: number,
  tooLarge: () => Error,
): Promise<Uint8Array> {
  const file = await Deno.open(path, { read: true });
  try {
    return await readBody(new Response(file.readable), max, tooLarge);
  } finally {
    try {
      file.close();
    } catch {
      // The readable stream closed it already at its end.
    }
  }
}

/**
 * The first `max` bytes of a stream as text, read to its end: the rest is counted, not kept (for
 * a child process's output, which must be drained or the child blocks). Text that was cut ends
 * with a note saying how much was dropped.
 */
export async function readHead(
  stream: ReadableStream<Uint8Array>,
  max: number,
): Promise<{ text: string; dropped: number }> {
  const parts: Uint8Array[] = [];
  let kept = 0;
  let dropped = 0;
  for await (const chunk of stream) {
    const room = max - kept;
    const part = chunk.subarray(0, Math.max(room, 0));
    if (part.length > 0) {
      parts.push(part);
      kept += part.length;
    }
    dropped += chunk.length - part.length;
  }
  const text = new TextDecoder().decode(concatBytes(parts));
  return {
    text: dropped > 0 ? `${text}\n(… ${dropped} more bytes of output dropped)` : text,
    dropped,
  };
}
