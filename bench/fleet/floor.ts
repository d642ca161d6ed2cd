/**
 * The floor of a no-op plan (see bench/floor_client.ts): capture once what isomorphic-git sends
 * for a depth-1 fetch, build the floor's request list from a real run's logs, and run the floor
 * client as a child process measured like fluxfleet (under /usr/bin/time -v).
 */
import type { GitRequestRecord } from "../../sandbox/git/http_server.ts";
import { cli, planArgs } from "./cli.ts";
import { buildFloorPlan, type CapturedFetch, type FloorPlan } from "./floor_plan.ts";
import { measuredDeno, type MeasuredRun, requireOk } from "./proc.ts";
import { type Env, type Fleet, repoName, ROOT, type World } from "./world.ts";

export type FloorMode = "overlap" | "phases";

function basicAuth(user: string, password: string): string {
  return btoa(String.fromCharCode(...new TextEncoder().encode(`${user}:${password}`)));
}

/** Headers a replay sends itself (the host, the length) or on its own terms (the token). */
const NOT_REPLAYED = new Set(["host", "content-length", "authorization", "connection"]);

/**
 * One real fluxfleet `plan` of cluster 0 whose git URL points at a recording proxy in front of
 * the git server: the headers of its ref advertisement GET and the body of its upload-pack POST
 * (the depth-1 fetch isomorphic-git sends). The plan sees a changed GitRepository URL and
 * reports changes; only its requests matter here.
 */
export async function captureFetch(world: World, f: Fleet, concurrency: number): Promise<
  CapturedFetch
> {
  const upstream = world.git.url;
  const seen: { method: string; path: string; headers: [string, string][]; body: Uint8Array }[] =
    [];
  const proxy = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const url = new URL(req.url);
    const body = req.body ? new Uint8Array(await req.arrayBuffer()) : new Uint8Array();
    const kept = [...req.headers.entries()].filter(([k]) => !NOT_REPLAYED.has(k.toLowerCase()));
    seen.push({ method: req.method, path: url.pathname, headers: kept, body });
    const headers = new Headers(req.headers);
    headers.delete("host");
    const res = await fetch(`${upstream}${url.pathname}${url.search}`, {
      method: req.method,
      headers,
      body: req.method === "GET" ? undefined : body,
      redirect: "manual",
    });
    return new Response(res.body, { status: res.status, headers: res.headers });
  });
  try {
    const first = f.members[0];
    const proxyUrl = `http://127.0.0.1:${proxy.addr.port}`;
    const repoUrl = world.git.repoUrl(repoName(f.repoOf(first))).replace(upstream, proxyUrl);
    const label = "capture";
    const kubeconfigText = await Deno.readTextFile(f.kubeconfig);
    await Deno.writeTextFile(`${world.env.work}/kubeconfig-${label}`, kubeconfigText, {
      mode: 0o600,
    });
    const manifest = `${world.env.work}/fleet-${label}.yaml`;
    await Deno.writeTextFile(manifest, world.manifestText(label, [first], () => repoUrl));
    const r = await cli(world.env, planArgs({ ...f, manifest }, concurrency));
    // 2: changes (the GitRepository URL is the proxy's); anything else is a failed run.
    requireOk(r, "capture plan", [0, 2]);
  } finally {
    await proxy.shutdown();
  }
  const get = seen.find((s) => s.method === "GET" && s.path.endsWith("/info/refs"));
  const post = seen.find((s) => s.method === "POST" && s.path.endsWith("/git-upload-pack"));
  if (!get || !post) {
    throw new Error(
      `capture: expected a ref advertisement and an upload-pack POST, saw ${
        seen.map((s) => `${s.method} ${s.path}`).join(", ")
      }`,
    );
  }
  const encoding = post.headers.find(([k]) => k.toLowerCase() === "content-encoding");
  if (encoding) throw new Error(`capture: upload-pack body is ${encoding[1]}-encoded`);
  const want = /want ([0-9a-f]{40})/.exec(new TextDecoder().decode(post.body));
  if (!want) throw new Error("capture: no `want` in the upload-pack body");
  return {
    getHeaders: get.headers,
    postHeaders: post.headers,
    uploadPackBody: post.body,
    capturedSha: want[1],
  };
}

/** The floor's request list for fleet `f`, from the logs of its last real no-op plan. */
export async function writeFloorPlan(
  world: World,
  f: Fleet,
  capture: CapturedFetch,
  gitRecords: GitRequestRecord[],
  concurrency: number,
  /** Names a second floor of the same fleet (its file). */
  variant?: string,
): Promise<{ file: string; plan: FloorPlan }> {
  const plan = buildFloorPlan({
    concurrency,
    gitBaseUrl: world.git.url,
    authorization: `Basic ${basicAuth("git", world.env.token)}`,
    branch: "main",
    capture,
    gitRecords,
    clusters: f.members.map((i) => {
      const sb = world.sandboxes[i];
      return { server: sb.url, token: sb.token, caPem: sb.caPem, records: sb.requests };
    }),
  });
  const file = `${world.env.work}/floor-${f.label}${variant ? `-${variant}` : ""}.json`;
  // It holds the sandboxes' tokens: private to the user, removed with the work directory.
  await Deno.writeTextFile(file, JSON.stringify(plan), { mode: 0o600 });
  return { file, plan };
}

export async function runFloor(env: Env, file: string, mode: FloorMode): Promise<MeasuredRun> {
  const r = await measuredDeno(["run", "-A", `${ROOT}bench/floor_client.ts`, file, mode], {
    env: { NO_COLOR: "1" },
    scratch: env.work,
    cwd: ROOT,
    timeoutMs: 10 * 60_000,
  });
  requireOk(r, `floor (${mode})`);
  return r;
}

/** Requests the floor plan issues: it must equal what the real run sent. */
export function floorRequestCount(plan: FloorPlan): { git: number; api: number } {
  return {
    git: plan.git.repos.reduce((n, r) => n + r.requests.length, 0),
    api: plan.kube.clusters.reduce((n, c) => n + c.requests.length, 0),
  };
}
