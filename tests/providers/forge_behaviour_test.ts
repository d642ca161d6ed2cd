/**
 * The GitHub and Gitea providers beyond the contract, against their sandboxes: statuses in words
 * (401, 403 naming the missing permission or scope, 404, 422, 429), deploy keys listed across
 * several pages, a fleet of 12 clusters over 3 repositories whose second run changes nothing and
 * asks at most two things per repository, and rate-limit waits honoured and shared by sessions.
 */
import assert from "node:assert/strict";
import type { ProviderSession } from "../../lib/providers/types.ts";
import { ProviderError } from "../../lib/providers/types.ts";
import { applyAll } from "./contract.ts";
import { fakeKey } from "../helpers/forge_git.ts";
import { FORGE_TOKENS, type ForgeEnv, type ForgeKind, startForge } from "../helpers/forge.ts";

const KINDS: ForgeKind[] = ["github", "gitea"];
const SERVICE: Record<ForgeKind, string> = { github: "GitHub", gitea: "Gitea" };

async function failure(p: Promise<unknown>): Promise<ProviderError> {
  const e = await p.then(() => assert.fail("expected a failure"), (e: unknown) => e);
  assert.ok(e instanceof ProviderError, String(e));
  return e;
}

/** Observes, then carries out the repository's steps (create, grants). */
async function ready(s: ProviderSession): Promise<void> {
  await s.observe();
  await applyAll(s, s.planRepository().steps);
}

function label(cluster: string): string {
  return `fluxfleet-${cluster}-clusters-${cluster}-flux-system`;
}

/** One session per repository, its clusters' keys added as a run adds them; returns the keys. */
async function converge(
  env: ForgeEnv,
  repos: string[],
  perRepo: number,
  keys: Map<string, string> = new Map(),
): Promise<Map<string, string>> {
  for (const repo of repos) {
    const s = env.open({ repository: repo });
    await ready(s);
    for (let i = 0; i < perRepo; i++) {
      const cluster = `${repo}-c${i}`;
      const key = keys.get(cluster) ?? fakeKey(cluster);
      keys.set(cluster, key);
      await applyAll(s, s.planClusterAccess({ label: label(cluster), publicKey: key }), key);
    }
  }
  return keys;
}

for (const kind of KINDS) {
  const service = SERVICE[kind];

  Deno.test(`${kind}: 401, 404 and 422 in words, without the token`, async () => {
    const env = await startForge(kind);
    try {
      const rejected = await failure(env.open({}, FORGE_TOKENS.wrong).observe());
      assert.equal(rejected.status, 401);
      assert.match(
        rejected.message,
        new RegExp(
          `^read repository fleet/fleet: the ${service} token was rejected \\(401\\): check git\\.${kind}\\.token`,
        ),
      );
      assert.ok(!rejected.message.includes(FORGE_TOKENS.wrong));

      const missing = await failure(env.open({ owner: "nope" }).observe());
      assert.equal(missing.status, 404);
      assert.match(missing.message, /organization nope was not found on 127\.0\.0\.1:\d+ \(404\)/);

      // carol's token, alice's personal repository: named before anything is created.
      const other = await failure(
        env.open({ owner: "alice", personal: true }, FORGE_TOKENS.carol).observe(),
      );
      assert.match(other.message, /the token belongs to carol, not to alice/);

      // The same key added twice to a repository (a plan applied twice): the API refuses it.
      const s = env.open({ repository: "twice" });
      await ready(s);
      const key = fakeKey("twice");
      const steps = s.planClusterAccess({ label: label("c0"), publicKey: key });
      await applyAll(s, steps, key);
      const again = await failure(applyAll(s, steps, key));
      assert.equal(again.status, 422);
      assert.match(
        again.message,
        new RegExp(
          `^add deploy key "${
            label("c0")
          }" to fleet/twice: ${service} refused the request as invalid \\(422\\) \\(${service} says: .*(already in use|already been added)`,
        ),
      );
    } finally {
      await env.close();
    }
  });

  Deno.test(`${kind}: deploy keys are listed across several pages, once per repository`, async () => {
    const env = await startForge(kind, { perPage: 2 });
    try {
      const keys = await converge(env, ["paged"], 5);
      assert.equal(env.repo("fleet", "paged")!.keys.length, 5);
      const before = env.requests().length;
      const s = env.open({ repository: "paged" });
      await s.observe();
      for (const [cluster, key] of keys) {
        assert.deepEqual(s.planClusterAccess({ label: label(cluster), publicKey: key }), []);
        assert.equal(s.keyRegistered(key), true);
      }
      const asked = env.requests().slice(before);
      const pages = asked.filter((r) =>
        /\/repos\/fleet\/paged\/keys|\/repositories\/\d+\/keys/.test(r.path)
      );
      assert.equal(pages.length, 3, JSON.stringify(asked));
      assert.ok(asked.every((r) => r.method === "GET"));
    } finally {
      await env.close();
    }
  });

  Deno.test(`${kind}: a fleet of 12 clusters over 3 repositories: the second run changes nothing, 2 API calls a repository`, async () => {
    const env = await startForge(kind);
    try {
      const repos = ["fleet-a", "fleet-b", "fleet-c"];
      const keys = await converge(env, repos, 4);
      for (const r of repos) {
        const held = env.repo("fleet", r)!;
        assert.equal(held.private, true);
        assert.deepEqual(held.keys.map((k) => k.readOnly), [true, true, true, true]);
        assert.equal(new Set(held.keys.map((k) => k.title)).size, 4, "one title per cluster");
      }
      const mutations = env.mutations().length;
      const before = env.requests().length;
      const second = await converge(env, repos, 4, keys);
      assert.equal(second.size, 12);
      assert.equal(env.mutations().length, mutations, "the second run changed something");
      const asked = env.requests().slice(before);
      for (const r of repos) {
        const mine = asked.filter((q) =>
          q.path.startsWith(`/repos/fleet/${r}`) || q.path.startsWith(`/api/v1/repos/fleet/${r}`)
        );
        assert.deepEqual(mine.map((q) => q.method), ["GET", "GET"], r);
      }
      assert.equal(asked.length, 6);
    } finally {
      await env.close();
    }
  });

  Deno.test(`${kind}: a rate limit is waited for, told, and shared by every session of the token`, async () => {
    const env = await startForge(kind);
    try {
      await converge(env, ["limited-a", "limited-b"], 0);
      const refusedBefore = env.requests().filter((r) =>
        r.status === 403 || r.status === 429
      ).length;
      env.limit("alice", 1, 1);
      const waitsA: string[] = [];
      const waitsB: string[] = [];
      let told = false;
      const a = env.open({ repository: "limited-a" }, FORGE_TOKENS.alice, {
        onWait: (m) => {
          waitsA.push(m);
          told = true;
        },
      });
      const b = env.open({ repository: "limited-b" }, FORGE_TOKENS.alice, {
        onWait: (m) => waitsB.push(m),
      });
      let settled = false;
      const first = a.observe().finally(() => settled = true);
      while (!told && !settled) await new Promise((r) => setTimeout(r, 5));
      assert.ok(told, "the first session was told of the wait");
      const [factsA, factsB] = await Promise.all([first, b.observe()]);
      assert.equal(factsA.exists, true);
      assert.equal(factsB.exists, true);
      assert.match(
        waitsA[0],
        new RegExp(
          `^waiting \\d+ s for ${service}'s rate limit on 127\\.0\\.0\\.1:\\d+ \\((x-ratelimit-reset|retry-after)\\)$`,
        ),
      );
      assert.ok(waitsB.length >= 1, "the other session waited for the same limit");
      const refused = env.requests().filter((r) => r.status === 403 || r.status === 429).length;
      assert.equal(refused - refusedBefore, 1, "only the first request was refused");
    } finally {
      await env.close();
    }
  });
}

Deno.test("github: 403 names the missing permission of a fine-grained token, and the missing scope of a classic one", async () => {
  const fine = "github_pat_canary_fine_6a1e09d2";
  const narrow = "ghp_canary_narrow_7c3d5b11";
  const env = await startForge("github", {
    tokens: [
      {
        token: fine,
        user: "alice",
        name: "alice-fine",
        kind: "fine-grained",
        permissions: { metadata: "read", contents: "write" },
      },
      { token: narrow, user: "alice", name: "alice-narrow", scopes: ["read:org"] },
    ],
  });
  try {
    await ready(env.open({ repository: "rights" }));
    const perm = await failure(env.open({ repository: "rights" }, fine).observe());
    assert.equal(perm.status, 403);
    assert.match(
      perm.message,
      /^list deploy keys of fleet\/rights: the token for 127\.0\.0\.1:\d+\/fleet cannot list deploy keys: it needs the "administration: read" permission \(403\)$/,
    );
    assert.ok(!perm.message.includes(fine));
    // Without the repo scope a private repository is not even seen: creating it is what fails.
    const hidden = await failure(env.open({ repository: "rights" }, narrow).observe());
    assert.match(
      hidden.message,
      /the token for 127\.0\.0\.1:\d+\/fleet cannot create repositories: it needs the "repo" scope \(the token has: read:org\)/,
    );
    await ready(env.open({ repository: "open", private: false }));
    const scope = await failure(
      env.open({ repository: "open", private: false }, narrow).observe(),
    );
    assert.match(
      scope.message,
      /the token for 127\.0\.0\.1:\d+\/fleet cannot push to fleet\/open: it needs the "repo" or "public_repo" scope \(the token has: read:org\)/,
    );
    const create = await failure(env.open({ repository: "new-one" }, narrow).observe());
    assert.match(create.message, /cannot create repositories: it needs the "repo" scope/);
    assert.equal(env.repo("fleet", "new-one"), undefined);
  } finally {
    await env.close();
  }
});

Deno.test("gitea: 403 names the scope a token lacks", async () => {
  const readOnly = "gitea_canary_readonly_2b8f4e60";
  const env = await startForge("gitea", {
    tokens: [{
      token: readOnly,
      user: "alice",
      name: "alice-read",
      scopes: ["read:repository", "read:organization", "read:user"],
    }],
  });
  try {
    await ready(env.open({ repository: "scoped" }));
    const s = env.open({ repository: "scoped" }, readOnly);
    await s.observe();
    const key = fakeKey("scoped");
    const err = await failure(
      applyAll(s, s.planClusterAccess({ label: label("c0"), publicKey: key }), key),
    );
    assert.equal(err.status, 403);
    assert.match(
      err.message,
      /^add deploy key "[^"]+" to fleet\/scoped: the token for 127\.0\.0\.1:\d+\/fleet cannot add deploy keys: it needs the "write:repository" scope \(403\)$/,
    );
  } finally {
    await env.close();
  }
});

Deno.test("a rate limit beyond the wait bound fails in words, naming when it resets", async () => {
  const env = await startForge("github");
  try {
    env.limit("alice", 3600);
    const err = await failure(env.open({ repository: "late" }).observe());
    assert.equal(err.status, 403);
    assert.match(
      err.message,
      /^read repository fleet\/late: GitHub's rate limit for this token on 127\.0\.0\.1:\d+ is used up until \d\d:\d\d:\d\d UTC \(403, retry-after\): re-run after that, or use another token$/,
    );
    // The primary limit: remaining 0 until x-ratelimit-reset, an hour away.
    env.sandbox.github!.exhaustRateLimit("alice", { resetInSeconds: 3600 });
    const primary = await failure(env.open({ repository: "late" }).observe());
    assert.match(
      primary.message,
      /GitHub's rate limit for this token on 127\.0\.0\.1:\d+ is used up until \d\d:\d\d:\d\d UTC \(403, x-ratelimit-reset\)/,
    );
  } finally {
    await env.close();
  }
});
