/**
 * No redirect carries a secret. Real servers answer 307/302 pointing at a second local listener
 * that records what it receives: it must receive nothing (no token, no body), and the error names
 * both URLs. Kubernetes API redirects are never followed; git follows a redirect only inside the
 * origin of git.url over https (as git does); Bitbucket API redirects are never followed; the
 * manifests download (no credentials) follows redirects but never from https:// to http://.
 */
import assert from "node:assert/strict";
import { manifestYaml, tokenGit, withFleetEnv } from "../helpers/harness.ts";
import { type Recorder, startRecorder } from "../helpers/recorder.ts";
import { startGitServer } from "../../sandbox/git/http_server.ts";
import { sandboxTls } from "../../sandbox/kube/tls.ts";
import { makeGitHttp } from "../../lib/git/transports/isomorphic/http.ts";
import {
  checkoutRepo,
  commitAndPush,
  httpsRemote,
} from "../../lib/git/transports/isomorphic/mod.ts";
import { bitbucketServerProvider } from "../../lib/providers/bitbucket-server/mod.ts";
import { ProviderError } from "../../lib/providers/types.ts";
import { runCli } from "../helpers/harness.ts";

const TOKEN = "canary-redirect-token-4f2a9c";
const SECRET = "/api/v1/namespaces/flux-system/secrets/flux-system";
const ONCE = { attempts: 1, initialDelayMs: 1, maxDelayMs: 1 };
const author = { name: "fluxfleet", email: "f@example.com" };

async function withRecorder(
  opts: { tls?: boolean },
  fn: (r: Recorder) => Promise<void>,
): Promise<void> {
  const r = await startRecorder(opts);
  try {
    await fn(r);
  } finally {
    await r.close();
  }
}

function assertNothingReceived(r: Recorder): void {
  assert.deepEqual(
    r.requests.map((q) => `${q.method} ${q.url} auth=${q.authorization !== null}`),
    [],
    "the second listener received a request",
  );
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

Deno.test("a 307 on the Secret's server-side apply is not followed: the token and the body stay home, the error names both URLs", async () => {
  await withRecorder({}, async (other) => {
    await withFleetEnv({
      prefix: "fluxfleet-redirect-kube-",
      git: { users: { git: TOKEN } },
      repos: ["fleet"],
      kube: { reconcileDelayMs: 20 },
      cliEnv: { GIT_PASSWORD: TOKEN },
      manifest: ({ git }) =>
        manifestYaml({ git: tokenGit(git.repoUrl("fleet")), clusters: [{ name: "c0" }] }),
    }, async (env) => {
      const elsewhere = `${other.url}${SECRET}`;
      env.kube.failNext({
        status: 307,
        location: elsewhere,
        method: "PATCH",
        pathIncludes: SECRET,
      });
      const apply = await env.cli(["apply", "--auto-approve", env.manifest]);
      assert.equal(apply.code, 1, apply.stdout + apply.stderr);
      const out = apply.stdout + apply.stderr;
      assertNothingReceived(other);
      assert.match(
        out,
        new RegExp(
          `c0: failed: the cluster API of context "c0" answered PATCH ${
            escape(env.kube.url + SECRET)
          }\\S* with a redirect \\(307\\) to ${escape(elsewhere)}: not followed`,
        ),
      );
      // A redirect is permanent: asked once, not retried.
      const patches = env.kube.requests.filter((r) => r.method === "PATCH" && r.path === SECRET);
      assert.equal(patches.length, 1);
      assert.ok(!out.includes(TOKEN), "the token was printed");
    });
  });
});

/** An HTTPS (sandbox CA) or plain listener that answers `handler`, for the git client to talk to. */
async function withFront(
  tls: boolean,
  handler: (req: Request, url: URL) => Response | Promise<Response>,
  fn: (url: string) => Promise<void>,
): Promise<void> {
  const cert = tls ? await sandboxTls() : undefined;
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen() {},
    ...(cert ? { cert: cert.certPem, key: cert.keyPem } : {}),
  }, (req) => handler(req, new URL(req.url)));
  try {
    await fn(`${tls ? "https" : "http"}://127.0.0.1:${server.addr.port}`);
  } finally {
    await server.shutdown();
  }
}

/** Forwards a request to `target` (same path and query), as a reverse proxy does. */
async function forward(req: Request, url: URL, target: string): Promise<Response> {
  const body = req.body ? new Uint8Array(await req.arrayBuffer()) : undefined;
  const res = await fetch(`${target}${url.pathname}${url.search}`, {
    method: req.method,
    headers: req.headers,
    body,
  });
  return new Response(res.body, { status: res.status, headers: res.headers });
}

Deno.test("git over https: a redirect to plain http:// is not followed; the listener gets nothing and the error names both URLs", async () => {
  const tls = await sandboxTls();
  await withRecorder({}, async (other) => {
    await withFront(true, (_req, url) =>
      new Response(null, {
        status: 302,
        headers: { location: `${other.url}${url.pathname}${url.search}` },
      }), async (front) => {
      const work = await Deno.makeTempDir({ prefix: "fluxfleet-redirect-git-" });
      const http = makeGitHttp({ caPem: tls.caPem, allowInsecureHttp: false, timeoutMs: 10_000 });
      try {
        const remote = httpsRemote(
          { url: `${front}/fleet.git`, username: "git", password: TOKEN },
          http,
        );
        const err = await checkoutRepo(remote, "main", `${work}/c`, ONCE).then(
          () => assert.fail("the checkout succeeded"),
          (e: Error) => e,
        );
        assertNothingReceived(other);
        assert.match(
          err.message,
          new RegExp(
            `answered GET ${
              escape(front)
            }/fleet\\.git/info/refs\\?service=git-upload-pack with a redirect \\(302\\) to ${
              escape(other.url)
            }/fleet\\.git/info/refs\\?service=git-upload-pack, which leaves https://: not followed`,
          ),
        );
        assert.ok(!err.message.includes(TOKEN));
      } finally {
        http.close();
        await Deno.remove(work, { recursive: true });
      }
    });
  });
});

Deno.test("git: a 307 on the push to another server is not followed (the pack and the token stay home); inside the origin redirects are followed", async () => {
  const git = await startGitServer({ users: { git: TOKEN } });
  const work = await Deno.makeTempDir({ prefix: "fluxfleet-redirect-push-" });
  const http = makeGitHttp({ allowInsecureHttp: true, timeoutMs: 10_000 });
  try {
    await git.createRepo("fleet", { files: { "README.md": "hi\n" } });
    await withRecorder({}, async (other) => {
      await withFront(false, (req, url) => {
        if (url.pathname.startsWith("/moved/")) {
          // Same origin: followed, for the GET (302) and for the POSTs (307 keeps the method).
          const to = url.pathname.replace("/moved/", "/") + url.search;
          return new Response(null, {
            status: req.method === "GET" ? 302 : 307,
            headers: { location: to },
          });
        }
        if (url.pathname.endsWith("/git-receive-pack")) {
          return new Response(null, {
            status: 307,
            headers: { location: `${other.url}${url.pathname}` },
          });
        }
        return forward(req, url, git.url);
      }, async (front) => {
        // Through the same-origin redirects: the checkout works.
        const moved = httpsRemote(
          { url: `${front}/moved/fleet.git`, username: "git", password: TOKEN },
          http,
        );
        const co = await checkoutRepo(moved, "main", `${work}/moved`, ONCE);
        assert.equal(co.head, await git.headSha("fleet", "main"));

        const remote = httpsRemote(
          { url: `${front}/fleet.git`, username: "git", password: TOKEN },
          http,
        );
        const co2 = await checkoutRepo(remote, "main", `${work}/c`, ONCE);
        const err = await commitAndPush(
          co2,
          remote,
          [{ path: "a.yaml", content: "a\n" }],
          "Add a",
          author,
          1,
          ONCE,
        ).then(() => assert.fail("the push succeeded"), (e: Error) => e);
        assertNothingReceived(other);
        assert.match(
          err.message,
          new RegExp(
            `answered POST ${
              escape(front)
            }/fleet\\.git/git-receive-pack with a redirect \\(307\\) to ${
              escape(other.url)
            }/fleet\\.git/git-receive-pack, another server than ${
              escape(front)
            } \\(git\\.url\\): not followed`,
          ),
        );
        assert.equal((await git.log("fleet", "main")).length, 1, "nothing was pushed");
      });
    });
  } finally {
    http.close();
    await git.close();
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("Bitbucket: a 307 on creating the repository is not followed; the error names both URLs", async () => {
  await withRecorder({}, async (other) => {
    await withFront(false, (_req, url) =>
      new Response(null, {
        status: 307,
        headers: { location: `${other.url}${url.pathname}` },
      }), async (front) => {
      const p = bitbucketServerProvider({
        baseUrl: front,
        token: TOKEN,
        project: "FLEET",
        repository: "apps",
        allowInsecureHttp: true,
        retry: ONCE,
      });
      try {
        const err = await p.createRepository({ private: true }).then(
          () => assert.fail("accepted"),
          (e: unknown) => e,
        );
        assert.ok(err instanceof ProviderError, String(err));
        assertNothingReceived(other);
        assert.match(
          err.message,
          new RegExp(
            `Bitbucket answered ${
              escape(front)
            }/rest/api/1\\.0/projects/FLEET/repos\\S* with a redirect \\(307\\) to ${
              escape(other.url)
            }/rest/api/1\\.0/projects/FLEET/repos: not followed`,
          ),
        );
      } finally {
        p.close();
      }
    });
  });
});

Deno.test("manifests download: a redirect to another host is followed (no credentials), one from https:// to http:// is not", async () => {
  const tls = await sandboxTls();
  const dir = await Deno.makeTempDir({ prefix: "fluxfleet-redirect-manifests-" });
  try {
    await Deno.writeTextFile(`${dir}/ca.pem`, tls.caPem);
    await withRecorder({}, async (other) => {
      // GitHub-style: the release URL redirects to storage on another host.
      await withFront(true, (_req, url) =>
        new Response(null, {
          status: 302,
          headers: { location: `${other.url}/storage${url.pathname}` },
        }), async (front) => {
        const url = `${front}/fluxcd/flux2/releases/download/v2.4.0/manifests.tar.gz`;
        const r = await runCli(["manifests", "pull", "v2.4.0", `${dir}/out`, "--url", url], {
          DENO_CERT: `${dir}/ca.pem`,
        });
        assert.equal(r.code, 1, r.stdout + r.stderr);
        assertNothingReceived(other);
        assert.match(
          r.stderr,
          new RegExp(
            `downloading ${escape(url)} failed: ${escape(url)} redirects to ${
              escape(other.url)
            }/storage/fluxcd/flux2/releases/download/v2\\.4\\.0/manifests\\.tar\\.gz, which is not https://: not followed`,
          ),
        );
      });
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
