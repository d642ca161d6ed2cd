/** Git faults injected into the real git server at the right moment: retried when transient, named when not. */
import assert from "node:assert/strict";
import { type GitFault, type GitServer, startGitServer } from "../../sandbox/git/http_server.ts";
import {
  checkoutRepo,
  commitAndPush,
  type GitRemote,
  httpsRemote,
} from "../../lib/git/transports/isomorphic/mod.ts";
import { type GitHttp, makeGitHttp } from "../../lib/git/transports/isomorphic/http.ts";
import type { RetryPolicy } from "../../lib/util/retry.ts";

const TOKEN = "canary-git-fault-token";
const author = { name: "fluxfleet", email: "f@example.com" };
const FAST: RetryPolicy = { attempts: 4, initialDelayMs: 10, maxDelayMs: 50 };

interface Fixture {
  server: GitServer;
  /** Temp dir for checkouts. */
  work: string;
  /** The HTTP client every request of the test goes through. */
  h: GitHttp;
  /** Repository fleet (one commit) with the right token. */
  remote: GitRemote;
}

/** A git server with repository fleet, a temp dir and an HTTP client with this timeout. */
async function withServer(fn: (f: Fixture) => Promise<void>, timeoutMs = 10_000) {
  const server = await startGitServer({ users: { git: TOKEN } });
  const work = await Deno.makeTempDir({ prefix: "fluxfleet-fault-" });
  const h = makeGitHttp({ allowInsecureHttp: true, timeoutMs });
  try {
    await server.createRepo("fleet", { files: { "README.md": "hi\n" } });
    await fn({ server, work, h, remote: httpsRemote(access(server), h) });
  } finally {
    h.close();
    await server.close();
    await Deno.remove(work, { recursive: true });
  }
}

function access(server: GitServer) {
  return { url: server.repoUrl("fleet"), username: "git", password: TOKEN };
}

Deno.test("503 on the ref advertisement twice: the fetch is retried and succeeds", async () => {
  await withServer(async ({ server, work, remote }) => {
    server.failNext({ phase: "advertise", status: 503, times: 2 });
    const co = await checkoutRepo(remote, "main", `${work}/c`, FAST);
    assert.equal(co.branchExists, true);
    assert.deepEqual(server.requests.slice(0, 3).map((r) => r.status), [503, 503, 200]);
  });
});

/** Checks out fleet, has the server answer the push with `fault`, then commits a.yaml. */
async function pushThrough(f: Fixture, fault: GitFault) {
  const co = await checkoutRepo(f.remote, "main", `${f.work}/c`, FAST);
  f.server.failNext(fault);
  return await commitAndPush(
    co,
    f.remote,
    [{ path: "a.yaml", content: "a\n" }],
    "Add a",
    author,
    3,
    FAST,
  );
}

Deno.test("500 on the push: retried, exactly one commit lands", async () => {
  await withServer(async (f) => {
    const r = await pushThrough(f, { phase: "receive", status: 500 });
    assert.equal(r.pushed, true);
    assert.equal(await f.server.headSha("fleet", "main"), r.head);
    assert.equal((await f.server.log("fleet", "main")).length, 2);
  });
});

Deno.test("push landed but the answer was a 502: the retry sees it and nothing is duplicated", async () => {
  await withServer(async (f) => {
    const r = await pushThrough(f, { phase: "receive", status: 502, after: true });
    assert.equal(await f.server.headSha("fleet", "main"), r.head);
    const log = await f.server.log("fleet", "main");
    assert.deepEqual(log.map((c) => c.message), ["Add a", "Initial commit"]);
  });
});

Deno.test("401 is permanent: one attempt, no retry", async () => {
  await withServer(async ({ server, work, h }) => {
    const bad = { ...access(server), password: "wrong-token-xyz" };
    await assert.rejects(
      checkoutRepo(httpsRemote(bad, h), "main", `${work}/c`, FAST),
      /HTTP 401/,
    );
    assert.equal(server.requests.length, 1);
  });
});

Deno.test("a git server slower than the timeout: named as a timeout after bounded retries", async () => {
  await withServer(async ({ server, work, remote }) => {
    server.failNext({ phase: "advertise", delayMs: 1_000, times: 2 });
    const policy = { attempts: 2, initialDelayMs: 10, maxDelayMs: 20 };
    await assert.rejects(
      checkoutRepo(remote, "main", `${work}/c`, policy),
      /did not answer before the timeout/,
    );
    assert.equal(server.requests.length, 2);
  }, 200);
});

Deno.test("git server down: connection refused in words", async () => {
  const server = await startGitServer({ users: { git: TOKEN } });
  const url = server.repoUrl("fleet");
  await server.close();
  const work = await Deno.makeTempDir();
  const h = makeGitHttp({ allowInsecureHttp: true, timeoutMs: 2_000 });
  try {
    await assert.rejects(
      checkoutRepo(
        httpsRemote({ url, username: "git", password: TOKEN }, h),
        "main",
        `${work}/c`,
        FAST,
      ),
      /cannot connect to git server http:\/\/127\.0\.0\.1:\d+\/fleet\.git: connection refused/,
    );
  } finally {
    h.close();
    await Deno.remove(work, { recursive: true });
  }
});
