/**
 * The Bitbucket Server provider against the Bitbucket REST sandbox over real HTTP, with the
 * real git HTTP sandbox serving the repositories it creates: its REST client, and its session
 * (observe → plan → apply), the code a run uses, for what is created, granted and registered.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  type BitbucketServerProvider,
  bitbucketServerProvider,
  type BitbucketTarget,
} from "../../lib/providers/bitbucket-server/mod.ts";
import { provider as bitbucketModule } from "../../lib/providers/bitbucket-server/mod.ts";
import type { BitbucketSettings } from "../../lib/providers/bitbucket-server/settings.ts";
import { bitbucketSettings } from "../helpers/bitbucket.ts";
import { mustGit } from "../helpers/forge_git.ts";
import { applyAll } from "../providers/contract.ts";
import {
  ProviderError,
  type ProviderSession,
  publicKeyMaterial,
} from "../../lib/providers/types.ts";
import {
  type BitbucketSandbox,
  type BitbucketSandboxOptions,
  startBitbucketSandbox,
} from "../../sandbox/bitbucket/server.ts";
import { type GitServer, startGitServer } from "../../sandbox/git/http_server.ts";
import { makeTempDir, type TempDir } from "../../sandbox/git/testrepo.ts";
import { sandboxTls } from "../../sandbox/kube/tls.ts";

const ALICE = { user: "alice", token: "alice-http-token-4f1c9a", admin: false };
const BOB = { user: "bob", token: "bob-http-token-77d02e", admin: false };
const ADMIN = { user: "admin", token: "admin-http-token-9b3e51", admin: true };
const SSH_BASE = "ssh://git@127.0.0.1:7999";
const FAST_RETRY = { attempts: 3, initialDelayMs: 5, maxDelayMs: 50 };

interface Env {
  git: GitServer;
  bb: BitbucketSandbox;
  dir: TempDir;
  authorized: { key: string; readOnly: boolean }[];
  revoked: string[];
  provider(
    t: Partial<BitbucketTarget> & { project: string; repository: string },
  ): BitbucketServerProvider;
  /** The provider's session for one repository, as a run opens it. */
  session(
    b: Partial<BitbucketSettings> & { project: string; slug: string },
    token?: string,
  ): ProviderSession;
  close(): Promise<void>;
}

async function startEnv(extra: Partial<BitbucketSandboxOptions> = {}): Promise<Env> {
  const dir = await makeTempDir("fluxfleet-bb-");
  const users = [ALICE, BOB, ADMIN];
  const git = await startGitServer({
    root: dir.path,
    users: Object.fromEntries(users.map((u) => [u.user, u.token])),
  });
  const authorized: Env["authorized"] = [];
  const revoked: string[] = [];
  const bb = await startBitbucketSandbox({
    users: Object.fromEntries(users.map((u) => [u.user, { token: u.token, admin: u.admin }])),
    projects: ["FLEET"],
    groups: ["g1", "g2", "g3", "g4", "g5"],
    pageSize: 2,
    gitRoot: git.root,
    httpCloneBase: git.url,
    sshCloneBase: SSH_BASE,
    accessKeys: {
      authorize: (key, opts) =>
        Promise.resolve(void authorized.push({ key, readOnly: opts.readOnly })),
      revoke: (key) => Promise.resolve(void revoked.push(key)),
    },
    ...extra,
  });
  const providers: BitbucketServerProvider[] = [];
  const sessions: ProviderSession[] = [];
  return {
    git,
    bb,
    dir,
    authorized,
    revoked,
    provider(t) {
      const p = bitbucketServerProvider({
        baseUrl: bb.url,
        token: ADMIN.token,
        allowInsecureHttp: true,
        retry: FAST_RETRY,
        ...t,
      });
      providers.push(p);
      return p;
    },
    session(b, token = ADMIN.token) {
      const settings = bitbucketSettings(bb.url, b);
      const s = bitbucketModule.open(settings, { token, allowInsecureHttp: true, attempts: 3 });
      sessions.push(s);
      return s;
    },
    async close() {
      for (const p of providers) p.close();
      for (const s of sessions) s.close();
      await bb.close();
      await git.close();
      await dir.remove();
    },
  };
}

async function expectProviderError(p: Promise<unknown>): Promise<ProviderError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof ProviderError, `expected ProviderError, got ${e}`);
    return e;
  }
  assert.fail("expected the call to fail");
}

function fakePublicKey(comment = ""): string {
  const blob = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(51))));
  return `ssh-ed25519 ${blob}${comment ? ` ${comment}` : ""}`;
}

function basicAuth(user: string, password: string): string {
  return `http.extraHeader=Authorization: Basic ${btoa(`${user}:${password}`)}`;
}

Deno.test("a personal repository ~alice/fleet is created private, has clone links and is clonable", async () => {
  const env = await startEnv();
  try {
    const p = env.provider({ project: "~alice", repository: "fleet", token: ALICE.token });
    await p.checkAccess();
    // The owner of a personal project needs no further permission probe.
    assert.deepEqual(p.requests.map((r) => `${r.method} ${r.path} ${r.status}`), [
      "GET /rest/api/1.0/projects/~alice 200",
    ]);
    assert.equal(await p.getRepository(), undefined);

    // The session plans the repository only because it is missing, and creates it private.
    const session = env.session({ project: "~alice", slug: "fleet" }, ALICE.token);
    assert.deepEqual(await session.observe(), {
      exists: false,
      httpUrl: `${env.bb.url}/scm/~alice/fleet.git`,
      sshUrl: `ssh://git@127.0.0.1/~alice/fleet.git`,
    });
    const { steps } = session.planRepository();
    assert.deepEqual(steps, [{
      kind: "repository",
      provider: "bitbucket-server",
      action: "create",
      name: "~alice/fleet",
      private: true,
    }]);
    const facts = await session.apply(steps[0], { warn: () => {} });
    assert.deepEqual(facts, {
      exists: true,
      httpUrl: `${env.git.url}/~alice/fleet.git`,
      sshUrl: `${SSH_BASE}/~alice/fleet.git`,
    });
    const repo = (await p.getRepository())!;
    assert.deepEqual(repo, {
      project: "~ALICE",
      slug: "fleet",
      private: true,
      httpCloneUrl: `${env.git.url}/~alice/fleet.git`,
      sshCloneUrl: `${SSH_BASE}/~alice/fleet.git`,
    });
    assert.equal(env.bb.repo("~alice", "fleet")?.public, false);
    assert.deepEqual(env.bb.mutatingRequests(), [
      { method: "POST", path: "/rest/api/1.0/projects/~alice/repos", status: 201 },
    ]);

    // Really clonable and pushable over the git HTTP sandbox with the same token.
    const work = join(env.dir.path, "work");
    await Deno.mkdir(work);
    const auth = basicAuth(ALICE.user, ALICE.token);
    await mustGit(["-c", auth, "clone", "--quiet", repo.httpCloneUrl, "clone"], work);
    const clone = join(work, "clone");
    await Deno.writeTextFile(join(clone, "README.md"), "# fleet\n");
    await mustGit(["add", "README.md"], clone);
    await mustGit(["commit", "--quiet", "-m", "first"], clone);
    await mustGit(["-c", auth, "push", "--quiet", "origin", "HEAD:refs/heads/main"], clone);
    const local = (await mustGit(["rev-parse", "HEAD"], clone)).trim();
    assert.equal(await env.git.headSha("~alice/fleet", "main"), local);
  } finally {
    await env.close();
  }
});

Deno.test("project repositories get the requested visibility and default branch", async () => {
  const env = await startEnv();
  try {
    const priv = env.provider({ project: "FLEET", repository: "private-apps" });
    await priv.checkAccess();
    const a = await priv.createRepository({ private: true });
    assert.equal(a.private, true);
    assert.equal(a.project, "FLEET");
    assert.equal(a.httpCloneUrl, `${env.git.url}/fleet/private-apps.git`);
    assert.equal(env.bb.repo("FLEET", "private-apps")?.public, false);

    const pub = env.provider({ project: "FLEET", repository: "public-apps" });
    const b = await pub.createRepository({ private: false, defaultBranch: "trunk" });
    assert.equal(b.private, false);
    assert.equal(env.bb.repo("FLEET", "public-apps")?.public, true);
    assert.equal(env.bb.repo("FLEET", "public-apps")?.defaultBranch, "trunk");
    const head = await Deno.readTextFile(join(env.git.root, "fleet", "public-apps.git", "HEAD"));
    assert.equal(head.trim(), "ref: refs/heads/trunk");

    await pub.setVisibility(true);
    assert.equal(env.bb.repo("FLEET", "public-apps")?.public, false);
    assert.equal((await pub.getRepository())?.private, true);

    assert.deepEqual(env.bb.mutatingRequests(), [
      { method: "POST", path: "/rest/api/1.0/projects/FLEET/repos", status: 201 },
      { method: "POST", path: "/rest/api/1.0/projects/FLEET/repos", status: 201 },
      { method: "PUT", path: "/rest/api/1.0/projects/FLEET/repos/public-apps", status: 201 },
    ]);
  } finally {
    await env.close();
  }
});

Deno.test("an existing repository is left untouched: no create, no visibility change", async () => {
  const env = await startEnv();
  try {
    const first = env.session({ project: "FLEET", slug: "apps" });
    await first.observe();
    await applyAll(first, first.planRepository().steps);
    assert.equal(env.bb.mutatingRequests().length, 1);

    // Another run that wants it public: the existing repository is only observed (its
    // visibility drift is shown, not changed).
    const seen = env.bb.requests.length;
    const second = env.session({ project: "FLEET", slug: "apps", private: false });
    assert.equal((await second.observe()).exists, true);
    const plan = second.planRepository();
    assert.deepEqual(plan.steps, []);
    assert.deepEqual(plan.warnings, [
      "repository FLEET/apps is private, the manifest says public; left as it is (set reconcileVisibility: true to change it)",
    ]);
    assert.ok(env.bb.requests.slice(seen).every((r) => r.method === "GET"));
    assert.equal(env.bb.mutatingRequests().length, 1);

    const again = env.provider({ project: "FLEET", repository: "apps" });
    // Creating it anyway is a 409 in words.
    const err = await expectProviderError(again.createRepository({ private: true }));
    assert.equal(err.status, 409);
    assert.match(
      err.message,
      /create repository FLEET\/apps: repository FLEET\/apps already exists \(409\)/,
    );
  } finally {
    await env.close();
  }
});

Deno.test("an access key is added once and found again by its key text across pages", async () => {
  const env = await startEnv();
  try {
    const p = env.provider({ project: "FLEET", repository: "apps" });
    await p.createRepository({ private: true });
    env.bb.preloadAccessKeys(
      "FLEET",
      "apps",
      [1, 2, 3, 4, 5].map((i) => ({
        label: `other-${i}`,
        key: fakePublicKey(),
        permission: "REPO_READ",
      })),
    );
    const pub = fakePublicKey("flux@prod");
    const want = { label: "flux-system-main-flux-system-./clusters/prod", publicKey: pub };
    const keyPages = () =>
      env.bb.requests.filter((r) => r.method === "GET" && r.path.includes("/ssh?"));

    const first = env.session({ project: "FLEET", slug: "apps" });
    await first.observe();
    // 5 keys, the server caps pages at 2: starts 0, 2, 4.
    assert.deepEqual(keyPages().map((r) => new URL(r.path, "http://x").searchParams.get("start")), [
      "0",
      "2",
      "4",
    ]);
    const steps = first.planClusterAccess(want);
    assert.deepEqual(steps, [{
      kind: "accessKey",
      provider: "bitbucket-server",
      label: want.label,
      permission: "read",
      action: "create",
      remove: [],
    }]);
    await applyAll(first, steps, pub);
    const added = (await p.listAccessKeys()).find((k) => k.label === want.label)!;
    assert.equal(added.publicKey, publicKeyMaterial(pub));
    assert.equal(added.permission, "REPO_READ");
    assert.deepEqual(env.authorized, [{ key: pub, readOnly: true }]);

    // The next run finds it by its text (whatever its comment) across the pages: no step.
    const again = env.session({ project: "FLEET", slug: "apps" });
    await again.observe();
    assert.deepEqual(again.planClusterAccess({ ...want, publicKey: publicKeyMaterial(pub) }), []);
    assert.equal(again.keyRegistered(pub), true);
    assert.equal(keyPages().length, 9);
    assert.equal((await p.listAccessKeys()).length, 6);

    assert.deepEqual(env.bb.mutatingRequests().slice(1), [
      { method: "POST", path: "/rest/keys/1.0/projects/FLEET/repos/apps/ssh", status: 200 },
    ]);
    assert.equal(env.authorized.length, 1);
  } finally {
    await env.close();
  }
});

Deno.test("a key whose permission changed is replaced; deleteAccessKey removes it", async () => {
  const env = await startEnv();
  try {
    const p = env.provider({ project: "~alice", repository: "fleet", token: ALICE.token });
    await p.createRepository({ private: true });
    const pub = fakePublicKey();
    const label = "flux-system-main-flux-system-./clusters/dev";
    const run = async (readWriteKey: boolean) => {
      const session = env.session({ project: "~alice", slug: "fleet", readWriteKey }, ALICE.token);
      await session.observe();
      const steps = session.planClusterAccess({ label, publicKey: pub });
      await applyAll(session, steps, pub);
      return { steps, key: (await p.listAccessKeys()).find((k) => k.label === label)! };
    };
    const ro = await run(false);
    const rw = await run(true);
    assert.equal(rw.steps[0].kind === "accessKey" && rw.steps[0].action, "replace");
    assert.deepEqual(rw.steps[0].kind === "accessKey" && rw.steps[0].remove, [ro.key.id]);
    assert.notEqual(rw.key.id, ro.key.id);
    assert.deepEqual(env.bb.repo("~alice", "fleet")?.keys.map((k) => k.permission), ["REPO_WRITE"]);

    await p.deleteAccessKey(rw.key.id);
    assert.deepEqual(env.bb.repo("~alice", "fleet")?.keys, []);
    assert.deepEqual(env.authorized.map((a) => a.readOnly), [true, false]);
    assert.deepEqual(env.revoked, [pub, pub]);

    const keys = "/rest/keys/1.0/projects/~alice/repos/fleet/ssh";
    assert.deepEqual(env.bb.mutatingRequests().slice(1), [
      { method: "POST", path: keys, status: 200 },
      { method: "DELETE", path: `${keys}/${ro.key.id}`, status: 204 },
      { method: "POST", path: keys, status: 200 },
      { method: "DELETE", path: `${keys}/${rw.key.id}`, status: 204 },
    ]);
  } finally {
    await env.close();
  }
});

Deno.test("group grants are listed across pages and granted only when missing", async () => {
  const env = await startEnv();
  try {
    const p = env.provider({ project: "FLEET", repository: "apps" });
    await p.createRepository({ private: true });
    await p.grantGroup({ group: "g1", permission: "REPO_WRITE" });
    await p.grantGroup({ group: "g2", permission: "REPO_READ" });
    await p.grantGroup({ group: "g3", permission: "REPO_WRITE" });

    const before = p.requests.length;
    assert.deepEqual(await p.listGroupGrants(), [
      { group: "g1", permission: "REPO_WRITE" },
      { group: "g2", permission: "REPO_READ" },
      { group: "g3", permission: "REPO_WRITE" },
    ]);
    assert.equal(p.requests.length - before, 2);

    // A run grants only the groups without a grant, whatever permission the others have.
    const session = env.session({
      project: "FLEET",
      slug: "apps",
      groups: [
        { group: "g1", permission: "write" },
        { group: "g2", permission: "admin" },
        { group: "g4", permission: "write" },
      ],
    });
    await session.observe();
    const { steps } = session.planRepository();
    assert.deepEqual(steps, [
      {
        kind: "group",
        provider: "bitbucket-server",
        action: "grant",
        group: "g4",
        permission: "write",
      },
    ]);
    assert.deepEqual(await applyAll(session, steps), []);

    // Another permission for a group is the client's PUT.
    await p.grantGroup({ group: "g2", permission: "REPO_ADMIN" });
    assert.deepEqual(env.bb.repo("FLEET", "apps")?.groups, {
      g1: "REPO_WRITE",
      g2: "REPO_ADMIN",
      g3: "REPO_WRITE",
      g4: "REPO_WRITE",
    });

    const perms = "/rest/api/1.0/projects/FLEET/repos/apps/permissions/groups";
    assert.deepEqual(env.bb.mutatingRequests().slice(1), [
      { method: "PUT", path: `${perms}?permission=REPO_WRITE&name=g1`, status: 204 },
      { method: "PUT", path: `${perms}?permission=REPO_READ&name=g2`, status: 204 },
      { method: "PUT", path: `${perms}?permission=REPO_WRITE&name=g3`, status: 204 },
      { method: "PUT", path: `${perms}?permission=REPO_WRITE&name=g4`, status: 204 },
      { method: "PUT", path: `${perms}?permission=REPO_ADMIN&name=g2`, status: 204 },
    ]);
  } finally {
    await env.close();
  }
});

Deno.test("a rejected token fails with 401 in words, without the token, and is not retried", async () => {
  const env = await startEnv();
  try {
    const token = "definitely-wrong-token-5c2a";
    const p = env.provider({ project: "FLEET", repository: "apps", token });
    const err = await expectProviderError(p.checkAccess());
    assert.equal(err.status, 401);
    assert.equal(err.transient, false);
    assert.match(err.message, /the Bitbucket token was rejected \(401\): check BITBUCKET_TOKEN/);
    assert.ok(!err.message.includes(token));
    assert.equal(p.requests.length, 1);

    // A bad token is not mistaken for "repository absent".
    const lookup = await expectProviderError(p.getRepository());
    assert.equal(lookup.status, 401);
    assert.equal(env.bb.mutatingRequests().length, 0);
  } finally {
    await env.close();
  }
});

Deno.test("a user without admin rights gets 403 in words and nothing is created", async () => {
  const env = await startEnv();
  try {
    const p = env.provider({ project: "FLEET", repository: "apps", token: BOB.token });
    const err = await expectProviderError(p.checkAccess());
    assert.equal(err.status, 403);
    assert.equal(
      err.message,
      "check access to FLEET/apps: the token for user bob may not administer project FLEET (403): " +
        "it needs project admin / repository admin rights to create repositories and add access keys",
    );

    const create = await expectProviderError(p.createRepository({ private: true }));
    assert.equal(create.status, 403);
    assert.match(
      create.message,
      /^create repository FLEET\/apps: the token for user bob may not administer project FLEET \(403\)/,
    );
    assert.match(create.message, /Bitbucket says: You are not permitted to access this resource/);
    assert.ok(!create.message.includes(BOB.token));
    assert.equal(env.bb.repo("FLEET", "apps"), undefined);
    assert.deepEqual(env.bb.mutatingRequests(), [
      { method: "POST", path: "/rest/api/1.0/projects/FLEET/repos", status: 403 },
    ]);
  } finally {
    await env.close();
  }
});

Deno.test("401 with an AuthorisationException (how Bitbucket documents it) reads as missing rights", async () => {
  const env = await startEnv({ permissionDeniedStatus: 401 });
  try {
    const p = env.provider({ project: "FLEET", repository: "apps", token: BOB.token });
    const err = await expectProviderError(p.checkAccess());
    assert.match(err.message, /the token for user bob may not administer project FLEET/);
    const create = await expectProviderError(p.createRepository({ private: true }));
    assert.equal(create.status, 401);
    assert.match(create.message, /the token for user bob may not administer project FLEET \(401\)/);
    assert.doesNotMatch(create.message, /token was rejected/);
  } finally {
    await env.close();
  }
});

Deno.test("unknown groups and projects fail with 404 in words", async () => {
  const env = await startEnv();
  try {
    const p = env.provider({ project: "FLEET", repository: "apps" });
    await p.createRepository({ private: true });
    const err = await expectProviderError(
      p.grantGroup({ group: "nobody", permission: "REPO_WRITE" }),
    );
    assert.equal(err.status, 404);
    assert.match(err.message, /grant REPO_WRITE on FLEET\/apps to group "nobody": group "nobody"/);
    assert.match(err.message, /\(404\) \(Bitbucket says: No such group nobody\.\)/);
    // In a run, a failed grant is a warning, as in flux.
    const session = env.session({
      project: "FLEET",
      slug: "apps",
      groups: [{ group: "nobody", permission: "read" }],
    });
    await session.observe();
    const warnings = await applyAll(session, session.planRepository().steps);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /^could not grant group nobody: .*\(404\)/);

    const missing = env.provider({ project: "NOPE", repository: "apps" });
    const gone = await expectProviderError(missing.checkAccess());
    assert.equal(gone.status, 404);
    assert.match(gone.message, /project NOPE was not found on 127\.0\.0\.1:\d+ \(404\)/);
    assert.equal(await missing.getRepository(), undefined);
  } finally {
    await env.close();
  }
});

Deno.test("429 with Retry-After is waited for and retried once; POSTs are not retried on 500", async () => {
  const env = await startEnv();
  try {
    const p = env.provider({
      project: "FLEET",
      repository: "apps",
      retry: { attempts: 3, initialDelayMs: 5, maxDelayMs: 3000 },
    });
    env.bb.failNext(429, 1, 1);
    const t0 = performance.now();
    assert.equal(await p.getRepository(), undefined);
    assert.ok(performance.now() - t0 >= 950, "Retry-After: 1 must be honoured");
    assert.deepEqual(p.requests.map((r) => r.status), [429, 404]);

    env.bb.failNext(500, 1);
    const err = await expectProviderError(p.createRepository({ private: true }));
    assert.equal(err.status, 500);
    assert.equal(err.transient, true);
    assert.match(
      err.message,
      /create repository FLEET\/apps: Bitbucket on 127\.0\.0\.1:\d+ failed \(500\)/,
    );
    assert.equal(env.bb.repo("FLEET", "apps"), undefined);

    env.bb.failNext(503, 1);
    await p.createRepository({ private: true });
    assert.deepEqual(env.bb.mutatingRequests(), [
      { method: "POST", path: "/rest/api/1.0/projects/FLEET/repos", status: 500 },
      { method: "POST", path: "/rest/api/1.0/projects/FLEET/repos", status: 503 },
      { method: "POST", path: "/rest/api/1.0/projects/FLEET/repos", status: 201 },
    ]);

    env.bb.failNext(502, 3);
    const exhausted = await expectProviderError(p.listGroupGrants());
    assert.equal(exhausted.status, 502);
    assert.match(exhausted.message, /gave up after 3 attempts/);
    assert.ok((await p.listGroupGrants()).length === 0);
  } finally {
    await env.close();
  }
});

Deno.test("plain http:// is refused unless allowed, without echoing the token", () => {
  const token = "secret-token-abc123";
  assert.throws(
    () =>
      bitbucketServerProvider({
        baseUrl: "http://bitbucket.example.com",
        token,
        project: "FLEET",
        repository: "apps",
      }),
    (e: unknown) =>
      e instanceof ProviderError && /plain http:\/\/ to bitbucket\.example\.com/.test(e.message) &&
      !e.message.includes(token),
  );
  assert.throws(
    () =>
      bitbucketServerProvider({
        baseUrl: "https://bitbucket.example.com",
        token,
        project: "FLEET",
        repository: "a/b",
      }),
    ProviderError,
  );
});

Deno.test("a server behind a private CA is refused in words until its CA is given", async () => {
  const tls = await sandboxTls();
  const env = await startEnv({ tls: { certPem: tls.certPem, keyPem: tls.keyPem } });
  try {
    assert.match(env.bb.url, /^https:/);
    const untrusted = env.provider({
      project: "FLEET",
      repository: "apps",
      retry: { attempts: 1 },
    });
    const err = await expectProviderError(untrusted.checkAccess());
    assert.equal(err.status, 0);
    assert.match(
      err.message,
      /check access to FLEET\/apps: TLS with 127\.0\.0\.1:\d+ failed .*private CA/,
    );

    const trusted = env.provider({ project: "FLEET", repository: "apps", caPem: tls.caPem });
    await trusted.checkAccess();
    assert.equal((await trusted.createRepository({ private: true })).slug, "apps");
  } finally {
    await env.close();
  }
});

Deno.test("redirects, timeouts and pages without nextPageStart fail in words, not silently", async () => {
  let pending = Promise.resolve();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const path = new URL(req.url).pathname;
    if (path === "/rest/api/1.0/projects/FLEET") {
      return new Response(null, {
        status: 301,
        headers: { location: "https://elsewhere.example/" },
      });
    }
    if (path.endsWith("/permissions/groups")) {
      // Claims more pages follow but does not say where: following it would loop forever.
      return Response.json({ size: 0, limit: 2, isLastPage: false, values: [], start: 0 });
    }
    const slow = new Promise<void>((resolve) => setTimeout(resolve, 300));
    pending = slow;
    return slow.then(() => Response.json({}));
  });
  const p = bitbucketServerProvider({
    baseUrl: `http://127.0.0.1:${server.addr.port}`,
    token: ADMIN.token,
    project: "FLEET",
    repository: "apps",
    allowInsecureHttp: true,
    timeoutMs: 50,
    retry: { attempts: 2, initialDelayMs: 1, maxDelayMs: 5 },
  });
  try {
    const moved = await expectProviderError(p.checkAccess());
    assert.equal(moved.status, 301);
    assert.match(moved.message, /redirect \(301\) to https:\/\/elsewhere\.example\//);

    const paging = await expectProviderError(p.listGroupGrants());
    assert.match(paging.message, /is not the last but has no usable nextPageStart/);

    const slow = await expectProviderError(p.getRepository());
    assert.equal(slow.status, 0);
    assert.equal(slow.transient, true);
    assert.match(slow.message, /did not answer within 50 ms \(gave up after 2 attempts\)/);
  } finally {
    p.close();
    await pending;
    await server.shutdown();
  }
});
