/**
 * Peak RSS and time of fluxfleet when a server (or an archive) sends far more than it should:
 *
 *   archive  a 3 MB manifests.tar.gz holding 3 GiB of zeros, read as `flux.manifests`
 *   kube     a Kubernetes API answer of 1 GiB (chunked, no Content-Length) to a GET
 *   pack     a git server answering the fetch with a 1 GiB pack (made up while it is sent)
 *
 *   deno run -A bench/bounds.ts [--runs N] [--only archive,kube,pack]
 *
 * Each run is a child `deno run` under /usr/bin/time -v (peak RSS = "Maximum resident set
 * size"); the servers live in this process and stream their answers, nothing large is stored but
 * the gzip bomb (3 MB, made once with tar and gzip in a temp dir). The figures printed are the
 * median and the range of the runs. To compare commits, export each one (`git archive`), copy
 * this file into its bench/ and run it there: the child imports lib/ from the folder it runs in,
 * through APIs that exist before and after the limits (loadManifests, createKubeClient,
 * checkoutRepo).
 */

const HERE = new URL("../", import.meta.url).pathname;
const GIB = 1024 * 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Child side: one scenario, its outcome on stdout.

interface Outcome {
  ok: boolean;
  ms: number;
  message: string;
}

async function timed(fn: () => Promise<unknown>): Promise<Outcome> {
  const started = performance.now();
  try {
    await fn();
    return { ok: true, ms: performance.now() - started, message: "no error" };
  } catch (e) {
    const message = (e instanceof Error ? e.message : String(e)).split("\n")[0].slice(0, 300);
    return { ok: false, ms: performance.now() - started, message };
  }
}

interface SourceModule {
  loadManifests(src: { source: string; cacheDir?: string }): Promise<unknown>;
}
interface KubeModule {
  createKubeClient(
    target: { kubeconfig: string; context: string; allowInsecureHttp: boolean },
  ): Promise<
    { get(path: string): Promise<unknown>; close(): void }
  >;
}
interface GitHttpModule {
  makeGitHttp(opts: { allowInsecureHttp: boolean; timeoutMs: number }): unknown;
}
interface RepoModule {
  httpsRemote(access: { url: string; username: string; password: string }, http: unknown): unknown;
  checkoutRepo(
    remote: unknown,
    branch: string,
    dir: string,
    retry: { attempts: number; initialDelayMs: number; maxDelayMs: number },
  ): Promise<unknown>;
}

async function child(scenario: string, arg: string): Promise<void> {
  const lib = (p: string) => import(`file://${HERE}lib/${p}`);
  let outcome: Outcome;
  if (scenario === "archive") {
    const { loadManifests } = await lib("manifests/source.ts") as SourceModule;
    outcome = await timed(() => loadManifests({ source: arg }));
  } else if (scenario === "kube") {
    const { createKubeClient } = await lib("kube/client.ts") as KubeModule;
    const dir = await Deno.makeTempDir({ prefix: "fluxfleet-bounds-kube-" });
    await Deno.writeTextFile(
      `${dir}/kubeconfig`,
      JSON.stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: "big", cluster: { server: arg } }],
        users: [{ name: "big", user: { token: "bench-token" } }],
        contexts: [{ name: "big", context: { cluster: "big", user: "big" } }],
        "current-context": "big",
      }),
    );
    const client = await createKubeClient({
      kubeconfig: `${dir}/kubeconfig`,
      context: "big",
      allowInsecureHttp: true,
    });
    outcome = await timed(() => client.get("/api/v1/namespaces/default"));
    client.close();
    await Deno.remove(dir, { recursive: true });
  } else {
    const { makeGitHttp } = await lib("git/transports/isomorphic/http.ts") as GitHttpModule;
    const { httpsRemote, checkoutRepo } = await lib(
      "git/transports/isomorphic/fetch.ts",
    ) as RepoModule;
    const dir = await Deno.makeTempDir({ prefix: "fluxfleet-bounds-pack-" });
    const http = makeGitHttp({ allowInsecureHttp: true, timeoutMs: 600_000 });
    const remote = httpsRemote({ url: arg, username: "git", password: "bench" }, http);
    outcome = await timed(() =>
      checkoutRepo(remote, "main", `${dir}/c`, { attempts: 1, initialDelayMs: 1, maxDelayMs: 1 })
    );
    await Deno.remove(dir, { recursive: true });
  }
  console.log(JSON.stringify(outcome));
}

// ---------------------------------------------------------------------------------------------
// Servers: they make their answers up while sending them.

/** `chunk` repeated until `total` bytes were produced, pulled by the reader. */
function repeated(
  prefix: Uint8Array,
  chunk: Uint8Array,
  total: number,
): ReadableStream<Uint8Array> {
  let sent = 0;
  let first = true;
  return new ReadableStream({
    pull(controller) {
      if (first) {
        first = false;
        controller.enqueue(prefix);
        sent += prefix.length;
        return;
      }
      if (sent >= total) {
        controller.close();
        return;
      }
      controller.enqueue(chunk);
      sent += chunk.length;
    },
  }, { highWaterMark: 0 });
}

/** A Namespace whose `pad` string is 1 GiB long; no Content-Length (chunked). */
function kubeServer(): Deno.HttpServer<Deno.NetAddr> {
  const enc = new TextEncoder();
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
    const chunk = enc.encode("A".repeat(1 << 20));
    const body = repeated(
      enc.encode('{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"default"},"pad":"'),
      chunk,
      GIB,
    ).pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        flush(c) {
          c.enqueue(enc.encode('"}'));
        },
      }),
    );
    return new Response(body, { headers: { "content-type": "application/json" } });
  });
}

function pkt(payload: Uint8Array): Uint8Array<ArrayBuffer> {
  const head = new TextEncoder().encode((payload.length + 4).toString(16).padStart(4, "0"));
  const out = new Uint8Array(head.length + payload.length);
  out.set(head);
  out.set(payload, head.length);
  return out;
}

const pktText = (s: string) => pkt(new TextEncoder().encode(s));
const FLUSH = new TextEncoder().encode("0000");

function concat(parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Smart HTTP: a ref advertisement with one branch, then a fetch answered by NAK and 1 GiB of
 * side-band pack data (a PACK header and filler: the client has to read it all before it can
 * find out it is not a pack).
 */
function packServer(): Deno.HttpServer<Deno.NetAddr> {
  const oid = "1".repeat(40);
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const url = new URL(req.url);
    if (url.pathname.endsWith("/info/refs")) {
      const caps = "multi_ack_detailed side-band-64k ofs-delta shallow no-progress " +
        "symref=HEAD:refs/heads/main agent=git/bench";
      return new Response(
        concat([
          pktText("# service=git-upload-pack\n"),
          FLUSH,
          pktText(`${oid} HEAD\0${caps}\n`),
          pktText(`${oid} refs/heads/main\n`),
          FLUSH,
        ]),
        { headers: { "content-type": "application/x-git-upload-pack-advertisement" } },
      );
    }
    const data = new Uint8Array(65515);
    data[0] = 1; // side-band channel 1: pack data
    data.fill(0x55, 1);
    const header = new Uint8Array([1, 0x50, 0x41, 0x43, 0x4b, 0, 0, 0, 2, 0, 0, 0, 1]);
    return req.body!.cancel().then(() =>
      new Response(
        repeated(
          concat([pktText(`shallow ${oid}\n`), FLUSH, pktText("NAK\n"), pkt(header)]),
          pkt(data),
          GIB,
        ),
        { headers: { "content-type": "application/x-git-upload-pack-result" } },
      )
    );
  });
}

// ---------------------------------------------------------------------------------------------
// Parent side.

async function makeBomb(dir: string): Promise<string> {
  // A sparse 3 GiB file: tar reads zeros without touching the disk; gzip makes them ~3 MB.
  const zeros = `${dir}/zeros.yaml`;
  const f = await Deno.open(zeros, { create: true, write: true });
  await f.truncate(3 * GIB);
  f.close();
  const out = `${dir}/manifests.tar.gz`;
  const sh = await new Deno.Command("sh", {
    args: ["-c", `tar -C '${dir}' -cf - zeros.yaml | gzip > '${out}'`],
  }).output();
  if (!sh.success) {
    throw new Error(`making the gzip bomb failed: ${new TextDecoder().decode(sh.stderr)}`);
  }
  await Deno.remove(zeros);
  return out;
}

interface Run {
  rssMiB: number;
  wallMs: number;
  outcome: Outcome;
}

async function measure(scenario: string, arg: string): Promise<Run> {
  const out = await new Deno.Command("/usr/bin/time", {
    args: ["-v", Deno.execPath(), "run", "-A", `${HERE}bench/bounds.ts`, "--child", scenario, arg],
    cwd: HERE,
    stdin: "null",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  const stderr = new TextDecoder().decode(out.stderr);
  const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(stderr);
  const line = stdout.trim().split("\n").pop() ?? "";
  let outcome: Outcome;
  try {
    outcome = JSON.parse(line);
  } catch {
    outcome = {
      ok: false,
      ms: NaN,
      message: `child failed (exit ${out.code}): ${stderr.slice(-300)}`,
    };
  }
  return { rssMiB: rss ? Number(rss[1]) / 1024 : NaN, wallMs: outcome.ms, outcome };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function summary(name: string, runs: Run[]): string {
  const rss = runs.map((r) => r.rssMiB);
  const ms = runs.map((r) => r.wallMs);
  const f = (n: number) => n.toFixed(0);
  return `${name.padEnd(8)} peak RSS median ${f(median(rss))} MiB (${f(Math.min(...rss))}–${
    f(Math.max(...rss))
  }), time median ${f(median(ms))} ms (${f(Math.min(...ms))}–${
    f(Math.max(...ms))
  }), ${runs.length} runs\n` +
    `         outcome: ${runs[0].outcome.ok ? "accepted" : `refused: ${runs[0].outcome.message}`}`;
}

async function main(): Promise<void> {
  const args = [...Deno.args];
  const opt = (name: string, fallback: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : fallback;
  };
  const runs = Number(opt("--runs", "5"));
  const only = opt("--only", "archive,kube,pack").split(",");
  const dir = await Deno.makeTempDir({ prefix: "fluxfleet-bounds-" });
  const kube = kubeServer();
  const pack = packServer();
  try {
    const targets: Record<string, () => Promise<string>> = {
      archive: () => makeBomb(dir),
      kube: () => Promise.resolve(`http://127.0.0.1:${kube.addr.port}`),
      pack: () => Promise.resolve(`http://127.0.0.1:${pack.addr.port}/fleet.git`),
    };
    for (const scenario of only) {
      const arg = await targets[scenario]();
      const results: Run[] = [];
      for (let i = 0; i < runs; i++) results.push(await measure(scenario, arg));
      console.log(summary(scenario, results));
    }
  } finally {
    await kube.shutdown();
    await pack.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
}

if (Deno.args[0] === "--child") await child(Deno.args[1], Deno.args[2]);
else await main();
