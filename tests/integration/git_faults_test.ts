/** Git faults injected into the real git server at the right moment: retried when transient, named when not. */
import assert from "node:assert/strict";
import { type GitServer, startGitServer } from "../../sandbox/git/http_server.ts";
import { checkoutRepo, commitAndPush, httpsRemote } from "../../lib/git/repo.ts";
import { makeGitHttp } from "../../lib/git/http.ts";
import type { RetryPolicy } from "../../lib/util/retry.ts";

const TOKEN = "canary-git-fault-token";
const author = { name: "fluxfleet", email: "f@example.com" };
const FAST: RetryPolicy = { attempts: 4, initialDelayMs: 10, maxDelayMs: 50 };

async function withServer(fn: (s: GitServer, work: string) => Promise<void>) {
  const server = await startGitServer({ users: { git: TOKEN } });
  const work = await Deno.makeTempDir({ prefix: "fluxfleet-fault-" });
  try {
    await server.createRepo("fleet", { files: { "README.md": "hi\n" } });
    await fn(server, work);
  } finally {
    await server.close();
    await Deno.remove(work, { recursive: true });
  }
}

function access(server: GitServer) {
  return { url: server.repoUrl("fleet"), username: "git", password: TOKEN };
}

Deno.test("503 on the ref advertisement twice: the fetch is retried and succeeds", async () => {
  await withServer(async (server, work) => {
    const h = makeGitHttp({ allowInsecureHttp: true, timeoutMs: 10_000 });
    try {
      server.failNext({ phase: "advertise", status: 503, times: 2 });
      const co = await checkoutRepo(httpsRemote(access(server), h), "main", `${work}/c`, FAST);
      assert.equal(co.branchExists, true);
      assert.deepEqual(server.requests.slice(0, 3).map((r) => r.status), [503, 503, 200]);
    } finally {
      h.close();
    }
  });
});

Deno.test("500 on the push: retried, exactly one commit lands", async () => {
  await withServer(async (server, work) => {
    const h = makeGitHttp({ allowInsecureHttp: true, timeoutMs: 10_000 });
    try {
      const co = await checkoutRepo(httpsRemote(access(server), h), "main", `${work}/c`, FAST);
      server.failNext({ phase: "receive", status: 500 });
      const r = await commitAndPush(
        co,
        httpsRemote(access(server), h),
        [{ path: "a.yaml", content: "a\n" }],
        "Add a",
        author,
        3,
        FAST,
      );
      assert.equal(r.pushed, true);
      assert.equal(await server.headSha("fleet", "main"), r.head);
      assert.equal((await server.log("fleet", "main")).length, 2);
    } finally {
      h.close();
    }
  });
});

Deno.test("push landed but the answer was a 502: the retry sees it and nothing is duplicated", async () => {
  await withServer(async (server, work) => {
    const h = makeGitHttp({ allowInsecureHttp: true, timeoutMs: 10_000 });
    try {
      const co = await checkoutRepo(httpsRemote(access(server), h), "main", `${work}/c`, FAST);
      server.failNext({ phase: "receive", status: 502, after: true });
      const r = await commitAndPush(
        co,
        httpsRemote(access(server), h),
        [{ path: "a.yaml", content: "a\n" }],
        "Add a",
        author,
        3,
        FAST,
      );
      assert.equal(await server.headSha("fleet", "main"), r.head);
      const log = await server.log("fleet", "main");
      assert.deepEqual(log.map((c) => c.message), ["Add a", "Initial commit"]);
    } finally {
      h.close();
    }
  });
});

Deno.test("401 is permanent: one attempt, no retry", async () => {
  await withServer(async (server, work) => {
    const h = makeGitHttp({ allowInsecureHttp: true, timeoutMs: 10_000 });
    try {
      const bad = { ...access(server), password: "wrong-token-xyz" };
      await assert.rejects(
        checkoutRepo(httpsRemote(bad, h), "main", `${work}/c`, FAST),
        /HTTP 401/,
      );
      assert.equal(server.requests.length, 1);
    } finally {
      h.close();
    }
  });
});

Deno.test("a git server slower than the timeout: named as a timeout after bounded retries", async () => {
  await withServer(async (server, work) => {
    const h = makeGitHttp({ allowInsecureHttp: true, timeoutMs: 200 });
    try {
      server.failNext({ phase: "advertise", delayMs: 1_000, times: 2 });
      const policy = { attempts: 2, initialDelayMs: 10, maxDelayMs: 20 };
      await assert.rejects(
        checkoutRepo(httpsRemote(access(server), h), "main", `${work}/c`, policy),
        /did not answer before the timeout/,
      );
      assert.equal(server.requests.length, 2);
    } finally {
      h.close();
    }
  });
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
