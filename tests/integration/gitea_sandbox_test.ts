/**
 * The Gitea sandbox (sandbox/gitea/) driven by gitea-js, the client generated from Gitea's
 * swagger description: every endpoint fluxfleet's Gitea provider will use under /api/v1, the
 * errors in Gitea's words ({message, url}), deploy keys enforced by the real sshd, git over HTTPS
 * with <user>:<token>, paging by page/limit with X-Total-Count (and Link where Gitea sets it),
 * throttling with retry-after, and requests counted per token.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { giteaApi } from "gitea-js";
import { type GiteaSandbox, startGiteaSandbox } from "../../sandbox/gitea/server.ts";
import { type SshdServer, startSshd } from "../../sandbox/ssh/sshd.ts";
import { missing } from "../helpers/tools.ts";
import {
  bareHead,
  basicAuth,
  commitFile,
  git,
  mustGit,
  newSshKey,
  sshEnv,
} from "../helpers/forge_git.ts";

const TOKENS = {
  alice: "gitea_canary_alice_3f9a1c",
  bob: "gitea_canary_bob_c41e07",
  carol: "gitea_canary_carol_8d2b66",
  aliceRepoOnly: "gitea_canary_alice_repo_5a70",
  aliceReadOnly: "gitea_canary_alice_read_2c19",
};

type Api = ReturnType<typeof giteaApi>;

interface Env {
  gt: GiteaSandbox;
  dir: string;
  sshd?: SshdServer;
  knownHosts?: string;
  api(token: string): Api;
}

async function withGitea(fn: (env: Env) => Promise<void>, opts: { ssh?: boolean } = {}) {
  const dir = await Deno.makeTempDir({ prefix: "fluxfleet-gitea-test-" });
  const sshd = opts.ssh ? await startSshd() : undefined;
  let gt: GiteaSandbox | undefined;
  try {
    gt = await startGiteaSandbox({
      users: ["alice", "bob", "carol"],
      orgs: [{
        login: "fleet",
        owners: ["alice"],
        members: ["bob"],
        teams: [
          { slug: "ops", permission: "write", members: ["bob"] },
          { slug: "devs", permission: "read" },
        ],
      }],
      tokens: [
        { token: TOKENS.alice, user: "alice" },
        { token: TOKENS.bob, user: "bob" },
        { token: TOKENS.carol, user: "carol" },
        {
          token: TOKENS.aliceRepoOnly,
          user: "alice",
          name: "alice-repo",
          scopes: ["write:repository"],
        },
        {
          token: TOKENS.aliceReadOnly,
          user: "alice",
          name: "alice-read",
          scopes: ["read:repository", "read:user"],
        },
      ],
      gitRoot: sshd?.root,
      sshCloneBase: sshd ? `ssh://git@127.0.0.1:${sshd.port}` : undefined,
      accessKeys: sshd
        ? {
          authorize: (key, o) => sshd.authorize(key, { readOnly: o.readOnly }),
          revoke: (key) => sshd.revoke(key),
        }
        : undefined,
    });
    let knownHosts: string | undefined;
    if (sshd) {
      knownHosts = join(dir, "known_hosts");
      await Deno.writeTextFile(knownHosts, sshd.knownHosts());
    }
    const sandbox = gt;
    await fn({
      gt: sandbox,
      dir,
      sshd,
      knownHosts,
      api: (token) => giteaApi(sandbox.url, { token }),
    });
  } finally {
    await gt?.close();
    await sshd?.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

interface Failure {
  status: number;
  headers: Headers;
  error: { message?: string; url?: string };
}

/** What gitea-js throws on an error status: the Response, with the parsed body in `error`. */
async function failure(p: Promise<unknown>): Promise<Failure> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof Response, `not a gitea-js error response: ${e}`);
    return {
      status: e.status,
      headers: e.headers,
      error: (e as Response & { error: Failure["error"] }).error,
    };
  }
  assert.fail("expected the call to fail");
}

function fakeKey(comment: string): string {
  const type = new TextEncoder().encode("ssh-ed25519");
  const blob = new Uint8Array(4 + type.length + 4 + 32);
  const view = new DataView(blob.buffer);
  view.setUint32(0, type.length);
  blob.set(type, 4);
  view.setUint32(4 + type.length, 32);
  blob.set(crypto.getRandomValues(new Uint8Array(32)), 8 + type.length);
  return `ssh-ed25519 ${btoa(String.fromCharCode(...blob))} ${comment}`;
}

Deno.test("gitea: version, the current user and an organization; 401 and missing scopes in Gitea's words", async () => {
  await withGitea(async (env) => {
    const alice = env.api(TOKENS.alice);
    assert.equal((await alice.version.getVersion()).data.version, "1.23.1");
    const me = await alice.user.userGetCurrent();
    assert.equal(me.data.login, "alice");
    const org = await alice.orgs.orgGet("fleet");
    assert.equal(org.data.name, "fleet");
    assert.equal(org.data.repo_admin_change_team_access, false);

    const bad = await failure(env.api("not-a-valid-token").user.userGetCurrent());
    assert.equal(bad.status, 401);
    assert.deepEqual(bad.error, {
      message: "invalid username, password or token",
      url: `${env.gt.url}/api/swagger`,
    });
    const noToken = await failure(giteaApi(env.gt.url).user.userGetCurrent());
    assert.equal(noToken.status, 401);
    assert.equal(noToken.error.message, "token is required");
    const missingOrg = await failure(alice.orgs.orgGet("nobody"));
    assert.equal(missingOrg.status, 404);
    assert.equal(missingOrg.error.message, "not found");

    // A token with write:repository only: not the user endpoint, nor creating under /user/repos.
    const repoOnly = env.api(TOKENS.aliceRepoOnly);
    const scoped = await failure(repoOnly.user.userGetCurrent());
    assert.equal(scoped.status, 403);
    assert.equal(
      scoped.error.message,
      "token does not have at least one of required scope(s), required=[read:user], token scope=write:repository",
    );
    const create = await failure(repoOnly.user.createCurrentUserRepo({ name: "x" }));
    assert.equal(create.status, 403);
    assert.match(String(create.error.message), /required=\[write:user write:repository\]/);

    // read: does not cover write (a read-only token cannot add a deploy key).
    const readOnly = env.api(TOKENS.aliceReadOnly);
    assert.equal((await readOnly.user.userGetCurrent()).data.login, "alice");
    const noWrite = await failure(
      readOnly.repos.repoCreateKey("alice", "any", { title: "k", key: fakeKey("k") }),
    );
    assert.equal(noWrite.status, 403);
    assert.equal(
      noWrite.error.message,
      "token does not have at least one of required scope(s), required=[write:repository], token scope=read:repository,read:user",
    );

    const unknownRoute = await fetch(`${env.gt.url}/api/v1/no/such/route`);
    assert.equal(unknownRoute.status, 404);
    assert.equal(await unknownRoute.text(), "404 page not found\n");
  });
});

Deno.test("gitea: repositories for the user and in an organization are real, clonable and pushable with <user>:<token>; 404, 409, 422", async () => {
  await withGitea(async (env) => {
    const alice = env.api(TOKENS.alice);
    const mine = await alice.user.createCurrentUserRepo({
      name: "fleet-infra",
      private: true,
      auto_init: true,
      description: "the fleet",
      default_branch: "trunk",
    });
    assert.equal(mine.status, 201);
    assert.equal(mine.data.full_name, "alice/fleet-infra");
    assert.equal(mine.data.private, true);
    assert.equal(mine.data.empty, false);
    assert.equal(mine.data.default_branch, "trunk");
    assert.equal(mine.data.clone_url, `${env.gt.url}/alice/fleet-infra.git`);
    assert.deepEqual(mine.data.permissions, { admin: true, push: true, pull: true });
    const got = await alice.repos.repoGet("alice", "fleet-infra");
    assert.equal(got.data.id, mine.data.id);
    assert.equal(got.data.url, `${env.gt.url}/api/v1/repos/alice/fleet-infra`);

    const inOrg = await alice.orgs.createOrgRepo("fleet", { name: "clusters", private: true });
    assert.equal(inOrg.data.owner?.login, "fleet");
    assert.equal(inOrg.data.empty, true);
    assert.equal(inOrg.data.default_branch, "main");

    const work = join(env.dir, "work");
    await Deno.mkdir(work);
    const auth = basicAuth("alice", TOKENS.alice);
    assert.match(
      await mustGit([...auth, "ls-remote", mine.data.clone_url!], work),
      /\trefs\/heads\/trunk\n/,
    );
    await mustGit([...auth, "clone", "--quiet", mine.data.clone_url!, "c"], work);
    const clone = join(work, "c");
    assert.equal(await Deno.readTextFile(join(clone, "README.md")), "# fleet-infra\n\nthe fleet");
    const sha = await commitFile(clone, "x.txt", "x\n", "second");
    await mustGit([...auth, "push", "--quiet", "origin", "HEAD:trunk"], clone);
    assert.equal(await bareHead(env.gt.repo("alice", "fleet-infra")!.gitDir, "trunk"), sha);
    // The token as the user name, as Gitea also takes it.
    await mustGit(
      [...basicAuth(TOKENS.alice, "x-oauth-basic"), "ls-remote", inOrg.data.clone_url!],
      work,
    );

    const gone = await failure(alice.repos.repoGet("fleet", "nothing"));
    assert.equal(gone.status, 404);
    assert.equal(gone.error.message, "not found");
    // carol is not in the organization: its private repository does not exist for her.
    assert.equal(
      (await failure(env.api(TOKENS.carol).repos.repoGet("fleet", "clusters"))).status,
      404,
    );

    const dup = await failure(alice.orgs.createOrgRepo("fleet", { name: "Clusters" }));
    assert.equal(dup.status, 409);
    assert.equal(dup.error.message, "The repository with the same name already exists.");
    const badName = await failure(alice.user.createCurrentUserRepo({ name: "not ok" }));
    assert.equal(badName.status, 422);
    const reserved = await failure(alice.user.createCurrentUserRepo({ name: "x.git" }));
    assert.equal(reserved.status, 422);
    assert.equal(reserved.error.message, "name pattern is not allowed [pattern: *.git]");
    const noName = await failure(alice.user.createCurrentUserRepo({} as { name: string }));
    assert.equal(noName.status, 422);
    assert.equal(noName.error.message, "[Name]: Required");
  });
});

Deno.test("gitea: 403 in Gitea's words: deploy keys without admin, an outsider creating in the organization, team access by a non-owner", async () => {
  await withGitea(async (env) => {
    const alice = env.api(TOKENS.alice);
    await alice.orgs.createOrgRepo("fleet", { name: "infra", private: true });
    await alice.repos.repoAddTeam("fleet", "infra", "ops");
    // bob writes through the ops team, but is no admin.
    const bob = env.api(TOKENS.bob);
    assert.deepEqual((await bob.repos.repoGet("fleet", "infra")).data.permissions, {
      admin: false,
      push: true,
      pull: true,
    });
    const key = await failure(
      bob.repos.repoCreateKey("fleet", "infra", { title: "k", key: fakeKey("k") }),
    );
    assert.equal(key.status, 403);
    assert.equal(
      key.error.message,
      "user should be an owner or a collaborator with admin write of a repository",
    );
    const outsider = await failure(
      env.api(TOKENS.carol).orgs.createOrgRepo("fleet", { name: "x" }),
    );
    assert.equal(outsider.status, 403);
    assert.equal(
      outsider.error.message,
      "Given user is not allowed to create repository in organization.",
    );
    const teams = await failure(bob.repos.repoAddTeam("fleet", "infra", "devs"));
    assert.equal(teams.status, 403);
    const orgTeams = await failure(env.api(TOKENS.carol).orgs.orgListTeams("fleet"));
    assert.equal(orgTeams.status, 403);
    assert.equal(orgTeams.error.message, "Must be an organization member");
  });
});

Deno.test({
  name:
    "gitea: deploy keys are enforced by sshd: read-only clones but cannot push, read-write pushes, a deleted key is refused",
  ignore: missing("sshd"),
  async fn() {
    await withGitea(async (env) => {
      const alice = env.api(TOKENS.alice);
      const repo = await alice.orgs.createOrgRepo("fleet", {
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
      const roKey = await alice.repos.repoCreateKey("fleet", "fleet-infra", {
        title: "flux-ro",
        key: ro.publicKey,
        read_only: true,
      });
      assert.equal(roKey.status, 201);
      assert.equal(roKey.data.read_only, true);
      assert.equal(roKey.data.key, ro.publicKey.split(" ").slice(0, 2).join(" "));
      assert.match(String(roKey.data.fingerprint), /^SHA256:[A-Za-z0-9+/]{43}$/);
      const rwKey = await alice.repos.repoCreateKey("fleet", "fleet-infra", {
        title: "flux-rw",
        key: rw.publicKey,
      });
      assert.equal(rwKey.data.read_only, false);

      const again = await failure(
        alice.repos.repoCreateKey("fleet", "fleet-infra", {
          title: "again",
          key: ro.publicKey,
          read_only: true,
        }),
      );
      assert.equal(again.status, 422);
      assert.equal(again.error.message, "This key has already been added to this repository");
      const sameTitle = await failure(
        alice.repos.repoCreateKey("fleet", "fleet-infra", { title: "flux-ro", key: fakeKey("x") }),
      );
      assert.equal(sameTitle.status, 422);
      assert.equal(sameTitle.error.message, "A key with the same name already exists");
      // Unlike GitHub, one key may be a deploy key of several repositories (same key_id).
      await alice.orgs.createOrgRepo("fleet", { name: "other" });
      const shared = await alice.repos.repoCreateKey("fleet", "other", {
        title: "flux-ro",
        key: ro.publicKey,
        read_only: true,
      });
      assert.equal(shared.data.key_id, roKey.data.key_id);

      const url = repo.data.ssh_url!;
      const roEnv = sshEnv(ro, env.knownHosts!);
      await mustGit(["clone", "--quiet", url, "ro"], env.dir, roEnv);
      const roClone = join(env.dir, "ro");
      await commitFile(roClone, "ro.txt", "ro\n", "from the read-only key");
      const refused = await git(["push", "origin", "HEAD:main"], roClone, roEnv);
      assert.notEqual(refused.code, 0);
      assert.match(refused.stderr, /read-only/);

      const rwEnv = sshEnv(rw, env.knownHosts!);
      await mustGit(["clone", "--quiet", url, "rw"], env.dir, rwEnv);
      const rwClone = join(env.dir, "rw");
      const sha = await commitFile(rwClone, "rw.txt", "rw\n", "from the read-write key");
      await mustGit(["push", "--quiet", "origin", "HEAD:main"], rwClone, rwEnv);
      assert.equal(await bareHead(env.gt.repo("fleet", "fleet-infra")!.gitDir, "main"), sha);

      // The read-only key stays usable while another repository still holds it.
      assert.equal(
        (await alice.repos.repoDeleteKey("fleet", "other", shared.data.id!)).status,
        204,
      );
      await mustGit(["fetch", "--quiet", "origin"], roClone, roEnv);

      assert.equal(
        (await alice.repos.repoDeleteKey("fleet", "fleet-infra", rwKey.data.id!)).status,
        204,
      );
      const after = await git(["fetch", "origin"], rwClone, rwEnv);
      assert.notEqual(after.code, 0);
      assert.match(after.stderr, /Permission denied \(publickey\)/);
      const left = await alice.repos.repoListKeys("fleet", "fleet-infra");
      assert.deepEqual(left.data.map((k) => k.title), ["flux-ro"]);
      // The organization's owner is not the repository's owner: no repository in the answer.
      assert.equal(left.data[0].repository, undefined);
      const one = await alice.repos.repoGetKey("fleet", "fleet-infra", roKey.data.id!);
      assert.equal(one.data.title, "flux-ro");
      assert.equal(
        (await failure(alice.repos.repoGetKey("fleet", "fleet-infra", rwKey.data.id!))).status,
        404,
      );
      // Deleting what is already gone is quiet, as in Gitea.
      assert.equal(
        (await alice.repos.repoDeleteKey("fleet", "fleet-infra", rwKey.data.id!)).status,
        204,
      );
    }, { ssh: true });
  },
});

Deno.test("gitea: paging: deploy keys by page/limit with X-Total-Count and no Link (as Gitea); organization teams with Link", async () => {
  await withGitea(async (env) => {
    const alice = env.api(TOKENS.alice);
    await alice.user.createCurrentUserRepo({ name: "keys" });
    const titles = ["k1", "k2", "k3", "k4", "k5"];
    for (const t of titles) {
      await alice.repos.repoCreateKey("alice", "keys", { title: t, key: fakeKey(t) });
    }

    const seen: string[] = [];
    for (let page = 1; page <= 3; page++) {
      const res = await alice.repos.repoListKeys("alice", "keys", { page, limit: 2 });
      assert.equal(res.headers.get("x-total-count"), "5");
      assert.equal(res.headers.get("link"), null);
      seen.push(...res.data.map((k) => k.title!));
    }
    assert.deepEqual(seen, titles);
    // The personal repository's owner sees the repository in each key.
    const mine = await alice.repos.repoListKeys("alice", "keys", { limit: 1 });
    assert.equal(mine.data[0].repository?.full_name, "alice/keys");
    // limit is capped at 50, as Gitea's MAX_RESPONSE_ITEMS.
    assert.equal((await alice.repos.repoListKeys("alice", "keys", { limit: 500 })).data.length, 5);

    const teams = await alice.orgs.orgListTeams("fleet", { page: 1, limit: 1 });
    assert.deepEqual(teams.data.map((t) => t.name), ["Owners"]);
    assert.equal(teams.headers.get("x-total-count"), "3");
    const base = `${env.gt.url}/api/v1/orgs/fleet/teams`;
    assert.equal(
      teams.headers.get("link"),
      `<${base}?page=2&limit=1>; rel="next",<${base}?page=3&limit=1>; rel="last"`,
    );
    const last = await alice.orgs.orgListTeams("fleet", { page: 3, limit: 1 });
    assert.deepEqual(last.data.map((t) => [t.name, t.permission]), [["devs", "read"]]);
    assert.equal(
      last.headers.get("link"),
      `<${base}?page=1&limit=1>; rel="first",<${base}?page=2&limit=1>; rel="prev"`,
    );
  });
});

Deno.test("gitea: team access: PUT gives the team's mode, again is 422, Owners holds every repository, a personal repository is 405; felt over HTTPS", async () => {
  await withGitea(async (env) => {
    const alice = env.api(TOKENS.alice);
    const repo = await alice.orgs.createOrgRepo("fleet", {
      name: "infra",
      private: true,
      auto_init: true,
    });
    const before = await alice.repos.repoListTeams("fleet", "infra");
    assert.deepEqual(before.data.map((t) => [t.name, t.permission]), [["Owners", "owner"]]);
    assert.equal((await failure(alice.repos.repoCheckTeam("fleet", "infra", "ops"))).status, 404);

    assert.equal((await alice.repos.repoAddTeam("fleet", "infra", "ops")).status, 204);
    const again = await failure(alice.repos.repoAddTeam("fleet", "infra", "OPS"));
    assert.equal(again.status, 422);
    assert.equal(again.error.message, "team 'ops' is already added to repo");
    const owners = await failure(alice.repos.repoAddTeam("fleet", "infra", "Owners"));
    assert.equal(owners.error.message, "team 'Owners' is already added to repo");
    const check = await alice.repos.repoCheckTeam("fleet", "infra", "ops");
    assert.equal(check.data.permission, "write");
    assert.equal(check.data.organization?.name, "fleet");
    const noTeam = await failure(alice.repos.repoAddTeam("fleet", "infra", "nobody"));
    assert.equal(noTeam.status, 404);
    assert.match(
      String(noTeam.error.message),
      /^team does not exist \[org_id \d+, team_id 0, name: nobody\]$/,
    );
    assert.deepEqual(env.gt.repo("fleet", "infra")?.teams, { Owners: "owner", ops: "write" });

    await alice.user.createCurrentUserRepo({ name: "mine" });
    const personal = await failure(alice.repos.repoAddTeam("alice", "mine", "ops"));
    assert.equal(personal.status, 405);
    assert.equal(personal.error.message, "repo is not owned by an organization");

    const work = join(env.dir, "w");
    await Deno.mkdir(work);
    const bobAuth = basicAuth("bob", TOKENS.bob);
    await mustGit([...bobAuth, "clone", "--quiet", repo.data.clone_url!, "c"], work);
    const sha = await commitFile(join(work, "c"), "b.txt", "b\n", "bob");
    await mustGit([...bobAuth, "push", "--quiet", "origin", "HEAD:main"], join(work, "c"));
    assert.equal(await bareHead(env.gt.repo("fleet", "infra")!.gitDir, "main"), sha);

    assert.equal((await alice.repos.repoDeleteTeam("fleet", "infra", "ops")).status, 204);
    const notThere = await failure(alice.repos.repoDeleteTeam("fleet", "infra", "ops"));
    assert.equal(notThere.error.message, "team 'ops' was not added to repo");
    const denied = await git([...bobAuth, "ls-remote", repo.data.clone_url!], work);
    assert.notEqual(denied.code, 0);
    assert.match(denied.stderr, /not found/i);
  });
});

Deno.test("gitea: PATCH visibility and default branch (ignored when it does not exist); throttling with retry-after; requests counted per token", async () => {
  await withGitea(async (env) => {
    const alice = env.api(TOKENS.alice);
    const bob = env.api(TOKENS.bob);
    const repo = await alice.orgs.createOrgRepo("fleet", {
      name: "infra",
      private: true,
      auto_init: true,
    });
    const edited = await alice.repos.repoEdit("fleet", "infra", {
      private: false,
      default_branch: "nope",
    });
    assert.equal(edited.data.private, false);
    assert.equal(edited.data.default_branch, "main");

    const work = join(env.dir, "w");
    await Deno.mkdir(work);
    const auth = basicAuth("alice", TOKENS.alice);
    await mustGit([...auth, "clone", "--quiet", repo.data.clone_url!, "c"], work);
    await mustGit([...auth, "push", "--quiet", "origin", "HEAD:refs/heads/trunk"], join(work, "c"));
    // Readable without a token, but a push without one is challenged for credentials (401).
    await mustGit(["ls-remote", repo.data.clone_url!], work);
    const anonPush = await git(
      ["push", repo.data.clone_url!, "HEAD:refs/heads/anon"],
      join(work, "c"),
    );
    assert.notEqual(anonPush.code, 0);
    assert.match(anonPush.stderr, /could not read Username|Authentication failed/);
    const moved = await alice.repos.repoEdit("fleet", "infra", { default_branch: "trunk" });
    assert.equal(moved.data.default_branch, "trunk");
    const head = await Deno.readTextFile(join(env.gt.repo("fleet", "infra")!.gitDir, "HEAD"));
    assert.equal(head.trim(), "ref: refs/heads/trunk");
    // Public now: anyone reads it, without a token.
    assert.equal(
      (await giteaApi(env.gt.url).repos.repoGet("fleet", "infra")).data.permissions?.push,
      false,
    );

    env.gt.throttle({ status: 429, retryAfterSeconds: 7, token: "bob" });
    const throttled = await failure(bob.repos.repoGet("fleet", "infra"));
    assert.equal(throttled.status, 429);
    assert.equal(throttled.headers.get("retry-after"), "7");
    assert.equal((await bob.repos.repoGet("fleet", "infra")).status, 200);

    assert.deepEqual(env.gt.counts("bob"), { reading: 2, mutating: 0 });
    assert.deepEqual(env.gt.counts("alice"), { reading: 0, mutating: 3 });
    assert.deepEqual(
      env.gt.mutatingRequests().map((r) => `${r.method} ${r.path} ${r.status} ${r.token}`),
      [
        "POST /api/v1/orgs/fleet/repos 201 alice",
        "PATCH /api/v1/repos/fleet/infra 200 alice",
        "PATCH /api/v1/repos/fleet/infra 200 alice",
      ],
    );
    const records = JSON.stringify(env.gt.requests);
    for (const t of Object.values(TOKENS)) {
      assert.ok(!records.includes(t), "a token in the records");
    }
  });
});
