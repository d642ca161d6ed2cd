/**
 * HTTP plumbing shared by the forge sandboxes: listening on 127.0.0.1 (optionally with the
 * sandbox CA's certificate), reading request bodies with a bound, and answering JSON.
 */
import { sandboxTls } from "../kube/tls.ts";

/** API bodies here are a few hundred bytes; anything this large is refused unread. */
export const MAX_BODY_BYTES = 256 * 1024;

export type Json = Record<string, unknown>;

export type BodyResult =
  | { ok: true; value: unknown }
  | { ok: false; reason: "too-large" | "not-json" };

/** Reads at most MAX_BODY_BYTES and parses JSON; an empty body is `undefined`. */
export async function readJson(req: Request): Promise<BodyResult> {
  if (!req.body) return { ok: true, value: undefined };
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > MAX_BODY_BYTES) {
      await reader.cancel().catch(() => {});
      return { ok: false, reason: "too-large" };
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.length;
  }
  const text = new TextDecoder("utf-8", { fatal: false }).decode(bytes);
  if (text.trim() === "") return { ok: true, value: undefined };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false, reason: "not-json" };
  }
}

export function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function jsonResponse(
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): Response {
  if (status === 204 || body === undefined) return new Response(null, { status, headers });
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", ...headers },
  });
}

/** Decoded path segments; undefined for a malformed escape or a segment that walks ("." ".."). */
export function pathSegments(pathname: string): string[] | undefined {
  try {
    const segs = pathname.split("/").filter((s) => s !== "").map((s) => decodeURIComponent(s));
    return segs.some((s) => s === "." || s === ".." || s.includes("/") || s.includes("\0"))
      ? undefined
      : segs;
  } catch {
    return undefined;
  }
}

export interface Listener {
  url: string;
  /** PEM of the CA that signed the certificate, with `tls: true`. */
  caPem?: string;
  close(): Promise<void>;
}

/** Serves `handle` on 127.0.0.1, on a port the kernel picks. */
export async function listen(
  handle: (req: Request) => Promise<Response>,
  tls: boolean,
): Promise<Listener> {
  const where = { hostname: "127.0.0.1", port: 0, onListen: () => {} };
  const material = tls ? await sandboxTls() : undefined;
  const server = material
    ? Deno.serve({ ...where, cert: material.certPem, key: material.keyPem }, handle)
    : Deno.serve(where, handle);
  let closing: Promise<void> | undefined;
  return {
    url: `${material ? "https" : "http"}://127.0.0.1:${server.addr.port}`,
    caPem: material?.caPem,
    close: () => closing ??= server.shutdown(),
  };
}
