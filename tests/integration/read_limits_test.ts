/**
 * Every read from the network is bounded (lib/util/limits.ts): Kubernetes answers, git packs over
 * HTTPS and SSH, manifests downloads and files, and a gzip bomb while it inflates. Past a limit
 * the error names the server and the limit and nothing is retried; a 200 whose JSON body was cut
 * off is a failed exchange, never "the object exists".
 */
import assert from "node:assert/strict";
import {
  CAN_RUN_SSHD,
  manifestYaml,
  ROOT,
  runCli,
  tokenGit,
  withFleetEnv,
  withSshd,
} from "../helpers/harness.ts";
import { startGitServer } from "../../sandbox/git/http_server.ts";
import { createKubeClient, type KubeClient } from "../../lib/kube/client.ts";
import { makeGitHttp } from "../../lib/git/transports/isomorphic/http.ts";
import { sshGitTransport } from "../../lib/git/transports/isomorphic/ssh.ts";
import { checkoutRepo, httpsRemote } from "../../lib/git/transports/isomorphic/mod.ts";
import { generateKeyPair } from "../../lib/keys/generate.ts";
import { loadManifests } from "../../lib/manifests/source.ts";
import { readHead } from "../../lib/util/bounded_read.ts";
import { DEFAULT_LIMITS, MIB, withLimitOption } from "../../lib/util/limits.ts";

const TOKEN = "canary-limits-token-8d1e";
const ONCE = { attempts: 1, initialDelayMs: 1, maxDelayMs: 1 };
const TWICE = { attempts: 2, initialDelayMs: 1, maxDelayMs: 1 };
const enc = new TextEncoder();

// ---------------------------------------------------------------------------------------------
// Kubernetes answers.

/** A kube client on `server` (plain http, allowed), with a kubeconfig in a temp dir. */
async function withKubeClient(
  server: string,
  opts: Parameters<typeof createKubeClient>[1],
  fn: (c: KubeClient) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "fluxfleet-limits-kube-" });
  let client: KubeClient | undefined;
  try {
    await Deno.writeTextFile(
      `${dir}/kubeconfig`,
      JSON.stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: "big", cluster: { server } }],
        users: [{ name: "big", user: { token: TOKEN } }],
        contexts: [{ name: "big", context: { cluster: "big", user: "big" } }],
        "current-context": "big",
      }),
    );
    client = await createKubeClient(
      { kubeconfig: `${dir}/kubeconfig`, context: "big", allowInsecureHttp: true },
      opts,
    );
    await fn(client);
  } finally {
    client?.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** A Namespace whose `pad` field makes the answer `size` bytes, streamed without Content-Length. */
function hugeNamespace(size: number): ReadableStream<Uint8Array> {
  const head = enc.encode('{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"x"},"pad":"');
  const chunk = enc.encode("A".repeat(MIB));
  let sent = 0;
  return new ReadableStream({
    pull(c) {
      if (sent === 0) c.enqueue(head);
      else if (sent >= size) {
        c.enqueue(enc.encode('"}'));
        c.close();
        return;
      } else c.enqueue(chunk);
      sent += sent === 0 ? head.length : chunk.length;
    },
  }, { highWaterMark: 0 });
}

Deno.test("a Kubernetes answer over the kube-response limit (default 64 MiB) is refused in words, once", async () => {
  let requests = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
    requests++;
    return new Response(hugeNamespace(DEFAULT_LIMITS.kubeResponse + 8 * MIB), {
      headers: { "content-type": "application/json" },
    });
  });
  const url = `http://127.0.0.1:${server.addr.port}`;
  try {
    await withKubeClient(url, {}, async (client) => {
      await assert.rejects(
        client.get("/api/v1/namespaces/x"),
        new RegExp(
          `^LimitExceededError: the cluster API of context "big" at ${url} answered GET /api/v1/namespaces/x with more than 64 MiB \\(the kube-response limit\\); raise it with --limit kube-response=SIZE`,
        ),
      );
    });
    assert.equal(requests, 1, "a limit is not retried");
    // The limit is the client's option.
    await withKubeClient(url, { maxResponseBytes: MIB }, async (client) => {
      await assert.rejects(client.get("/api/v1/namespaces/x"), /with more than 1 MiB/);
    });
  } finally {
    await server.shutdown();
  }
});

Deno.test("a gzip Kubernetes answer is counted as it unpacks: a small Content-Length does not let 8 MiB past a 1 MiB limit", async () => {
  // fetch decompresses and the Content-Length it sees is the compressed one (~8 KiB here).
  const json = enc.encode(
    `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"x"},"pad":"${"A".repeat(8 * MIB)}"}`,
  );
  const gzip = new Uint8Array(
    await new Response(new Blob([json]).stream().pipeThrough(new CompressionStream("gzip")))
      .arrayBuffer(),
  );
  assert.ok(gzip.length < MIB);
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () =>
      new Response(gzip, {
        headers: {
          "content-type": "application/json",
          "content-encoding": "gzip",
          "content-length": String(gzip.length),
        },
      }),
  );
  const url = `http://127.0.0.1:${server.addr.port}`;
  try {
    await withKubeClient(url, { maxResponseBytes: MIB }, async (client) => {
      await assert.rejects(
        client.get("/api/v1/namespaces/x"),
        new RegExp(
          `^LimitExceededError: the cluster API of context "big" at ${url} answered GET /api/v1/namespaces/x with more than 1 MiB \\(the kube-response limit\\)`,
        ),
      );
    });
  } finally {
    await server.shutdown();
  }
});

/** A raw HTTP/1.1 server that answers 200 with `head` + the start of a JSON body, then hangs up. */
function cutOffServer(head: string): { url: string; connections: () => number; close(): void } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let connections = 0;
  (async () => {
    for await (const conn of listener) {
      connections++;
      (async () => {
        try {
          await conn.read(new Uint8Array(64 * 1024));
          await conn.write(enc.encode(head + '{"apiVersion":"v1","kind":"Namespace","meta'));
        } finally {
          conn.close();
        }
      })().catch(() => {});
    }
  })().catch(() => {});
  return {
    url: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    connections: () => connections,
    close: () => listener.close(),
  };
}

Deno.test("a 200 whose JSON body is cut off is a failed (retried) exchange, not an object that exists", async (t) => {
  const cases = [
    ["with a Content-Length larger than what is sent", "Content-Length: 1000\r\n"],
    ["without Content-Length, connection closed", "Connection: close\r\n"],
  ];
  for (const [name, header] of cases) {
    await t.step(name, async () => {
      const server = cutOffServer(
        `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n${header}\r\n`,
      );
      try {
        await withKubeClient(server.url, { retry: TWICE }, async (client) => {
          await assert.rejects(
            client.get("/api/v1/namespaces/x"),
            new RegExp(
              `the cluster API of context "big" at ${server.url} (answered GET /api/v1/namespaces/x with 200 but an incomplete JSON body|to GET /api/v1/namespaces/x was cut off)`,
            ),
          );
        });
        assert.equal(server.connections(), 2, "retried like a dropped connection");
      } finally {
        server.close();
      }
    });
  }
});

// ---------------------------------------------------------------------------------------------
// Git packs.

/** ~3 MiB that does not compress: a pack holding it is ~3 MiB too. */
function incompressible(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(48 * 1024));
  const parts: string[] = [];
  for (let i = 0; i < 48; i++) {
    crypto.getRandomValues(bytes);
    parts.push(btoa(String.fromCharCode(...bytes)));
  }
  return parts.join("\n");
}

Deno.test("git over HTTP: a pack over the git-pack limit stops the fetch in words, without a retry", async () => {
  const git = await startGitServer({ users: { git: TOKEN } });
  const work = await Deno.makeTempDir({ prefix: "fluxfleet-limits-git-" });
  const http = makeGitHttp({ allowInsecureHttp: true, timeoutMs: 20_000, maxResponseBytes: MIB });
  try {
    await git.createRepo("big", { files: { "big.txt": incompressible() } });
    const remote = httpsRemote({ url: git.repoUrl("big"), username: "git", password: TOKEN }, http);
    await assert.rejects(
      checkoutRepo(remote, "main", `${work}/c`, TWICE),
      new RegExp(
        `^GitError: the git server ${git.url} sent more than 1 MiB in one answer \\(POST /big\\.git/git-upload-pack; the git-pack limit\\); raise it with --limit git-pack=SIZE`,
      ),
    );
    const fetches = git.requests.filter((r) =>
      r.service === "git-upload-pack" && r.method === "POST"
    );
    assert.equal(fetches.length, 1, "a limit is not retried");
    // The same repository with the default limit is fetched.
    const roomy = makeGitHttp({ allowInsecureHttp: true, timeoutMs: 20_000 });
    try {
      const co = await checkoutRepo(
        httpsRemote({ url: git.repoUrl("big"), username: "git", password: TOKEN }, roomy),
        "main",
        `${work}/ok`,
        ONCE,
      );
      assert.equal(co.head, await git.headSha("big", "main"));
    } finally {
      roomy.close();
    }
  } finally {
    http.close();
    await git.close();
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test({
  name:
    "git over SSH (built-in transport): a pack over the git-pack limit stops the fetch in words",
  ignore: !CAN_RUN_SSHD,
  async fn() {
    await withSshd(async (sshd) => {
      const key = await generateKeyPair({ algorithm: "ed25519" }, "limits@test");
      await sshd.authorize(key.publicKey);
      await sshd.createRepo("big", { files: { "big.txt": incompressible() } });
      const work = await Deno.makeTempDir({ prefix: "fluxfleet-limits-ssh-" });
      const transport = sshGitTransport({
        url: sshd.repoUrl("big"),
        privateKey: key.privateKey,
        knownHosts: sshd.knownHosts(),
        maxResponseBytes: MIB,
      });
      try {
        const remote = {
          displayUrl: sshd.repoUrl("big"),
          url: transport.url,
          headers: {},
          http: transport.http,
        };
        await assert.rejects(
          checkoutRepo(remote, "main", `${work}/c`, TWICE),
          new RegExp(
            `^GitError: the SSH git server 127\\.0\\.0\\.1:${sshd.port} sent more than 1 MiB in one answer \\(git-upload-pack; the git-pack limit\\)`,
          ),
        );
        assert.equal(transport.requests, 1, "one exec: a limit is not retried");
      } finally {
        await transport.close();
        await Deno.remove(work, { recursive: true });
      }
    });
  },
});

Deno.test("the CLI's --limit reaches the git and Kubernetes clients; a bad --limit is refused", async () => {
  await withFleetEnv({
    prefix: "fluxfleet-limits-cli-",
    git: { users: { git: TOKEN } },
    cliEnv: { GIT_PASSWORD: TOKEN },
    manifest: ({ git }) =>
      manifestYaml({ git: tokenGit(git.repoUrl("big")), clusters: [{ name: "c0" }] }),
  }, async (env) => {
    await env.git.createRepo("big", { files: { "big.txt": incompressible() } });
    const pack = await env.cli(["plan", "--limit", "git-pack=1MiB", env.manifest]);
    assert.equal(pack.code, 1, pack.stdout + pack.stderr);
    assert.match(pack.stdout, /sent more than 1 MiB in one answer .*the git-pack limit/);
    const kube = await env.cli(["plan", "--limit", "kube-response=100", env.manifest]);
    assert.equal(kube.code, 1, kube.stdout + kube.stderr);
    assert.match(kube.stdout, /with more than 100 bytes \(the kube-response limit\)/);
    const bad = await env.cli(["plan", "--limit", "git-packs=1GiB", env.manifest]);
    assert.equal(bad.code, 1);
    assert.match(
      bad.stderr,
      /"git-packs" is not a limit; one of: kube-response, git-pack, manifests/,
    );
  });
});

Deno.test("--limit sizes: units, and refusals in words", () => {
  assert.equal(withLimitOption(DEFAULT_LIMITS, "git-pack=1GiB").gitPack, 1024 * MIB);
  assert.equal(withLimitOption(DEFAULT_LIMITS, "manifests=2m").manifests, 2 * MIB);
  assert.equal(withLimitOption(DEFAULT_LIMITS, "kube-response=1000").kubeResponse, 1000);
  assert.throws(() => withLimitOption(DEFAULT_LIMITS, "git-pack=lots"), /"lots" is not a size/);
  assert.throws(() => withLimitOption(DEFAULT_LIMITS, "git-pack=0"), /"0" is not a size/);
});

// ---------------------------------------------------------------------------------------------
// Manifests.

Deno.test("manifests over the manifests limit: a download and a local file are refused in words", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fluxfleet-limits-manifests-" });
  const install = await Deno.readFile(`${ROOT}fixtures/flux-install.yaml`);
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response(install),
  );
  try {
    const source = `http://127.0.0.1:${server.addr.port}/install.yaml`;
    await assert.rejects(
      loadManifests({ source, cacheDir: dir, allowInsecureHttp: true, maxBytes: 1024 }),
      new RegExp(
        `flux\\.manifests: downloading ${source} failed: the download is larger than 1 KiB \\(the manifests limit\\); raise it with --limit manifests=SIZE`,
      ),
    );
    await assert.rejects(
      loadManifests({ source: `${ROOT}fixtures/flux-install.yaml`, maxBytes: 1024 }),
      /flux\.manifests: .*flux-install\.yaml is larger than 1 KiB \(the manifests limit\)/,
    );
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a gzip bomb (512 MiB of zeros in a .tar.gz) is refused while inflating, in bounded memory", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fluxfleet-limits-bomb-" });
  try {
    const zeros = await Deno.open(`${dir}/zeros.yaml`, { create: true, write: true });
    await zeros.truncate(512 * MIB);
    zeros.close();
    const made = await new Deno.Command("sh", {
      args: ["-c", `tar -C '${dir}' -cf - zeros.yaml | gzip -1 > '${dir}/bomb.tar.gz'`],
    }).output();
    assert.ok(made.success, new TextDecoder().decode(made.stderr));
    await Deno.remove(`${dir}/zeros.yaml`);
    // In a child process, so its peak RSS (VmHWM) is the reading's alone.
    const child = `
      import { loadManifests } from "${ROOT}lib/manifests/source.ts";
      let message = "accepted";
      try { await loadManifests(${JSON.stringify(`${dir}/bomb.tar.gz`)}); }
      catch (e) { message = e.message; }
      const hwm = /VmHWM:\\s+(\\d+) kB/.exec(Deno.readTextFileSync("/proc/self/status"))[1];
      console.log(JSON.stringify({ message, peakMiB: Number(hwm) / 1024 }));
    `;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["eval", "--ext=ts", child],
      cwd: ROOT,
      stdin: "null",
    }).output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    const r = JSON.parse(new TextDecoder().decode(out.stdout)) as {
      message: string;
      peakMiB: number;
    };
    // The whole 512 MiB inflated at once took ~1 GiB; pieces stop a few MiB past the limit.
    assert.ok(r.peakMiB < 400, `peak RSS ${r.peakMiB.toFixed(0)} MiB (${r.message})`);
    assert.match(
      r.message,
      /bomb\.tar\.gz is not a usable \.tar\.gz: archive is larger than 64 MiB once decompressed; raise it with --limit manifests=SIZE/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("what a git child process prints is kept up to a bound and drained to its end", async () => {
  const out = await readHead(
    new Response(new Uint8Array(5 * MIB).fill(0x72)).body!,
    MIB,
  );
  assert.equal(out.dropped, 4 * MIB);
  assert.ok(out.text.startsWith("r".repeat(MIB) + "\n"));
  assert.match(out.text, /\(… 4194304 more bytes of output dropped\)$/);
});

Deno.test("the manifest file itself is read up to 16 MiB: a larger one (or an endless pipe) is refused in words", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fluxfleet-limits-manifest-" });
  try {
    const file = `${dir}/flux-bootstrap.yaml`;
    await Deno.writeTextFile(file, "# padding\n".repeat(1.7 * MIB));
    const r = await runCli(["validate", file]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.equal(
      r.stderr,
      `${file}: is larger than 16 MiB; a manifest is a YAML mapping with "clusters:" (the list of clusters, each with a name and a path) and optionally "defaults:"\n`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
