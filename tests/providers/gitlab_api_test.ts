/**
 * The GitLab provider against the GitLab sandbox, beyond the contract: failures in words
 * (401, 403 for a scope and for a role, 404, 400 and 422 with GitLab's reasons, 429 waited for
 * and, when the wait is too long, said), paging across several pages of deploy keys, groups shared
 * and their roles reconciled only when asked, visibility drift, and the token checked once for
 * every project of a run.
 */
import assert from "node:assert/strict";
import { provider } from "../../lib/providers/gitlab/mod.ts";
import type { GitLabSettings } from "../../lib/providers/gitlab/settings.ts";
import { checkCloneLink, repositoryFacts } from "../../lib/providers/gitlab/session.ts";
import type { GlProject } from "../../lib/providers/gitlab/api.ts";
import type { ProviderSession, SessionAccess } from "../../lib/providers/types.ts";
import { applyAll } from "./contract.ts";
import {
  type GitLabEnv,
  gitlabSettings,
  GL_ADMIN,
  GL_DEVELOPER,
  GL_READ_API,
  startGitLabEnv,
} from "../helpers/gitlab.ts";

interface Api {
  env: GitLabEnv;
  open(
    settings: Partial<GitLabSettings> & { project: string },
    access?: Partial<SessionAccess>,
  ): ProviderSession;
  /** A call as the test's own client (not counted as the provider's). */
  call(method: string, path: string, body?: unknown): Promise<Response>;
}

async function withApi(fn: (api: Api) => Promise<void>): Promise<void> {
  const env = await startGitLabEnv();
  const sessions: ProviderSession[] = [];
  try {
    await fn({
      env,
      open(settings, access = {}) {
        const s = provider.open(gitlabSettings(env.gl.url, settings), {
          token: GL_ADMIN,
          allowInsecureHttp: true,
          attempts: 1,
          ...access,
        });
        sessions.push(s);
        return s;
      },
      async call(method, path, body) {
        const res = await fetch(`${env.gl.url}/api/v4${path}`, {
          method,
          headers: { "private-token": GL_ADMIN, "content-type": "application/json" },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        await res.body?.cancel();
        return res;
      },
    });
  } finally {
    for (const s of sessions) s.close();
    await env.close();
  }
}

async function failure(p: Promise<unknown>): Promise<Error & { status?: number }> {
  return await p.then(() => assert.fail("no failure"), (e: Error) => e);
}

/** `p`, or a failure once it has waited 30 s for `what` (which never comes unless released). */
async function within<T>(p: Promise<T>, what: string, release?: () => void): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      release?.();
      reject(new Error(`the session waited for ${what}`));
    }, 30_000);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

async function groupId(api: Api, path: string): Promise<number> {
  const res = await fetch(`${api.env.gl.url}/api/v4/groups/${encodeURIComponent(path)}`, {
    headers: { "private-token": GL_ADMIN },
  });
  return ((await res.json()) as { id: number }).id;
}

async function project(api: Api, path: string, visibility = "private"): Promise<void> {
  const [ns, name] = [path.slice(0, path.lastIndexOf("/")), path.slice(path.lastIndexOf("/") + 1)];
  const res = await api.call("POST", "/projects", {
    name,
    namespace_id: await groupId(api, ns),
    visibility,
  });
  assert.equal(res.status, 201);
}

Deno.test("gitlab: 401, a missing scope, a missing role, a missing group — each in words, without the token", async () => {
  await withApi(async (api) => {
    await project(api, "fleet/apps");
    // Each call starts when its turn comes: a rejection is never left without a handler.
    const cases: [() => Promise<unknown>, RegExp, string][] = [
      [
        () => api.open({ project: "apps" }, { token: "gl-bad-token-1c5e" }).observe(),
        /check the GitLab token: the GitLab token was rejected \(401\): check git\.gitlab\.token \(default GITLAB_TOKEN\)/,
        "gl-bad-token-1c5e",
      ],
      [
        () => api.open({ project: "apps" }, { token: GL_READ_API }).observe(),
        /the token for 127\.0\.0\.1:\d+ cannot create projects or add deploy keys: it needs the "api" scope \(it has read_api\)/,
        GL_READ_API,
      ],
      [
        () => api.open({ project: "apps" }, { token: GL_DEVELOPER }).observe(),
        /the token for 127\.0\.0\.1:\d+ \(user bob\) cannot add deploy keys to project fleet\/apps: it needs the Maintainer role there \(it has Developer\)/,
        GL_DEVELOPER,
      ],
      [
        () =>
          api.open({ project: "apps", deployTokenAuth: true }, { token: GL_DEVELOPER }).observe(),
        /\(user bob\) cannot create deploy tokens on project fleet\/apps: it needs the Maintainer role/,
        GL_DEVELOPER,
      ],
      [
        () => api.open({ namespace: "fleet/nope", project: "apps" }).observe(),
        /group fleet\/nope was not found on 127\.0\.0\.1:\d+ \(404\), or the token may not see it/,
        GL_ADMIN,
      ],
    ];
    for (const [run, words, secret] of cases) {
      const e = await failure(run());
      assert.match(e.message, words);
      assert.ok(!e.message.includes(secret));
    }
    // A developer may push with token auth: the check asks only for what the work needs.
    const push = api.open({ project: "apps", tokenAuth: true }, { token: GL_DEVELOPER });
    assert.equal((await push.observe()).exists, true);
  });
});

Deno.test("gitlab: GitLab's 400 and an injected 422 carry GitLab's reason", async () => {
  await withApi(async (api) => {
    // devs is a private group: GitLab refuses a public project there.
    const s = api.open({
      namespace: "devs",
      project: "site",
      visibility: "public",
      tokenAuth: true,
    });
    await s.observe();
    const steps = s.planRepository().steps;
    const e = await failure(applyAll(s, steps));
    assert.match(
      e.message,
      /create project devs\/site: GitLab refused it \(400\): visibility_level public is not allowed in a private group\./,
    );
    await project(api, "fleet/apps");
    const k = api.open({ project: "apps" });
    await k.observe();
    api.env.gl.failNext(422, 1, { message: "key is too short" });
    const key =
      "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ1e1tuf6yVK7uR0jhfyIq3bPSJAsyG0LqP0tQcGm9Ru c";
    const refused = await failure(
      applyAll(k, k.planClusterAccess({ label: "c0", publicKey: key }), key),
    );
    assert.match(
      refused.message,
      /add deploy key "c0" to fleet\/apps: GitLab refused it \(422\): key is too short/,
    );
  });
});

Deno.test("gitlab: a 429 is waited for as Retry-After says, the wait told; a limit used up for long is said with its end", async () => {
  await withApi(async (api) => {
    await project(api, "fleet/apps");
    const waits: string[] = [];
    api.env.gl.failNext(429, 1, { retryAfterSeconds: 1 });
    const s = api.open({ project: "apps" }, { onWait: (m) => waits.push(m), attempts: 3 });
    assert.equal((await s.observe()).exists, true);
    assert.equal(waits.length, 1);
    assert.match(
      waits[0],
      /waiting 1 s for GitLab's rate limit on 127\.0\.0\.1:\d+ \(retry-after\)/,
    );

    api.env.gl.failNext(429, 5, { retryAfterSeconds: 3600 });
    const e = await failure(api.open({ project: "apps" }, { attempts: 3 }).observe());
    assert.match(
      e.message,
      /GitLab's rate limit for this token on 127\.0\.0\.1:\d+ is used up until \d\d:\d\d:\d\d UTC \(429, retry-after\): re-run after that, or use another token/,
    );
    // Every other project of the run, on the same host with the same token, stops at once too
    // (the limiter is shared), rather than waiting an hour.
    const other = await failure(api.open({ project: "other" }, { attempts: 3 }).observe());
    assert.match(other.message, /rate limit for this token on 127\.0\.0\.1:\d+ is used up until/);
  });
});

Deno.test("gitlab: deploy keys are read across pages; the cluster's key on the third page is found and nothing is planned", async () => {
  await withApi(async (api) => {
    await project(api, "fleet/apps");
    const path = `/projects/${encodeURIComponent("fleet/apps")}/deploy_keys`;
    let last = "";
    for (let i = 0; i < 210; i++) {
      const blob = new Uint8Array(51);
      blob.set([0, 0, 0, 11, ...new TextEncoder().encode("ssh-ed25519"), 0, 0, 0, 32]);
      blob.set(crypto.getRandomValues(new Uint8Array(32)), 19);
      last = `ssh-ed25519 ${btoa(String.fromCharCode(...blob))} k${i}`;
      const res = await api.call("POST", path, { title: `other-${i}`, key: last });
      assert.equal(res.status, 201);
    }
    const before = api.env.gl.requests.length;
    const s = api.open({ project: "apps" });
    await s.observe();
    // The last key added stands for the cluster's (its title differs: found by key text).
    assert.equal(s.keyRegistered(last), true);
    assert.deepEqual(s.planClusterAccess({ label: "other-209", publicKey: last }), []);
    const pages = api.env.gl.requests.slice(before).filter((r) => r.path.includes("deploy_keys"));
    assert.deepEqual(pages.map((r) => new URL(r.path, "http://x").searchParams.get("page")), [
      null,
      "2",
      "3",
    ]);
  });
});

Deno.test("gitlab: groups shared with a role; a share with another role is shown and changed only with reconcile; a missing group is a warning", async () => {
  await withApi(async (api) => {
    await project(api, "fleet/apps");
    const teams = [{ group: "ops", permission: "maintain" as const }];
    const s = api.open({ project: "apps", teams });
    await s.observe();
    assert.deepEqual(await applyAll(s, s.planRepository().steps), []);
    assert.deepEqual(api.env.gl.project("fleet/apps")!.sharedWith, { ops: 40 });

    const want = [{ group: "ops", permission: "write" as const }];
    const drift = api.open({ project: "apps", teams: want });
    await drift.observe();
    const shown = drift.planRepository();
    assert.deepEqual(shown.steps, []);
    assert.deepEqual(shown.warnings, [
      "group ops has the maintainer role on project fleet/apps, the manifest says developer; left as it is (set reconcile: true to change it)",
    ]);
    const reconciled = api.open({ project: "apps", teams: want, reconcile: true });
    await reconciled.observe();
    assert.deepEqual(await applyAll(reconciled, reconciled.planRepository().steps), []);
    assert.deepEqual(api.env.gl.project("fleet/apps")!.sharedWith, { ops: 30 });

    // admin is GitLab's owner (go-git-providers: admin 50), not maintainer again: drift too.
    const owner = [{ group: "ops", permission: "admin" as const }];
    const above = api.open({ project: "apps", teams: owner });
    await above.observe();
    assert.deepEqual(above.planRepository().warnings, [
      "group ops has the developer role on project fleet/apps, the manifest says owner; left as it is (set reconcile: true to change it)",
    ]);
    const raised = api.open({ project: "apps", teams: owner, reconcile: true });
    await raised.observe();
    assert.deepEqual(raised.planRepository().steps, [
      { kind: "group", provider: "gitlab", action: "grant", group: "ops", permission: "admin" },
    ]);
    assert.deepEqual(await applyAll(raised, raised.planRepository().steps), []);
    assert.deepEqual(api.env.gl.project("fleet/apps")!.sharedWith, { ops: 50 });
    // Shared as owner, the manifest's maintain is drift (they were one level before).
    const lowered = api.open({ project: "apps", teams });
    await lowered.observe();
    assert.deepEqual(lowered.planRepository().warnings, [
      "group ops has the owner role on project fleet/apps, the manifest says maintainer; left as it is (set reconcile: true to change it)",
    ]);

    const missing = api.open({ project: "apps", teams: [{ group: "nope", permission: "read" }] });
    await missing.observe();
    const warnings = await applyAll(missing, missing.planRepository().steps);
    assert.equal(warnings.length, 1);
    assert.match(
      warnings[0],
      /could not share the project with group nope: group nope was not found/,
    );
  });
});

Deno.test("gitlab: visibility drift is shown, changed only with reconcile", async () => {
  await withApi(async (api) => {
    await project(api, "fleet/apps", "internal");
    const s = api.open({ project: "apps" });
    await s.observe();
    assert.deepEqual(s.planRepository(), {
      steps: [],
      warnings: [
        "project fleet/apps is internal, the manifest says private; left as it is (set reconcile: true to change it)",
      ],
    });
    const r = api.open({ project: "apps", reconcile: true });
    await r.observe();
    const steps = r.planRepository().steps;
    assert.deepEqual(
      steps.map((st) =>
        st.kind === "repository" && st.action !== "defaultBranch" && [st.action, st.private]
      ),
      [
        ["update", true],
      ],
    );
    await applyAll(r, steps);
    assert.equal(api.env.gl.project("fleet/apps")!.visibility, "private");
  });
});

Deno.test("gitlab: the token is checked once for all projects of a run; each unchanged project costs its details and its key list", async () => {
  await withApi(async (api) => {
    for (const p of ["a", "b", "c"]) await project(api, `fleet/${p}`);
    const before = api.env.gl.requests.length;
    await Promise.all(["a", "b", "c"].map((p) => api.open({ project: p }).observe()));
    const paths = api.env.gl.requests.slice(before).map((r) => r.path.split("?")[0]);
    assert.equal(paths.filter((p) => p === "/api/v4/personal_access_tokens/self").length, 1);
    assert.equal(paths.length, 1 + 3 * 2, paths.join("\n"));
  });
});

Deno.test("gitlab: a clone link on another host than the API is refused before the token goes there", async () => {
  const env = await startGitLabEnv({ extra: { httpCloneBase: "https://elsewhere.example" } });
  try {
    const made = await fetch(`${env.gl.url}/api/v4/projects`, {
      method: "POST",
      headers: { "private-token": GL_ADMIN, "content-type": "application/json" },
      body: JSON.stringify({ name: "apps", path: "apps" }),
    });
    assert.equal(made.status, 201);
    await made.body?.cancel();
    const s = provider.open(
      gitlabSettings(env.gl.url, { namespace: "alice", personal: true, project: "apps" }),
      { token: GL_ADMIN, allowInsecureHttp: true, attempts: 1 },
    );
    const e = await failure(s.observe());
    s.close();
    assert.match(
      e.message,
      /GitLab names https:\/\/elsewhere\.example\/alice\/apps\.git as the HTTPS clone URL of project alice\/apps, not on http:\/\/127\.0\.0\.1:\d+ where the repository lives: nothing is sent there/,
    );
  } finally {
    await env.close();
  }
});

Deno.test("gitlab: a clone link on another port of the API's host, down from https:// to http://, or an SSH link off its host, is refused", () => {
  const s = gitlabSettings("https://gitlab.example/api/v4", {
    namespace: "fleet",
    project: "apps",
  });
  const project = (httpUrl: string): GlProject => ({
    id: 1,
    pathWithNamespace: "fleet/apps",
    visibility: "private",
    httpUrl,
    accessLevel: 40,
    sharedWith: [],
  });
  assert.throws(
    () => checkCloneLink(s, project("http://gitlab.example/fleet/apps.git")),
    /GitLab names http:\/\/gitlab\.example\/fleet\/apps\.git as the HTTPS clone URL of project fleet\/apps, not on https:\/\/gitlab\.example .*nothing is sent there/,
  );
  // GitLab serves git on its API's origin: another port of the same host is somewhere else.
  assert.throws(
    () => checkCloneLink(s, project("https://gitlab.example:8443/fleet/apps.git")),
    /GitLab names https:\/\/gitlab\.example:8443\/fleet\/apps\.git as the HTTPS clone URL/,
  );
  assert.equal(
    checkCloneLink(s, project("https://gitlab.example/fleet/apps.git")).httpUrl,
    "https://gitlab.example/fleet/apps.git",
  );
  // The SSH link the cluster would read from: the API's host, unless sshHostname replaces it.
  const evilSsh = {
    ...project("https://gitlab.example/fleet/apps.git"),
    sshUrl: "git@evil.example:fleet/apps.git",
  };
  assert.throws(
    () => repositoryFacts(s, evilSsh),
    /GitLab names ssh:\/\/evil\.example as the SSH clone URL of project fleet\/apps, not on gitlab\.example/,
  );
  assert.equal(
    repositoryFacts({ ...s, sshHostname: "ssh.gitlab.example:2222" }, evilSsh).sshUrl,
    "ssh://git@ssh.gitlab.example:2222/fleet/apps.git",
  );
  // A server without TLS at all, opted in: its http:// links are its own.
  const plain = gitlabSettings("http://gitlab.example/api/v4", {
    namespace: "fleet",
    project: "apps",
  });
  assert.equal(
    checkCloneLink(plain, project("http://gitlab.example/fleet/apps.git")).httpUrl,
    "http://gitlab.example/fleet/apps.git",
  );
});

Deno.test("gitlab: the session's deadline stops a request in flight and a wait for the rate limit, in words naming GitLab and the host", async () => {
  await withApi(async (api) => {
    // A wait of 10 minutes for GitLab's rate limit (429, Retry-After: 600).
    const waiting = new AbortController();
    api.env.gl.failNext(429, 1, { retryAfterSeconds: 600 });
    const started = Promise.withResolvers<string>();
    const limited = api.open({ project: "apps" }, {
      // Another token: the run's limiter of GL_ADMIN stays free for the other tests.
      token: GL_DEVELOPER,
      deadline: () => waiting.signal,
      onWait: (m) => started.resolve(m),
    });
    const throttled = failure(limited.observe());
    assert.match(await started.promise, /waiting 600 s for GitLab's rate limit/);
    waiting.abort();
    assert.match(
      (await within(throttled, "the rate limit")).message,
      /^check the GitLab token: waiting for the rate limit of GitLab at 127\.0\.0\.1:\d+ was stopped$/,
    );

    // A request in flight that gets no answer until the test lets it go.
    const inFlight = new AbortController();
    const hold = api.env.gl.holdNext();
    const held = api.open({ project: "apps" }, {
      timeoutMs: 120_000,
      deadline: () => inFlight.signal,
    });
    try {
      const observed = failure(held.observe());
      await hold.arrived;
      inFlight.abort();
      assert.match(
        (await within(observed, "the held answer", hold.release)).message,
        /^check the GitLab token: waiting for the answer of GitLab at 127\.0\.0\.1:\d+ was stopped$/,
      );
      // The client let go of the request.
      await hold.gone;
    } finally {
      hold.release();
    }
  });
});
