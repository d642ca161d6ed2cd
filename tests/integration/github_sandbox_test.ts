/**
 * The GitHub sandbox (sandbox/github/) driven by the real client, @octokit/rest, as the
 * Kubernetes sandbox is driven by kubectl: every endpoint fluxfleet's GitHub provider will use,
 * on api.github.com's layout (/) and GitHub Enterprise Server's (/api/v3); the errors in GitHub's
 * words and shapes; deploy keys enforced by the real sshd; git over HTTPS with a token; paging by
 * Link headers; rate limits as octokit reports them; requests counted per token.
 *
 * @octokit/rest 22.0.1 (npm, Nov 2025, the octokit organization's maintained REST client) checked
 * under Deno 2.9.6: its REST methods, `paginate` following Link headers, `baseUrl` for GitHub
 * Enterprise Server, a custom `request.fetch`, and RequestError carrying status, response.headers
 * and response.data. Its request log is silenced (`log`), it would print every failed call.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Octokit } from "@octokit/rest";
import { type GitHubSandbox, startGitHubSandbox } from "../../sandbox/github/server.ts";
import type { SshdServer } from "../../sandbox/ssh/sshd.ts";
import { withForgeSandbox } from "../helpers/forge_sandbox.ts";
import { missing } from "../helpers/tools.ts";
import {
  bareHead,
  basicAuth,
  commitFile,
  deployKeysEnforced,
  fakeKey,
  git,
  mustGit,
  newSshKey,
} from "../helpers/forge_git.ts";

const TOKENS = {
  alice: "ghp_canary_alice_5e1f0c",
  bob: "ghp_canary_bob_77a2d4",
  carol: "ghp_canary_carol_9d03b1",
  aliceFine: "github_pat_canary_alice_fine_41c8",
  aliceReadOrg: "ghp_canary_alice_readorg_0b6e",
};

const QUIET = { debug() {}, info() {}, warn() {}, error() {} };

interface Env {
  gh: GitHubSandbox;
  dir: string;
  sshd?: SshdServer;
  knownHosts?: string;
  /** octokit on api.github.com's layout (the API at /). */
  octo(token: string): Octokit;
  /** octokit on GitHub Enterprise Server's layout (the API at /api/v3). */
  ghes(token: string): Octokit;
}

async function withGitHub(fn: (env: Env) => Promise<void>, opts: { ssh?: boolean } = {}) {
  await withForgeSandbox(
    "fluxfleet-gh-test-",
    opts,
    (served) =>
      startGitHubSandbox({
        users: ["alice", "bob", "carol"],
        orgs: [{
          login: "fleet",
          owners: ["alice"],
          members: ["bob"],
          teams: [{ slug: "ops", name: "Ops", members: ["bob"] }, { slug: "devs" }],
        }],
        tokens: [
          { token: TOKENS.alice, user: "alice" },
          { token: TOKENS.bob, user: "bob" },
          { token: TOKENS.carol, user: "carol" },
          {
            token: TOKENS.aliceFine,
            user: "alice",
            name: "alice-fine",
            kind: "fine-grained",
            permissions: { metadata: "read", contents: "write" },
          },
          {
            token: TOKENS.aliceReadOrg,
            user: "alice",
            name: "alice-readorg",
            scopes: ["read:org"],
          },
        ],
        ...served,
      }),
    (gh, env) =>
      fn({
        ...env,
        gh,
        octo: (auth) => new Octokit({ auth, baseUrl: gh.url, log: QUIET }),
        ghes: (auth) => new Octokit({ auth, baseUrl: gh.enterpriseApiUrl, log: QUIET }),
      }),
  );
}

interface HttpFailure {
  status: number;
  headers: Record<string, string | undefined>;
  data: { message?: string; documentation_url?: string; errors?: Record<string, unknown>[] };
}

/** The RequestError octokit throws, as a user of it reads it. */
async function failure(p: Promise<unknown>): Promise<HttpFailure> {
  try {
    await p;
  } catch (e) {
    const err = e as { status?: unknown; response?: { headers?: unknown; data?: unknown } };
    assert.equal(typeof err.status, "number", `not an octokit RequestError: ${e}`);
    return {
      status: err.status as number,
      headers: (err.response?.headers ?? {}) as HttpFailure["headers"],
      data: (err.response?.data ?? {}) as HttpFailure["data"],
    };
  }
  assert.fail("expected the call to fail");
}

Deno.test("github: the authenticated user and an organization, on api.github.com's and GHES's layouts", async () => {
  await withGitHub(async (env) => {
    for (const client of [env.octo(TOKENS.alice), env.ghes(TOKENS.alice)]) {
      const me = await client.rest.users.getAuthenticated();
      assert.equal(me.status, 200);
      assert.equal(me.data.login, "alice");
      assert.equal(me.data.type, "User");
      // Classic tokens: their scopes on every answer.
      assert.equal(me.headers["x-oauth-scopes"], "repo, read:org");
      assert.equal(me.headers["x-ratelimit-limit"], "5000");
      assert.equal(me.headers["x-ratelimit-resource"], "core");
      const org = await client.rest.orgs.get({ org: "fleet" });
      assert.equal(org.data.login, "fleet");
      assert.equal(org.data.type, "Organization");
    }
    const viaGhes = await env.ghes(TOKENS.alice).rest.orgs.get({ org: "fleet" });
    assert.equal(viaGhes.data.url, `${env.gh.url}/api/v3/orgs/fleet`);
    const missingOrg = await failure(env.octo(TOKENS.alice).rest.orgs.get({ org: "nobody" }));
    assert.equal(missingOrg.status, 404);
    assert.equal(missingOrg.data.message, "Not Found");
    assert.equal(
      missingOrg.data.documentation_url,
      "https://docs.github.com/rest/orgs/orgs#get-an-organization",
    );
  });
});

Deno.test("github: repositories created for the user and in an organization are real, clonable and pushable with the token", async () => {
  await withGitHub(async (env) => {
    const alice = env.ghes(TOKENS.alice);
    const mine = await alice.rest.repos.createForAuthenticatedUser({
      name: "fleet-infra",
      private: true,
      auto_init: true,
      description: "the fleet",
    });
    assert.equal(mine.status, 201);
    assert.equal(mine.headers.location, `${env.gh.url}/api/v3/repos/alice/fleet-infra`);
    assert.equal(mine.data.full_name, "alice/fleet-infra");
    assert.equal(mine.data.private, true);
    assert.equal(mine.data.visibility, "private");
    assert.equal(mine.data.default_branch, "main");
    assert.equal(mine.data.clone_url, `${env.gh.url}/alice/fleet-infra.git`);
    assert.deepEqual(mine.data.permissions, {
      admin: true,
      maintain: true,
      push: true,
      triage: true,
      pull: true,
    });
    const got = await alice.rest.repos.get({ owner: "alice", repo: "fleet-infra" });
    assert.equal(got.data.id, mine.data.id);
    assert.equal(got.data.description, "the fleet");

    const inOrg = await env.octo(TOKENS.alice).rest.repos.createInOrg({
      org: "fleet",
      name: "clusters",
      visibility: "private",
    });
    assert.equal(inOrg.data.owner.login, "fleet");
    assert.equal(inOrg.data.organization?.login, "fleet");
    assert.equal(inOrg.data.private, true);
    assert.equal(env.gh.repo("fleet", "clusters")?.private, true);

    // auto_init made a first commit on main; the org repository is empty.
    const work = join(env.dir, "work");
    await Deno.mkdir(work);
    const auth = basicAuth("x-access-token", TOKENS.alice);
    const refs = await mustGit([...auth, "ls-remote", mine.data.clone_url], work);
    assert.match(refs, /\trefs\/heads\/main\n/);
    assert.equal((await mustGit([...auth, "ls-remote", inOrg.data.clone_url], work)).trim(), "");

    await mustGit([...auth, "clone", "--quiet", mine.data.clone_url, "c"], work);
    const clone = join(work, "c");
    assert.equal(await Deno.readTextFile(join(clone, "README.md")), "# fleet-infra\n\nthe fleet\n");
    const sha = await commitFile(clone, "x.txt", "x\n", "second");
    await mustGit([...auth, "push", "--quiet", "origin", "HEAD:main"], clone);
    assert.equal(await bareHead(env.gh.repo("alice", "fleet-infra")!.gitDir, "main"), sha);

    // Without a token, git is challenged for a private repository (and asks nobody here).
    const anon = await git(["ls-remote", mine.data.clone_url], work);
    assert.notEqual(anon.code, 0);
    assert.match(anon.stderr, /Authentication failed|could not read Username/);
    assert.ok(!JSON.stringify(env.gh.requests).includes(TOKENS.alice), "a token in the records");
  });
});

Deno.test("github: 401 bad token, 404 missing or hidden repository, 403 without rights, 422 duplicate name", async () => {
  await withGitHub(async (env) => {
    const alice = env.octo(TOKENS.alice);
    await alice.rest.repos.createInOrg({ org: "fleet", name: "infra", private: true });

    const bad = await failure(env.octo("ghp_not_a_token_at_all").rest.users.getAuthenticated());
    assert.equal(bad.status, 401);
    assert.equal(bad.data.message, "Bad credentials");

    const noAuth = await failure(
      new Octokit({ baseUrl: env.gh.url, log: QUIET }).rest.users.getAuthenticated(),
    );
    assert.equal(noAuth.status, 401);
    assert.equal(noAuth.data.message, "Requires authentication");

    const gone = await failure(alice.rest.repos.get({ owner: "fleet", repo: "nothing" }));
    assert.equal(gone.status, 404);
    assert.equal(
      gone.data.documentation_url,
      "https://docs.github.com/rest/repos/repos#get-a-repository",
    );
    // carol is not in the organization: its private repository does not exist for her.
    const hidden = await failure(
      env.octo(TOKENS.carol).rest.repos.get({ owner: "fleet", repo: "infra" }),
    );
    assert.equal(hidden.status, 404);

    // bob is a member (read) but no admin: no deploy keys, no team grants.
    const keyDenied = await failure(
      env.octo(TOKENS.bob).rest.repos.createDeployKey({
        owner: "fleet",
        repo: "infra",
        key: fakeKey("bob"),
      }),
    );
    assert.equal(keyDenied.status, 403);
    assert.equal(keyDenied.data.message, "Must have admin rights to Repository.");
    const grantDenied = await failure(
      env.octo(TOKENS.bob).rest.teams.addOrUpdateRepoPermissionsInOrg({
        org: "fleet",
        team_slug: "ops",
        owner: "fleet",
        repo: "infra",
        permission: "admin",
      }),
    );
    assert.equal(grantDenied.status, 403);

    const outsider = await failure(
      env.octo(TOKENS.carol).rest.repos.createInOrg({ org: "fleet", name: "x" }),
    );
    assert.equal(outsider.status, 403);
    assert.equal(
      outsider.data.message,
      "You need admin access to the organization before adding a repository to it.",
    );

    const dup = await failure(alice.rest.repos.createInOrg({ org: "fleet", name: "INFRA" }));
    assert.equal(dup.status, 422);
    assert.equal(dup.data.message, "Repository creation failed.");
    assert.deepEqual(dup.data.errors, [{
      resource: "Repository",
      code: "custom",
      field: "name",
      message: "name already exists on this account",
    }]);

    const wrongType = await failure(
      alice.request(
        "POST /user/repos",
        { name: "x", private: "yes" } as unknown as { name: string },
      ),
    );
    assert.equal(wrongType.status, 422);
    assert.equal(
      wrongType.data.message,
      `Invalid request.\n\nFor 'properties/private', "yes" is not a boolean.`,
    );
  });
});

Deno.test("github: a fine-grained token is refused with x-accepted-github-permissions; a classic token without repo does not see private repositories", async () => {
  await withGitHub(async (env) => {
    await env.octo(TOKENS.alice).rest.repos.createForAuthenticatedUser({
      name: "p",
      private: true,
    });
    const fine = env.octo(TOKENS.aliceFine);
    const got = await fine.rest.repos.get({ owner: "alice", repo: "p" });
    assert.equal(got.headers["x-accepted-github-permissions"], "metadata=read");
    assert.equal(got.headers["x-oauth-scopes"], undefined);
    const refused = await failure(fine.rest.repos.createDeployKey({
      owner: "alice",
      repo: "p",
      key: fakeKey("k"),
    }));
    assert.equal(refused.status, 403);
    assert.equal(refused.data.message, "Resource not accessible by personal access token");
    assert.equal(refused.headers["x-accepted-github-permissions"], "administration=write");

    const readOrg = await failure(
      env.octo(TOKENS.aliceReadOrg).rest.repos.get({ owner: "alice", repo: "p" }),
    );
    assert.equal(readOrg.status, 404);
    assert.equal(readOrg.headers["x-oauth-scopes"], "read:org");
    assert.equal(readOrg.headers["x-accepted-oauth-scopes"], "repo");
  });
});

Deno.test({
  name:
    "github: deploy keys are enforced by sshd: read-only clones but cannot push, read-write pushes, neither reaches another repository, a deleted key is refused",
  ignore: missing("sshd"),
  async fn() {
    await withGitHub(async (env) => {
      const alice = env.octo(TOKENS.alice);
      const repo = await alice.rest.repos.createInOrg({
        org: "fleet",
        name: "fleet-infra",
        private: true,
        auto_init: true,
      });
      assert.equal(
        repo.data.ssh_url,
        `ssh://git@127.0.0.1:${env.sshd!.port}/fleet/fleet-infra.git`,
      );
      const ro = await newSshKey(env.dir, "ro_key");
      const rw = await newSshKey(env.dir, "rw_key");
      const roKey = await alice.rest.repos.createDeployKey({
        owner: "fleet",
        repo: "fleet-infra",
        title: "flux-ro",
        key: ro.publicKey,
        read_only: true,
      });
      assert.equal(roKey.status, 201);
      assert.equal(roKey.data.read_only, true);
      assert.equal(roKey.data.key, ro.publicKey.split(" ").slice(0, 2).join(" "));
      const rwKey = await alice.rest.repos.createDeployKey({
        owner: "fleet",
        repo: "fleet-infra",
        title: "flux-rw",
        key: rw.publicKey,
        read_only: false,
      });
      assert.equal(rwKey.data.read_only, false);

      // Deploy keys are unique on GitHub: not on this repository again, nor on another one.
      await alice.rest.repos.createInOrg({ org: "fleet", name: "other" });
      const reused = await failure(
        alice.rest.repos.createDeployKey({ owner: "fleet", repo: "other", key: ro.publicKey }),
      );
      assert.equal(reused.status, 422);
      assert.deepEqual(reused.data.errors, [{
        resource: "PublicKey",
        code: "custom",
        field: "key",
        message: "key is already in use",
      }]);
      const invalid = await failure(
        alice.rest.repos.createDeployKey({
          owner: "fleet",
          repo: "other",
          key: "ssh-ed25519 bm90IGEga2V5",
        }),
      );
      assert.equal(invalid.status, 422);
      assert.match(
        String(invalid.data.errors?.[0].message),
        /^key is invalid\. It must begin with 'ssh-ed25519'/,
      );

      const url = repo.data.ssh_url;
      const { rwClone, roEnv, rwEnv } = await deployKeysEnforced({
        dir: env.dir,
        url,
        ro,
        rw,
        knownHosts: env.knownHosts!,
        gitDir: env.gh.repo("fleet", "fleet-infra")!.gitDir,
      });
      // A deploy key reaches its own repository only.
      const elsewhere = await git(
        ["clone", "--quiet", url.replace("fleet-infra", "other")],
        env.dir,
        roEnv,
      );
      assert.notEqual(elsewhere.code, 0);
      assert.match(elsewhere.stderr, /this key has no access to this repository/);

      const deleted = await alice.rest.repos.deleteDeployKey({
        owner: "fleet",
        repo: "fleet-infra",
        key_id: rwKey.data.id,
      });
      assert.equal(deleted.status, 204);
      const after = await git(["fetch", "origin"], rwClone, rwEnv);
      assert.notEqual(after.code, 0);
      assert.match(after.stderr, /Permission denied \(publickey\)/);
      const left = await alice.rest.repos.listDeployKeys({ owner: "fleet", repo: "fleet-infra" });
      assert.deepEqual(left.data.map((k) => k.title), ["flux-ro"]);
      const one = await alice.rest.repos.getDeployKey({
        owner: "fleet",
        repo: "fleet-infra",
        key_id: roKey.data.id,
      });
      assert.equal(one.data.title, "flux-ro");
      const gone = await failure(
        alice.rest.repos.getDeployKey({
          owner: "fleet",
          repo: "fleet-infra",
          key_id: rwKey.data.id,
        }),
      );
      assert.equal(gone.status, 404);
    }, { ssh: true });
  },
});

Deno.test("github: deploy keys page by per_page with Link headers naming /repositories/{id}; octokit.paginate follows them", async () => {
  await withGitHub(async (env) => {
    const alice = env.octo(TOKENS.alice);
    const repo = await alice.rest.repos.createForAuthenticatedUser({ name: "keys" });
    const titles = ["k1", "k2", "k3", "k4", "k5"];
    for (const t of titles) {
      await alice.rest.repos.createDeployKey({
        owner: "alice",
        repo: "keys",
        title: t,
        key: fakeKey(t),
      });
    }

    const first = await alice.rest.repos.listDeployKeys({
      owner: "alice",
      repo: "keys",
      per_page: 2,
    });
    assert.deepEqual(first.data.map((k) => k.title), ["k1", "k2"]);
    const base = `${env.gh.url}/repositories/${repo.data.id}/keys`;
    assert.equal(
      first.headers.link,
      `<${base}?per_page=2&page=2>; rel="next", <${base}?per_page=2&page=3>; rel="last"`,
    );
    const before = env.gh.requests.length;
    const all = await alice.paginate(alice.rest.repos.listDeployKeys, {
      owner: "alice",
      repo: "keys",
      per_page: 2,
    });
    assert.deepEqual(all.map((k) => k.title), titles);
    assert.deepEqual(env.gh.requests.slice(before).map((r) => `${r.path} ${r.status}`), [
      "/repos/alice/keys/keys?per_page=2 200",
      `/repositories/${repo.data.id}/keys?per_page=2&page=2 200`,
      `/repositories/${repo.data.id}/keys?per_page=2&page=3 200`,
    ]);
    const last = await alice.rest.repos.listDeployKeys({
      owner: "alice",
      repo: "keys",
      per_page: 2,
      page: 3,
    });
    assert.equal(
      last.headers.link,
      `<${base}?per_page=2&page=2>; rel="prev", <${base}?per_page=2&page=1>; rel="first"`,
    );
    // per_page is capped at 100, as GitHub caps it.
    const capped = await alice.rest.repos.listDeployKeys({
      owner: "alice",
      repo: "keys",
      per_page: 500,
    });
    assert.equal(capped.data.length, 5);
    assert.equal(capped.headers.link, undefined);
  });
});

Deno.test("github: team access: granted with a permission, listed, checked with the repository media type, and felt over HTTPS", async () => {
  await withGitHub(async (env) => {
    const alice = env.octo(TOKENS.alice);
    const repo = await alice.rest.repos.createInOrg({
      org: "fleet",
      name: "infra",
      private: true,
      auto_init: true,
    });
    const params = { org: "fleet", team_slug: "ops", owner: "fleet", repo: "infra" };
    const notYet = await failure(alice.rest.teams.checkPermissionsForRepoInOrg(params));
    assert.equal(notYet.status, 404);

    const put = await alice.rest.teams.addOrUpdateRepoPermissionsInOrg({
      ...params,
      permission: "push",
    });
    assert.equal(put.status, 204);
    // Idempotent: the same grant again is 204 again.
    assert.equal(
      (await alice.rest.teams.addOrUpdateRepoPermissionsInOrg({ ...params, permission: "push" }))
        .status,
      204,
    );
    const teams = await alice.rest.repos.listTeams({ owner: "fleet", repo: "infra" });
    assert.deepEqual(teams.data.map((t) => [t.slug, t.name, t.permission]), [[
      "ops",
      "Ops",
      "push",
    ]]);
    assert.equal(teams.data[0].permissions?.push, true);
    assert.equal(teams.data[0].permissions?.admin, false);

    const ops = await alice.rest.teams.getByName({ org: "fleet", team_slug: "ops" });
    assert.deepEqual([ops.data.name, ops.data.members_count, ops.data.repos_count], ["Ops", 1, 1]);
    assert.equal(
      (await failure(
        env.octo(TOKENS.carol).rest.teams.getByName({ org: "fleet", team_slug: "ops" }),
      )).status,
      404,
    );

    const plain = await alice.rest.teams.checkPermissionsForRepoInOrg(params);
    assert.equal(plain.status, 204);
    // The documented media type (go-github's), and octokit's spelling of it.
    for (
      const how of [
        { headers: { accept: "application/vnd.github.v3.repository+json" } },
        { mediaType: { format: "repository" } },
      ]
    ) {
      const withRepo = await alice.rest.teams.checkPermissionsForRepoInOrg({ ...params, ...how });
      assert.equal(withRepo.status, 200);
      assert.equal(withRepo.data.full_name, "fleet/infra");
      assert.equal(withRepo.data.role_name, "push");
      assert.equal(withRepo.data.permissions?.push, true);
    }

    const bobSees = await env.octo(TOKENS.bob).rest.repos.get({ owner: "fleet", repo: "infra" });
    assert.deepEqual(bobSees.data.permissions, {
      admin: false,
      maintain: false,
      push: true,
      triage: true,
      pull: true,
    });
    const work = join(env.dir, "w");
    await Deno.mkdir(work);
    const bobAuth = basicAuth("bob", TOKENS.bob);
    await mustGit([...bobAuth, "clone", "--quiet", repo.data.clone_url, "c"], work);
    const sha = await commitFile(join(work, "c"), "b.txt", "b\n", "bob");
    await mustGit([...bobAuth, "push", "--quiet", "origin", "HEAD:main"], join(work, "c"));
    assert.equal(await bareHead(env.gh.repo("fleet", "infra")!.gitDir, "main"), sha);
    // carol cannot see it, over git either.
    const carol = await git([
      ...basicAuth("x-access-token", TOKENS.carol),
      "ls-remote",
      repo.data.clone_url,
    ], work);
    assert.notEqual(carol.code, 0);
    assert.match(carol.stderr, /not found/i);

    // A read-only team member cannot push.
    await alice.rest.teams.addOrUpdateRepoPermissionsInOrg({ ...params, permission: "pull" });
    const pushAgain = await git(
      [...bobAuth, "push", "origin", "HEAD:refs/heads/other"],
      join(work, "c"),
    );
    assert.notEqual(pushAgain.code, 0);
    assert.match(pushAgain.stderr, /403|denied/);

    const badPermission = await failure(
      alice.rest.teams.addOrUpdateRepoPermissionsInOrg({ ...params, permission: "owner" }),
    );
    assert.equal(badPermission.status, 422);
    const noTeam = await failure(
      alice.rest.teams.addOrUpdateRepoPermissionsInOrg({ ...params, team_slug: "nobody" }),
    );
    assert.equal(noTeam.status, 404);
    assert.deepEqual(env.gh.repo("fleet", "infra")?.teams, { ops: "pull" });
    assert.equal((await alice.rest.teams.removeRepoInOrg(params)).status, 204);
    assert.deepEqual(env.gh.repo("fleet", "infra")?.teams, {});
  });
});

Deno.test("github: PATCH changes visibility and the default branch (HEAD of the bare repository), refusing a branch that does not exist", async () => {
  await withGitHub(async (env) => {
    const alice = env.octo(TOKENS.alice);
    const repo = await alice.rest.repos.createForAuthenticatedUser({
      name: "r",
      private: true,
      auto_init: true,
    });
    const pub = await alice.rest.repos.update({ owner: "alice", repo: "r", visibility: "public" });
    assert.equal(pub.data.private, false);
    assert.equal(pub.data.visibility, "public");
    // Public: readable without a token.
    const anon = await new Octokit({ baseUrl: env.gh.url, log: QUIET }).rest.repos.get({
      owner: "alice",
      repo: "r",
    });
    assert.equal(anon.data.permissions, undefined);

    const missingBranch = await failure(
      alice.rest.repos.update({ owner: "alice", repo: "r", default_branch: "trunk" }),
    );
    assert.equal(missingBranch.status, 422);
    assert.deepEqual(missingBranch.data.errors, [{
      resource: "Repository",
      code: "invalid",
      field: "default_branch",
    }]);

    const work = join(env.dir, "w");
    await Deno.mkdir(work);
    const auth = basicAuth("x-access-token", TOKENS.alice);
    await mustGit([...auth, "clone", "--quiet", repo.data.clone_url, "c"], work);
    await mustGit([...auth, "push", "--quiet", "origin", "HEAD:refs/heads/trunk"], join(work, "c"));
    // Readable without a token, but a push without one is challenged for credentials (401).
    await mustGit(["ls-remote", repo.data.clone_url], work);
    const anonPush = await git(
      ["push", repo.data.clone_url, "HEAD:refs/heads/anon"],
      join(work, "c"),
    );
    assert.notEqual(anonPush.code, 0);
    assert.match(anonPush.stderr, /could not read Username|Authentication failed/);
    const moved = await alice.rest.repos.update({
      owner: "alice",
      repo: "r",
      default_branch: "trunk",
    });
    assert.equal(moved.data.default_branch, "trunk");
    const head = await Deno.readTextFile(join(env.gh.repo("alice", "r")!.gitDir, "HEAD"));
    assert.equal(head.trim(), "ref: refs/heads/trunk");

    const bobTries = await failure(
      env.octo(TOKENS.bob).rest.repos.update({ owner: "alice", repo: "r", private: true }),
    );
    assert.equal(bobTries.status, 403);
    assert.equal(bobTries.data.message, "Must have admin rights to Repository.");
  });
});

Deno.test("github: rate limits: primary (remaining 0, reset) and secondary (retry-after) as octokit reports them; requests counted per token", async () => {
  await withGitHub(async (env) => {
    const alice = env.octo(TOKENS.alice);
    const bob = env.octo(TOKENS.bob);
    await alice.rest.repos.createInOrg({ org: "fleet", name: "infra" });
    const start = await bob.rest.repos.get({ owner: "fleet", repo: "infra" });
    const used = Number(start.headers["x-ratelimit-used"]);
    assert.equal(Number(start.headers["x-ratelimit-remaining"]), 5000 - used);

    const before = Math.floor(Date.now() / 1000);
    env.gh.exhaustRateLimit("alice", { resetInSeconds: 120 });
    const primary = await failure(alice.rest.repos.get({ owner: "fleet", repo: "infra" }));
    assert.equal(primary.status, 403);
    assert.equal(primary.headers["x-ratelimit-remaining"], "0");
    const reset = Number(primary.headers["x-ratelimit-reset"]);
    assert.ok(reset >= before + 120 && reset <= before + 125, `reset ${reset}`);
    assert.match(String(primary.data.message), /^API rate limit exceeded for user ID \d+\./);
    // The limit is alice's (every token of hers), not bob's.
    assert.equal(
      (await failure(env.octo(TOKENS.aliceFine).rest.users.getAuthenticated())).status,
      403,
    );
    assert.equal((await bob.rest.users.getAuthenticated()).status, 200);
    // GitHub may answer a primary limit with 429 too.
    env.gh.exhaustRateLimit("carol", { status: 429 });
    const carol = await failure(env.octo(TOKENS.carol).rest.users.getAuthenticated());
    assert.equal(carol.status, 429);
    assert.equal(carol.headers["x-ratelimit-remaining"], "0");
    // GET /rate_limit answers and spends nothing.
    const status = await alice.rest.rateLimit.get();
    assert.equal(status.data.resources.core.remaining, 0);
    assert.equal(status.data.rate.reset, reset);

    env.gh.secondaryRateLimit({ status: 429, retryAfterSeconds: 30, token: "bob" });
    const secondary = await failure(bob.rest.repos.get({ owner: "fleet", repo: "infra" }));
    assert.equal(secondary.status, 429);
    assert.equal(secondary.headers["retry-after"], "30");
    assert.match(String(secondary.data.message), /^You have exceeded a secondary rate limit\./);
    assert.equal((await bob.rest.repos.get({ owner: "fleet", repo: "infra" })).status, 200);

    // Counted per token: bob made 4 reading calls, none mutating; alice's create is mutating.
    assert.deepEqual(env.gh.counts("bob"), { reading: 4, mutating: 0 });
    assert.deepEqual(env.gh.counts("alice"), { reading: 2, mutating: 1 });
    assert.deepEqual(env.gh.counts("alice-fine"), { reading: 1, mutating: 0 });
    assert.deepEqual(env.gh.mutatingRequests(), [
      { method: "POST", path: "/orgs/fleet/repos", status: 201, token: "alice" },
    ]);
    const records = JSON.stringify(env.gh.requests);
    for (const t of Object.values(TOKENS)) {
      assert.ok(!records.includes(t), "a token in the records");
    }
  });
});

Deno.test("github: served over HTTPS with the sandbox CA, as a GitHub Enterprise Server with a private CA", async () => {
  const gh = await startGitHubSandbox({
    users: ["alice"],
    tokens: [{ token: TOKENS.alice, user: "alice" }],
    tls: true,
  });
  const client = Deno.createHttpClient({ caCerts: [gh.caPem!] });
  try {
    assert.match(gh.enterpriseApiUrl, /^https:\/\/127\.0\.0\.1:\d+\/api\/v3$/);
    const octo = new Octokit({
      auth: TOKENS.alice,
      baseUrl: gh.enterpriseApiUrl,
      log: QUIET,
      request: {
        fetch: (input: Request | URL | string, init?: RequestInit) =>
          fetch(input, { ...init, client }),
      },
    });
    const repo = await octo.rest.repos.createForAuthenticatedUser({ name: "tls", auto_init: true });
    assert.equal(repo.data.clone_url, `${gh.url}/alice/tls.git`);
    const dir = await Deno.makeTempDir({ prefix: "fluxfleet-gh-tls-" });
    try {
      const ca = join(dir, "ca.pem");
      await Deno.writeTextFile(ca, gh.caPem!);
      const refs = await mustGit(
        [...basicAuth("x-access-token", TOKENS.alice), "ls-remote", repo.data.clone_url],
        dir,
        { GIT_SSL_CAINFO: ca },
      );
      assert.match(refs, /\trefs\/heads\/main\n/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  } finally {
    client.close();
    await gh.close();
  }
});
