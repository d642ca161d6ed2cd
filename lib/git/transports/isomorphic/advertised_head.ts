/**
 * isomorphic-git's fetch (and so its clone) looks up the remote's HEAD even when it fetches one
 * named branch, and fails with "Could not find HEAD." when the server advertises none — which
 * plain git servers do whenever the bare repository's HEAD names a branch that does not exist
 * (an empty repository first pushed to `master` while HEAD says `main`, a default branch that was
 * deleted). isomorphic-git issue #1654, still open in 1.44.19; `git clone --branch` has no such
 * need. HEAD is only used there to report a default branch, which fluxfleet never asks for.
 *
 * This wrapper around the HTTP client (HTTPS, or the SSH adapter posing as one) adds a HEAD line
 * with the object id of the branch being fetched to an upload-pack ref advertisement that has no
 * HEAD at all, so isomorphic-git fetches exactly the branch it was asked for. An advertisement
 * with a HEAD, without that branch, or not in the v1 format is passed on untouched.
 */
import type { GitHttpRequest, GitHttpResponse, HttpClient } from "isomorphic-git";
import { concatBytes } from "../../../util/bytes.ts";
import { pktLine } from "./ssh_channel.ts";

const FLUSH = "0000";

interface Pkt {
  start: number;
  end: number;
  /** null for a flush-pkt. */
  text: string | null;
}

/** An answer's body read whole. */
export async function collect(body: AsyncIterableIterator<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const p of body) parts.push(p);
  return concatBytes(parts);
}

/** Bytes already read, as an answer's body. */
export async function* once(bytes: Uint8Array): AsyncIterableIterator<Uint8Array> {
  yield bytes;
}

/** The pkt-lines of `buf`, or null when it is not a whole sequence of them. */
function pktLines(buf: Uint8Array): Pkt[] | null {
  const dec = new TextDecoder();
  const out: Pkt[] = [];
  let at = 0;
  while (at < buf.length) {
    if (at + 4 > buf.length) return null;
    const head = dec.decode(buf.subarray(at, at + 4));
    if (!/^[0-9a-f]{4}$/i.test(head)) return null;
    const len = parseInt(head, 16);
    if (head === FLUSH) {
      out.push({ start: at, end: at + 4, text: null });
      at += 4;
      continue;
    }
    if (len < 4 || at + len > buf.length) return null;
    out.push({ start: at, end: at + len, text: dec.decode(buf.subarray(at + 4, at + len)) });
    at += len;
  }
  return out;
}

/**
 * The ref lines of a v1 upload-pack advertisement (after the `# service=` line and its flush),
 * the first of them kept for its place; null when it is not one.
 */
function refLines(advertisement: Uint8Array): { first: Pkt; refs: [string, string][] } | null {
  const pkts = pktLines(advertisement);
  if (!pkts) return null;
  let i = 0;
  if (pkts[0]?.text?.startsWith("# service=")) {
    i = 1;
    while (pkts[i] && pkts[i].text === null) i++;
  }
  const first = pkts[i];
  if (!first || first.text === null || first.text.includes("version 2")) return null;
  const refs: [string, string][] = [];
  for (let j = i; j < pkts.length && pkts[j].text !== null; j++) {
    const [oid, name] = pkts[j].text!.replace(/\n$/, "").split("\0")[0].split(" ");
    refs.push([oid, name]);
  }
  return { first, refs };
}

const OID = /^[0-9a-f]{40,64}$/;

function oidOf(refs: [string, string][], ref: string): string | undefined {
  return refs.find(([oid, name]) => name === ref && OID.test(oid))?.[0];
}

/** The object id `ref` has in a v1 upload-pack advertisement; undefined when it names none. */
export function advertisedOid(advertisement: Uint8Array, ref: string): string | undefined {
  const lines = refLines(advertisement);
  return lines ? oidOf(lines.refs, ref) : undefined;
}

/**
 * `advertisement` with a `<oid of branchRef> HEAD` line after its first ref line when it names no
 * HEAD and does name `branchRef`; otherwise the same bytes.
 */
export function withHeadLine(advertisement: Uint8Array, branchRef: string): Uint8Array {
  const lines = refLines(advertisement);
  if (!lines || lines.refs.some(([, name]) => name === "HEAD")) return advertisement;
  const { first } = lines;
  const branchOid = oidOf(lines.refs, branchRef);
  if (!branchOid) return advertisement;
  return concatBytes([
    advertisement.subarray(0, first.end),
    pktLine(`${branchOid} HEAD\n`),
    advertisement.subarray(first.end),
  ]);
}

function isUploadPackAdvertisement(req: GitHttpRequest): boolean {
  if ((req.method ?? "GET").toUpperCase() !== "GET") return false;
  const url = new URL(req.url);
  return url.pathname.endsWith("/info/refs") &&
    url.searchParams.get("service") === "git-upload-pack";
}

/** `http` for a fetch of `branchRef` (`refs/heads/<name>`) that works whatever HEAD says. */
export function fetchingBranch(http: HttpClient, branchRef: string): HttpClient {
  return {
    async request(req: GitHttpRequest): Promise<GitHttpResponse> {
      const res = await http.request(req);
      if (!isUploadPackAdvertisement(req) || res.statusCode !== 200 || !res.body) return res;
      // isomorphic-git reads the whole advertisement into memory too.
      return { ...res, body: once(withHeadLine(await collect(res.body), branchRef)) };
    },
  };
}
