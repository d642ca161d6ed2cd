/**
 * The floor of a no-op plan: exactly the requests fluxfleet's no-op plan made (read from the
 * servers' logs of a real run, see bench/fleet/floor.ts), issued from a minimal script with the
 * same concurrency and the same clients, and nothing else: no manifest, no kubeconfig, no
 * planning, no unpacking. Answers are read to their end and dropped.
 *
 *   deno run -A bench/floor_client.ts PLAN.json overlap|phases
 *
 * - git: per repository, the recorded requests in their order with the headers isomorphic-git
 *   sent. A POST git-upload-pack carries the body isomorphic-git sent in a captured run, with
 *   the `want` of the captured repository's head replaced by this repository's head, read from
 *   the ref advertisement just fetched (what isomorphic-git does too). Plain `fetch`, as
 *   lib/git/http.ts does for an http:// remote.
 * - API: per cluster, the recorded requests all at once (fluxfleet's observeCluster sends its
 *   three GETs together), over one `Deno.createHttpClient` trusting the sandboxes' CA with a 2 s
 *   idle pool timeout, shared by every cluster: lib/kube/client.ts's setup for clusters that
 *   trust the same CA.
 * - `overlap`: the repositories (`concurrency` at a time) and the clusters (`concurrency` at a
 *   time) at once, since no cluster read depends on git; `phases`: every repository first, then
 *   the clusters, as fluxfleet's plan runs today.
 *
 * Prints one JSON line: {requests, bytes}. Exits 1 on any answer other than 200.
 */
import type { FloorPlan, FloorRequest } from "./fleet/floor_plan.ts";

const [planFile, mode] = Deno.args;
if (!planFile || (mode !== "overlap" && mode !== "phases")) {
  console.error("usage: deno run -A bench/floor_client.ts PLAN.json overlap|phases");
  Deno.exit(2);
}
const plan: FloorPlan = JSON.parse(await Deno.readTextFile(planFile));

let requests = 0;
let bytes = 0;

async function drain(what: string, res: Response): Promise<Uint8Array> {
  const body = new Uint8Array(await res.arrayBuffer());
  requests++;
  bytes += body.length;
  if (res.status !== 200) throw new Error(`${what} answered ${res.status}`);
  return body;
}

function base64Bytes(b64: string): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

const template = base64Bytes(plan.git.uploadPackBody);
const enc = new TextEncoder();
const capturedSha = enc.encode(plan.git.capturedSha);

/** The captured upload-pack body with the captured head's sha replaced by `sha` (same length). */
function uploadPackBody(sha: string): Uint8Array<ArrayBuffer> {
  const out = template.slice();
  const to = enc.encode(sha);
  for (let i = 0; i + capturedSha.length <= out.length; i++) {
    let hit = true;
    for (let k = 0; k < capturedSha.length && hit; k++) hit = out[i + k] === capturedSha[k];
    if (hit) out.set(to, i);
  }
  return out;
}

/** The sha the ref advertisement gives `ref` (pkt-lines "<sha> <ref>[\0caps]\n"). */
function advertisedSha(advertisement: Uint8Array, ref: string): string {
  const text = new TextDecoder().decode(advertisement);
  const m = new RegExp(`([0-9a-f]{40}) ${ref.replace(/[/.]/g, "\\$&")}(?:\\0|\\n)`).exec(text);
  if (!m) throw new Error(`${ref} is not in the ref advertisement`);
  return m[1];
}

async function gitRepo(repo: FloorPlan["git"]["repos"][number]): Promise<void> {
  let sha = "";
  for (const r of repo.requests) {
    const url = `${plan.git.baseUrl}${r.path}`;
    const headers = new Headers(r.method === "POST" ? plan.git.postHeaders : plan.git.getHeaders);
    headers.set("Authorization", plan.git.authorization);
    if (r.method === "GET") {
      const body = await drain(`GET ${r.path}`, await fetch(url, { headers }));
      sha = advertisedSha(body, `refs/heads/${repo.branch}`);
    } else {
      const body = uploadPackBody(sha);
      await drain(`POST ${r.path}`, await fetch(url, { method: "POST", headers, body }));
    }
  }
}

const kubeClient = Deno.createHttpClient({ caCerts: [plan.kube.caPem], poolIdleTimeout: 2_000 });

async function cluster(c: FloorPlan["kube"]["clusters"][number]): Promise<void> {
  const headers = { Accept: "application/json", Authorization: `Bearer ${c.token}` };
  await Promise.all(
    c.requests.map(async (r: FloorRequest) =>
      drain(
        `${r.method} ${c.server}${r.path}`,
        await fetch(c.server + r.path, { method: r.method, headers, client: kubeClient }),
      )
    ),
  );
}

/** At most `limit` of `items` in flight (lib/util/pool.ts's mapLimit, repeated here). */
async function pool<T>(items: readonly T[], limit: number, fn: (t: T) => Promise<void>) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
}

try {
  const git = () => pool(plan.git.repos, plan.concurrency, gitRepo);
  const kube = () => pool(plan.kube.clusters, plan.concurrency, cluster);
  if (mode === "overlap") await Promise.all([git(), kube()]);
  else {
    await git();
    await kube();
  }
  console.log(JSON.stringify({ requests, bytes }));
} catch (e) {
  console.error(`floor: ${e instanceof Error ? e.message : String(e)}`);
  Deno.exitCode = 1;
} finally {
  kubeClient.close();
}
