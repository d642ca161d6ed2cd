/**
 * What the floor client (bench/floor_client.ts) sends, built from the servers' logs of a real
 * no-op plan: per repository its git requests in order, per cluster its API requests. No
 * request is invented: a repository or cluster fluxfleet did not contact is not contacted.
 */
import type { GitRequestRecord } from "../../sandbox/git/http_server.ts";
import type { RequestRecord } from "../../sandbox/kube/server.ts";
import { repoOfPath } from "./counts.ts";

export interface FloorRequest {
  method: string;
  /** Path and query, e.g. "/fleet-00.git/info/refs?service=git-upload-pack". */
  path: string;
}

export interface FloorPlan {
  concurrency: number;
  git: {
    /** http://127.0.0.1:<port> */
    baseUrl: string;
    /** "Basic …": the token, as fluxfleet sends it with every request. */
    authorization: string;
    /** Headers isomorphic-git sent on the ref advertisement and the upload-pack POST. */
    getHeaders: [string, string][];
    postHeaders: [string, string][];
    /** Base64 of the upload-pack body isomorphic-git sent in the captured run. */
    uploadPackBody: string;
    /** The head it asked for there (replaced by each repository's head). */
    capturedSha: string;
    repos: { branch: string; requests: FloorRequest[] }[];
  };
  kube: {
    caPem: string;
    clusters: { server: string; token: string; requests: FloorRequest[] }[];
  };
}

/** The captured exchange of one fluxfleet fetch (see floor.ts): headers and body it sent. */
export interface CapturedFetch {
  getHeaders: [string, string][];
  postHeaders: [string, string][];
  uploadPackBody: Uint8Array;
  capturedSha: string;
}

function base64(bytes: Uint8Array): string {
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

export function gitFloorRequests(records: GitRequestRecord[]): Map<string, FloorRequest[]> {
  const out = new Map<string, FloorRequest[]>();
  for (const r of records) {
    const repo = repoOfPath(r.path);
    if (!repo) continue;
    const list = out.get(repo) ?? [];
    out.set(repo, list);
    const query = r.method === "GET" && r.service ? `?service=${r.service}` : "";
    list.push({ method: r.method, path: `${r.path}${query}` });
  }
  return out;
}

export function kubeFloorRequests(records: RequestRecord[]): FloorRequest[] {
  return records.map((r) => ({
    method: r.method,
    path: `${r.path}${r.query ? `?${r.query}` : ""}`,
  }));
}

export function buildFloorPlan(input: {
  concurrency: number;
  gitBaseUrl: string;
  authorization: string;
  branch: string;
  capture: CapturedFetch;
  gitRecords: GitRequestRecord[];
  clusters: { server: string; token: string; caPem: string; records: RequestRecord[] }[];
}): FloorPlan {
  const perRepo = gitFloorRequests(input.gitRecords);
  for (const [repo, reqs] of perRepo) {
    const unexpected = reqs.find((r) => r.method !== "GET" && !r.path.endsWith("/git-upload-pack"));
    if (unexpected) {
      throw new Error(`the no-op plan sent ${unexpected.method} ${unexpected.path} to ${repo}`);
    }
  }
  const cas = new Set(input.clusters.map((c) => c.caPem));
  if (cas.size > 1) throw new Error("the floor shares one TLS client: the sandboxes need one CA");
  return {
    concurrency: input.concurrency,
    git: {
      baseUrl: input.gitBaseUrl,
      authorization: input.authorization,
      getHeaders: input.capture.getHeaders,
      postHeaders: input.capture.postHeaders,
      uploadPackBody: base64(input.capture.uploadPackBody),
      capturedSha: input.capture.capturedSha,
      repos: [...perRepo.values()].map((requests) => ({ branch: input.branch, requests })),
    },
    kube: {
      caPem: input.clusters[0]?.caPem ?? "",
      clusters: input.clusters
        .filter((c) => c.records.length > 0)
        .map((c) => ({ server: c.server, token: c.token, requests: kubeFloorRequests(c.records) })),
    },
  };
}
