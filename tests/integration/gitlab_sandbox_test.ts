/**
 * The GitLab REST API sandbox (sandbox/gitlab/) driven by the real client @gitbeaker/rest, as
 * kubectl drives the Kubernetes sandbox: its answers must be what gitbeaker (and so GitLab's own
 * contract) expects. Repositories are real: cloned and pushed with the system git over HTTP on the
 * sandbox's own origin (personal access tokens, deploy tokens) and over the real sshd (deploy
 * keys).
 *
 * @gitbeaker/rest 43.8.0 (npm dist-tag latest, 2026; `npm view @gitbeaker/rest versions`),
 * checked under Deno 2.9.6 as an npm: import: it runs on the global fetch, needs no Node shims
 * or permissions beyond --allow-net, sends PRIVATE-TOKEN (`token`) or Authorization: Bearer
 * (`oauthToken`), follows Link rel="next" for lists, and retries 429 and 502 by itself up to 10
 * times 0.25·2^i ms apart without reading Retry-After (dist/index.mjs defaultRequestHandler),
 * then throws GitbeakerRetryError naming the last status; other errors are GitbeakerRequestError
 * with GitLab's `message` or `error` as the message and the Response in `cause`.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { GitbeakerRequestError, GitbeakerRetryError, Gitlab } from "@gitbeaker/rest";
import type { GitLabSandboxOptions } from "../../sandbox/gitlab/server.ts";
import { type GitLabEnv, startGitLabEnv } from "../helpers/gitlab.ts";
import { missing } from "../helpers/tools.ts";
import {
  basicAuth as basic,
  git as sysGit,
  type GitRun as GitResult,
  mustGit,
} from "../helpers/forge_git.ts";

const ALICE = "canary-gitlab-alice-5f2c91"; // owner of fleet
const ALICE_READ = "canary-gitlab-alice-readapi-77e1"; // read_api only
const ALICE_REPO = "canary-gitlab-alice-readrepo-31c0"; // read_repository only
const BOB = "canary-gitlab-bob-a09d4e"; // developer in fleet
const CAROL = "canary-gitlab-carol-6b3f10"; // member of nothing
const DAVE = "canary-gitlab-dave-d41e77"; // developer in ops (where alice is a guest)
const ALL_TOKENS = [ALICE, ALICE_READ, ALICE_REPO, BOB, CAROL, DAVE];

interface Env extends GitLabEnv {
  /** gitbeaker against the sandbox, with PRIVATE-TOKEN (or Authorization: Bearer). */
  api(token: string, bearer?: boolean): InstanceType<typeof Gitlab>;
}

const USERS: GitLabSandboxOptions["users"] = [
  {
    username: "alice",
    name: "Alice",
    tokens: [
      { token: ALICE, name: "alice-api" },
      { token: ALICE_READ, name: "alice-read-api", scopes: ["read_api"] },
      { token: ALICE_REPO, name: "alice-read-repository", scopes: ["read_repository"] },
    ],
  },
  { username: "bob", tokens: [{ token: BOB, name: "bob-api" }] },
  { username: "carol", tokens: [{ token: CAROL, name: "carol-api" }] },
  { username: "dave", tokens: [{ token: DAVE, name: "dave-api" }] },
];

const GROUPS: GitLabSandboxOptions["groups"] = [
  { path: "fleet", name: "Fleet", visibility: "public", members: { alice: 50, bob: 30 } },
  { path: "fleet/platform", name: "Platform", visibility: "public" },
  { path: "vault", visibility: "private", members: { alice: 50 } },
  { path: "ops", name: "Ops", visibility: "private", members: { dave: 30, alice: 10 } },
  { path: "hidden", visibility: "private", members: { carol: 50 } },
];

async function startEnv(
  opts: { sshd?: boolean; extra?: Partial<GitLabSandboxOptions> } = {},
): Promise<Env> {
  const env = await startGitLabEnv({
    sshd: opts.sshd,
    extra: { users: USERS, groups: GROUPS, ...opts.extra },
  });
  const { gl } = env;
  return {
    ...env,
    api: (token, bearer = false) =>
      bearer
        ? new Gitlab({ host: gl.url, oauthToken: token })
        : new Gitlab({ host: gl.url, token }),
  };
}

async function withEnv(
  fn: (env: Env) => Promise<void>,
  opts: Parameters<typeof startEnv>[0] = {},
): Promise<void> {
  const env = await startEnv(opts);
  try {
    await fn(env);
    // No token value is ever kept in what the sandbox records.
    const recorded = JSON.stringify(env.gl.requests);
    for (const t of ALL_TOKENS) assert.ok(!recorded.includes(t), "a token leaked into records");
  } finally {
    await env.close();
  }
}

/** What gitbeaker reports when the server answers an error: status and GitLab's words. */
async function gitlabError(p: Promise<unknown>): Promise<{ status: number; text: string }> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof GitbeakerRequestError, `expected a GitbeakerRequestError, got ${e}`);
    const cause = e.cause as { response: Response; description: string };
    return { status: cause.response.status, text: e.message };
  }
  assert.fail("expected the call to fail");
}

/** Clones `url` into a new directory under `dir`; the git result and the clone's path. */
async function clone(
  dir: string,
  url: string,
  auth: string[],
  env: Record<string, string> = {},
): Promise<GitResult & { path: string }> {
  const path = join(dir, `clone-${crypto.randomUUID()}`);
  const r = await sysGit([...auth, "clone", "--quiet", url, path], dir, env);
  return { ...r, path };
}

/** Commits one new file in `clone` and pushes it to `branch`. */
async function commitAndPush(
  path: string,
  branch: string,
  auth: string[],
  env: Record<string, string> = {},
): Promise<GitResult> {
  await Deno.writeTextFile(join(path, `${crypto.randomUUID()}.txt`), "change\n");
  await mustGit(["add", "--all"], path);
  await mustGit(["commit", "--quiet", "-m", "change"], path);
  return await sysGit(
    [...auth, "push", "--quiet", "origin", `HEAD:refs/heads/${branch}`],
    path,
    env,
  );
}

async function headOf(gitDir: string, branch: string): Promise<string> {
  return (await mustGit(["--git-dir", gitDir, "rev-parse", `refs/heads/${branch}`], "/")).trim();
}

type Project = { id: number; [k: string]: unknown };

Deno.test("GET /user, the token's scopes, groups and subgroups by encoded path or id, namespaces; PRIVATE-TOKEN or Bearer", async () => {
  await withEnv(async (env) => {
    for (const bearer of [false, true]) {
      const api = env.api(ALICE, bearer);
      const me = await api.Users.showCurrentUser();
      assert.equal(me.username, "alice");
      assert.equal(me.name, "Alice");
      assert.equal(me.is_admin, false);
    }
    const self = await env.api(ALICE_READ).PersonalAccessTokens.show();
    assert.deepEqual(self.scopes, ["read_api"]);
    assert.equal(self.name, "alice-read-api");
    assert.equal(self.active, true);
    assert.ok(!JSON.stringify(self).includes(ALICE_READ), "the token value is never shown again");

    const api = env.api(ALICE);
    const sub = await api.Groups.show("fleet/platform");
    assert.equal(sub.full_path, "fleet/platform");
    assert.equal(sub.full_name, "Fleet / Platform");
    const top = await api.Groups.show("fleet");
    assert.equal(sub.parent_id, top.id);
    assert.equal((await api.Groups.show(sub.id)).full_path, "fleet/platform");
    // Paths are case-insensitive (go-git-providers lower-cases the group part).
    assert.equal((await api.Groups.show("Fleet/Platform")).id, sub.id);
    assert.equal(env.gl.requests.at(-1)?.path, "/api/v4/groups/Fleet%2FPlatform");
    const ns = await api.Namespaces.show("fleet/platform");
    assert.deepEqual([ns.id, ns.kind, ns.full_path, ns.parent_id], [
      sub.id,
      "group",
      "fleet/platform",
      top.id,
    ]);
    const own = await api.Namespaces.show("alice");
    assert.equal(own.kind, "user");

    // The role a provider checks before it creates a project: inherited from the parent group.
    const bobId = (await env.api(BOB).Users.showCurrentUser()).id;
    const bob = await api.GroupMembers.show("fleet/platform", bobId, { includeInherited: true });
    assert.deepEqual([bob.username, bob.access_level], ["bob", 30]);
    const carolId = (await env.api(CAROL).Users.showCurrentUser()).id;
    assert.deepEqual(
      await gitlabError(
        api.GroupMembers.show("fleet/platform", carolId, { includeInherited: true }),
      ),
      { status: 404, text: "404 Not found" },
    );

    // A private group is not there for those outside it; the namespaces API shows only one's own.
    assert.deepEqual(await gitlabError(env.api(CAROL).Groups.show("vault")), {
      status: 404,
      text: "404 Group Not Found",
    });
    assert.equal((await env.api(ALICE).Groups.show("vault")).visibility, "private");
    assert.deepEqual(await gitlabError(env.api(CAROL).Namespaces.show("fleet")), {
      status: 404,
      text: "404 Namespace Not Found",
    });
  });
});

Deno.test("projects in a group and a subgroup: created by gitbeaker, found by encoded path or id, real repositories cloned with the token", async () => {
  await withEnv(async (env) => {
    const api = env.api(ALICE);
    const platform = await api.Groups.show("fleet/platform");
    const apps = await api.Projects.create({
      name: "Apps",
      namespaceId: platform.id,
      visibility: "private",
      initializeWithReadme: true,
      defaultBranch: "trunk",
    }) as Project;
    assert.equal(apps.path, "apps", "the path is made from the name");
    assert.equal(apps.path_with_namespace, "fleet/platform/apps");
    assert.equal(apps.name_with_namespace, "Fleet / Platform / Apps");
    assert.equal(apps.default_branch, "trunk");
    assert.equal(apps.visibility, "private");
    assert.equal(apps.empty_repo, false);
    // On the API's own origin, as GitLab serves git.
    assert.equal(apps.http_url_to_repo, `${env.gl.url}/fleet/platform/apps.git`);
    assert.deepEqual(apps.permissions, {
      project_access: null,
      group_access: { access_level: 50, notification_level: 3 },
    });
    // By URL-encoded path (gitbeaker encodes "/" as %2F) and by id.
    const byPath = await api.Projects.show("fleet/platform/apps") as Project;
    assert.equal(byPath.id, apps.id);
    assert.equal(env.gl.requests.at(-1)?.path, "/api/v4/projects/fleet%2Fplatform%2Fapps");
    assert.equal(
      (await api.Projects.show(apps.id) as Project).path_with_namespace,
      "fleet/platform/apps",
    );
    assert.equal((await api.Projects.show("FLEET/Platform/Apps") as Project).id, apps.id);

    // The README is on the default branch of a real repository, cloned with the token as
    // password: as "oauth2", and with any other user name (flux uses the owner's).
    for (const user of ["oauth2", "fleet"]) {
      const c = await clone(env.dir.path, apps.http_url_to_repo as string, basic(user, ALICE));
      assert.equal(c.code, 0, c.stderr);
      assert.equal(await Deno.readTextFile(join(c.path, "README.md")), "# Apps\n");
      assert.equal((await mustGit(["branch", "--show-current"], c.path)).trim(), "trunk");
    }
    const c = await clone(env.dir.path, apps.http_url_to_repo as string, basic("oauth2", ALICE));
    assert.equal((await commitAndPush(c.path, "trunk", basic("oauth2", ALICE))).code, 0);
    const pushed = (await mustGit(["rev-parse", "HEAD"], c.path)).trim();
    assert.equal(await headOf(env.gl.project("fleet/platform/apps")!.gitDir, "trunk"), pushed);
    // Over HTTP the token's scopes cap the user's role: read_api and read_repository fetch
    // only; a developer (bob, inherited from fleet) pushes; a non-member gets nothing.
    for (const token of [ALICE_READ, ALICE_REPO]) {
      const ro = await clone(env.dir.path, apps.http_url_to_repo as string, basic("alice", token));
      assert.equal(ro.code, 0, ro.stderr);
      const refused = await commitAndPush(ro.path, "trunk", basic("alice", token));
      assert.notEqual(refused.code, 0, "a read-only scope cannot push");
      assert.match(refused.stderr, /403/);
    }
    const dev = await clone(env.dir.path, apps.http_url_to_repo as string, basic("bob", BOB));
    assert.equal((await commitAndPush(dev.path, "trunk", basic("bob", BOB))).code, 0);
    const outsider = await clone(
      env.dir.path,
      apps.http_url_to_repo as string,
      basic("carol", CAROL),
    );
    assert.notEqual(outsider.code, 0);

    // In the group itself, without a README: an empty repository whose HEAD names the branch.
    const fleet = await api.Groups.show("fleet");
    const bare = await api.Projects.create({ path: "infra", namespaceId: fleet.id }) as Project;
    assert.equal(bare.name, "infra");
    assert.equal(bare.empty_repo, true);
    assert.equal(bare.default_branch, "main");
    assert.equal(bare.visibility, "private", "GitLab's default visibility");
    const head = await Deno.readTextFile(join(env.gl.project("fleet/infra")!.gitDir, "HEAD"));
    assert.equal(head.trim(), "ref: refs/heads/main");

    // Without namespace_id: in the user's own namespace, where the user is the project's owner.
    const mine = await api.Projects.create({ name: "scratch" }) as Project;
    assert.equal(mine.path_with_namespace, "alice/scratch");
    assert.deepEqual((mine.permissions as Record<string, unknown>).project_access, {
      access_level: 50,
      notification_level: 3,
    });
    // go-git-providers takes the owner's username from here (UserRepositoriesClient.Create).
    assert.deepEqual((mine.owner as { username: string }).username, "alice");
  });
});

Deno.test("errors in GitLab's words: 404 missing, 401 bad token, 403 without rights, 400 duplicate and invalid input, insufficient_scope", async () => {
  await withEnv(async (env) => {
    const api = env.api(ALICE);
    const fleet = await api.Groups.show("fleet");
    await api.Projects.create({ name: "apps", namespaceId: fleet.id });

    assert.deepEqual(await gitlabError(api.Projects.show("fleet/nothing")), {
      status: 404,
      text: "404 Project Not Found",
    });
    assert.deepEqual(await gitlabError(env.api("canary-not-a-token").Projects.show("fleet/apps")), {
      status: 401,
      text: "401 Unauthorized",
    });
    assert.deepEqual(
      await gitlabError(env.api("canary-not-a-token", true).Users.showCurrentUser()),
      {
        status: 401,
        text: "401 Unauthorized",
      },
    );
    // Without a token: 401 where GitLab needs one (a private project is simply not there).
    const anonymous = await fetch(`${env.gl.url}/api/v4/user`);
    assert.equal(anonymous.status, 401);
    assert.deepEqual(await anonymous.json(), { message: "401 Unauthorized" });
    const hidden = await fetch(`${env.gl.url}/api/v4/projects/fleet%2Fapps`);
    assert.equal(hidden.status, 404);
    assert.deepEqual(await hidden.json(), { message: "404 Project Not Found" });

    // A developer sees the project, may not administer it; an outsider does not even see it.
    const key = (await generateKey(env.dir.path, "k1")).publicKey;
    assert.deepEqual(await gitlabError(env.api(BOB).DeployKeys.create("fleet/apps", "k", key)), {
      status: 403,
      text: "403 Forbidden",
    });
    assert.deepEqual(
      await gitlabError(env.api(BOB).Projects.edit("fleet/apps", { visibility: "public" })),
      {
        status: 403,
        text: "403 Forbidden",
      },
    );
    assert.deepEqual(
      await gitlabError(env.api(CAROL).DeployKeys.all({ projectId: "fleet/apps" })),
      {
        status: 404,
        text: "404 Project Not Found",
      },
    );
    // Creating where one may not: GitLab answers the namespace is not valid (400), not 403.
    assert.deepEqual(
      await gitlabError(env.api(CAROL).Projects.create({ name: "x", namespaceId: fleet.id })),
      {
        status: 400,
        text: JSON.stringify({ namespace: ["is not valid"] }),
      },
    );

    // A duplicate: 400 with the model's errors (go-git-providers matches "name: [has already
    // been taken]" in go-gitlab's rendering of them).
    const dup = await gitlabError(api.Projects.create({ name: "apps", namespaceId: fleet.id }));
    assert.equal(dup.status, 400);
    assert.deepEqual(JSON.parse(dup.text), {
      "project_namespace.name": ["has already been taken"],
      name: ["has already been taken"],
      path: ["has already been taken"],
    });
    assert.deepEqual(
      await gitlabError(
        api.Projects.create({ name: "Fine", path: "bad path!", namespaceId: fleet.id }),
      ),
      {
        status: 400,
        text: JSON.stringify({
          path: [
            "can contain only letters, digits, '_', '-' and '.'. Cannot start with '-', end in '.git' or end in '.atom'",
          ],
        }),
      },
    );
    // Grape's own checks of declared parameters.
    const missingBoth = await fetch(`${env.gl.url}/api/v4/projects/fleet%2Fapps/deploy_keys`, {
      method: "POST",
      headers: { "private-token": ALICE, "content-type": "application/json" },
      body: "{}",
    });
    assert.equal(missingBoth.status, 400);
    assert.deepEqual(await missingBoth.json(), { error: "key is missing, title is missing" });
    assert.deepEqual(
      await gitlabError(api.Projects.create({ name: "v", visibility: "secret" as "private" })),
      {
        status: 400,
        text: "visibility does not have a valid value",
      },
    );

    // Tokens without the api scope: reads with read_api, no writes; read_repository: no API.
    assert.equal((await env.api(ALICE_READ).Projects.show("fleet/apps") as Project).path, "apps");
    for (
      const [token, call, scope] of [
        [ALICE_READ, () => env.api(ALICE_READ).Projects.create({ name: "nope" }), "api"],
        [ALICE_REPO, () => env.api(ALICE_REPO).Projects.show("fleet/apps"), "api read_api"],
      ] as const
    ) {
      const err = await gitlabError(call());
      assert.equal(err.status, 403, token);
      assert.equal(err.text, "insufficient_scope");
      const raw = await fetch(`${env.gl.url}/api/v4/projects/fleet%2Fapps`, {
        method: scope === "api" ? "PUT" : "GET",
        headers: { "private-token": token },
      });
      assert.deepEqual(await raw.json(), {
        error: "insufficient_scope",
        error_description:
          "The request requires higher privileges than provided by the access token.",
        scope,
      });
    }
    assert.deepEqual(env.gl.project("fleet/apps")?.visibility, "private", "nothing changed");
    assert.equal(env.gl.project("fleet/nope"), undefined);
  });
});

Deno.test("visibility private, internal, public: who sees the project; no more visible than its group; PUT changes visibility and default branch", async () => {
  await withEnv(async (env) => {
    const api = env.api(ALICE);
    const fleet = await api.Groups.show("fleet");
    for (const visibility of ["private", "internal", "public"] as const) {
      const p = await api.Projects.create({
        name: `p-${visibility}`,
        namespaceId: fleet.id,
        visibility,
      }) as Project;
      assert.equal(p.visibility, visibility);
    }
    const seenBy = async (token: string | null, path: string) => {
      const res = await fetch(`${env.gl.url}/api/v4/projects/${encodeURIComponent(path)}`, {
        headers: token ? { "private-token": token } : {},
      });
      await res.body?.cancel();
      return res.status;
    };
    // Anonymous: public only; a signed-in outsider: internal too; members: all.
    assert.deepEqual(
      [
        await seenBy(null, "fleet/p-private"),
        await seenBy(null, "fleet/p-internal"),
        await seenBy(null, "fleet/p-public"),
      ],
      [404, 404, 200],
    );
    assert.deepEqual(
      [
        await seenBy(CAROL, "fleet/p-private"),
        await seenBy(CAROL, "fleet/p-internal"),
        await seenBy(CAROL, "fleet/p-public"),
      ],
      [404, 200, 200],
    );
    assert.equal(await seenBy(BOB, "fleet/p-private"), 200);

    // A private group holds private projects only.
    const vault = await api.Groups.show("vault");
    assert.deepEqual(
      await gitlabError(
        api.Projects.create({ name: "leak", namespaceId: vault.id, visibility: "public" }),
      ),
      {
        status: 400,
        text: JSON.stringify({ visibility_level: ["public is not allowed in a private group."] }),
      },
    );

    // PUT: visibility, and the default branch only to a branch that exists.
    const edited = await api.Projects.edit("fleet/p-private", {
      visibility: "internal",
    }) as Project;
    assert.equal(edited.visibility, "internal");
    assert.equal(await seenBy(CAROL, "fleet/p-private"), 200);
    assert.deepEqual(
      await gitlabError(api.Projects.edit("fleet/p-private", { defaultBranch: "release" })),
      {
        status: 400,
        text: JSON.stringify({ base: ["Could not change HEAD: branch 'release' does not exist"] }),
      },
    );
    const url = edited.http_url_to_repo as string;
    const work = join(env.dir.path, "seed");
    await mustGit(["init", "--quiet", "--initial-branch=release", work], env.dir.path);
    await Deno.writeTextFile(join(work, "a.txt"), "a\n");
    await mustGit(["add", "a.txt"], work);
    await mustGit(["commit", "--quiet", "-m", "a"], work);
    await mustGit(
      [...basic("alice", ALICE), "push", "--quiet", url, "HEAD:refs/heads/release"],
      work,
    );
    const moved = await api.Projects.edit("fleet/p-private", {
      defaultBranch: "release",
    }) as Project;
    assert.equal(moved.default_branch, "release");
    const head = await Deno.readTextFile(join(env.gl.project("fleet/p-private")!.gitDir, "HEAD"));
    assert.equal(head.trim(), "ref: refs/heads/release");
  });
});

interface KeyPair {
  privateKeyFile: string;
  publicKey: string;
}

async function generateKey(dir: string, name: string): Promise<KeyPair> {
  const file = join(dir, `${name}-${crypto.randomUUID()}`);
  const out = await new Deno.Command("ssh-keygen", {
    args: ["-q", "-t", "ed25519", "-N", "", "-C", name, "-f", file],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return { privateKeyFile: file, publicKey: (await Deno.readTextFile(`${file}.pub`)).trim() };
}

function sshEnv(key: KeyPair, knownHosts: string): Record<string, string> {
  return {
    GIT_SSH_COMMAND: [
      "ssh",
      "-F",
      "/dev/null",
      "-i",
      key.privateKeyFile,
      "-o",
      "IdentitiesOnly=yes",
      "-o",
      "BatchMode=yes",
      "-o",
      "StrictHostKeyChecking=yes",
      "-o",
      `UserKnownHostsFile=${knownHosts}`,
    ].join(" "),
  };
}

Deno.test({
  name:
    "deploy keys enforced by the real sshd: read-only key clones and cannot push, read-write key pushes, each key only to its projects' repositories, a deleted key is locked out",
  ignore: missing("sshd"),
  async fn() {
    await withEnv(async (env) => {
      const api = env.api(ALICE);
      const platform = await api.Groups.show("fleet/platform");
      const apps = await api.Projects.create({
        name: "apps",
        namespaceId: platform.id,
        initializeWithReadme: true,
      }) as Project;
      const sshUrl = apps.ssh_url_to_repo as string;
      assert.equal(sshUrl, `ssh://git@127.0.0.1:${env.sshd!.port}/fleet/platform/apps.git`);
      const knownHosts = join(env.dir.path, "known_hosts");
      await Deno.writeTextFile(knownHosts, env.sshd!.knownHosts());
      const gitDir = env.gl.project("fleet/platform/apps")!.gitDir;
      const other = await api.Projects.create({
        name: "other",
        namespaceId: platform.id,
        initializeWithReadme: true,
      }) as Project;
      const otherUrl = other.ssh_url_to_repo as string;

      // Read-only (can_push false, the default, as flux registers its key).
      const ro = await generateKey(env.dir.path, "flux-ro");
      const added = await api.DeployKeys.create(
        "fleet/platform/apps",
        "flux-system-main",
        ro.publicKey,
      );
      assert.equal(added.can_push, false);
      assert.equal(added.title, "flux-system-main");
      assert.match(added.fingerprint_sha256 as string, /^SHA256:[A-Za-z0-9+/]{43}$/);
      const roEnv = sshEnv(ro, knownHosts);
      const c = await clone(env.dir.path, sshUrl, [], roEnv);
      assert.equal(c.code, 0, c.stderr);
      assert.equal(await Deno.readTextFile(join(c.path, "README.md")), "# apps\n");
      const before = await headOf(gitDir, "main");
      const refused = await commitAndPush(c.path, "main", [], roEnv);
      assert.notEqual(refused.code, 0);
      assert.match(
        refused.stderr,
        /this key is read-only: push \(git-receive-pack\) is not allowed/,
      );
      assert.equal(await headOf(gitDir, "main"), before, "nothing landed");
      // A deploy key opens its own project's repository, not another one on the same server.
      const elsewhere = await clone(env.dir.path, otherUrl, [], roEnv);
      assert.notEqual(elsewhere.code, 0);
      assert.match(elsewhere.stderr, /this key has no access to this repository/);
      // Adding the same key line again answers the existing key (lib/api/deploy_keys.rb).
      const again = await api.DeployKeys.create("fleet/platform/apps", "other title", ro.publicKey);
      assert.equal(again.id, added.id);
      assert.equal(env.gl.project("fleet/platform/apps")!.deployKeys.length, 1);

      // Read-write: the push lands.
      const rw = await generateKey(env.dir.path, "flux-rw");
      const rwKey = await api.DeployKeys.create(
        "fleet/platform/apps",
        "image-automation",
        rw.publicKey,
        {
          canPush: true,
        },
      );
      assert.equal(rwKey.can_push, true);
      const rwEnv = sshEnv(rw, knownHosts);
      const c2 = await clone(env.dir.path, sshUrl, [], rwEnv);
      assert.equal(c2.code, 0, c2.stderr);
      const pushed = await commitAndPush(c2.path, "main", [], rwEnv);
      assert.equal(pushed.code, 0, pushed.stderr);
      assert.equal(
        await headOf(gitDir, "main"),
        (await mustGit(["rev-parse", "HEAD"], c2.path)).trim(),
      );

      // The same key enabled on another project, read-only there: one key (same id), its
      // mode per repository.
      const joined = await api.DeployKeys.create("fleet/platform/other", "mirror", rw.publicKey);
      assert.deepEqual([joined.id, joined.can_push], [rwKey.id, false]);
      const c3 = await clone(env.dir.path, otherUrl, [], rwEnv);
      assert.equal(c3.code, 0, c3.stderr);
      assert.match((await commitAndPush(c3.path, "main", [], rwEnv)).stderr, /read-only/);
      assert.equal((await commitAndPush(c2.path, "main", [], rwEnv)).code, 0, "still rw on apps");

      // The listing and the single key; deleting takes the repository from the key, and the
      // last deletion locks the key out of sshd.
      const listed = await api.DeployKeys.all({ projectId: "fleet/platform/apps" });
      assert.deepEqual(listed.map((k) => [k.title, k.can_push]), [
        ["flux-system-main", false],
        ["image-automation", true],
      ]);
      assert.equal(
        (await api.DeployKeys.show("fleet/platform/apps", rwKey.id)).title,
        "image-automation",
      );
      await api.DeployKeys.remove("fleet/platform/apps", rwKey.id);
      assert.deepEqual(await gitlabError(api.DeployKeys.show("fleet/platform/apps", rwKey.id)), {
        status: 404,
        text: "404 Not found",
      });
      assert.deepEqual(await gitlabError(api.DeployKeys.remove("fleet/platform/apps", rwKey.id)), {
        status: 404,
        text: "404 Deploy key Not Found",
      });
      assert.match(
        (await clone(env.dir.path, sshUrl, [], rwEnv)).stderr,
        /this key has no access to this repository/,
      );
      assert.equal((await clone(env.dir.path, otherUrl, [], rwEnv)).code, 0, "still on other");
      await api.DeployKeys.remove("fleet/platform/other", rwKey.id);
      const lockedOut = await clone(env.dir.path, otherUrl, [], rwEnv);
      assert.notEqual(lockedOut.code, 0);
      assert.match(lockedOut.stderr, /Permission denied \(publickey\)/);
      assert.equal(
        (await clone(env.dir.path, sshUrl, [], roEnv)).code,
        0,
        "the other key still works",
      );
      // The same key material under another comment is a different key whose fingerprint is
      // taken while the first is registered.
      const recommented = ro.publicKey.replace(/\S+$/, "someone-else");
      assert.deepEqual(
        await gitlabError(api.DeployKeys.create("fleet/platform/apps", "again", recommented)),
        {
          status: 400,
          text: JSON.stringify({ "deploy_key.fingerprint_sha256": ["has already been taken"] }),
        },
      );
    }, { sshd: true });
  },
});

Deno.test("deploy tokens: created with read_repository, the token shown once, clone over HTTPS with its user name, push refused, deleted token refused", async () => {
  await withEnv(async (env) => {
    const api = env.api(ALICE);
    const fleet = await api.Groups.show("fleet");
    const apps = await api.Projects.create({
      name: "apps",
      namespaceId: fleet.id,
      initializeWithReadme: true,
    }) as Project;
    const other = await api.Projects.create({
      name: "other",
      namespaceId: fleet.id,
      initializeWithReadme: true,
    }) as Project;
    // As go-git-providers creates it (CreateToken: name, scopes [read_repository]).
    const created = await api.DeployTokens.create("flux-system-main", ["read_repository"], {
      projectId: "fleet/apps",
    });
    assert.equal(created.username, `gitlab+deploy-token-${created.id}`);
    assert.match(created.token, /^gldt-[A-Za-z0-9_-]{20}$/);
    assert.deepEqual(created.scopes, ["read_repository"]);
    const listed = await api.DeployTokens.all({ projectId: "fleet/apps" });
    assert.deepEqual(listed.map((t) => [t.name, t.username, t.revoked, t.expired]), [
      ["flux-system-main", created.username, false, false],
    ]);
    assert.ok(!JSON.stringify(listed).includes(created.token), "listed without its value");
    assert.equal(
      (await api.DeployTokens.show(created.id, { projectId: "fleet/apps" })).token,
      undefined,
    );

    const auth = basic(created.username, created.token);
    const c = await clone(env.dir.path, apps.http_url_to_repo as string, auth);
    assert.equal(c.code, 0, c.stderr);
    assert.equal(await Deno.readTextFile(join(c.path, "README.md")), "# apps\n");
    const push = await commitAndPush(c.path, "main", auth);
    assert.notEqual(push.code, 0);
    assert.match(push.stderr, /403/);
    // Only with its own user name, and only for its project.
    assert.notEqual(
      (await clone(env.dir.path, apps.http_url_to_repo as string, basic("oauth2", created.token)))
        .code,
      0,
    );
    assert.notEqual((await clone(env.dir.path, other.http_url_to_repo as string, auth)).code, 0);
    // A custom user name.
    const named = await api.DeployTokens.create("ci", ["read_repository"], {
      projectId: "fleet/apps",
      username: "ci-reader",
    });
    assert.equal(named.username, "ci-reader");
    assert.equal(
      (await clone(env.dir.path, apps.http_url_to_repo as string, basic("ci-reader", named.token)))
        .code,
      0,
    );
    // Bad input in GitLab's words.
    assert.deepEqual(
      await gitlabError(
        api.DeployTokens.create("x", ["write_repository" as "read_repository"], {
          projectId: "fleet/apps",
        }),
      ),
      {
        status: 400,
        text: "scopes does not have a valid value",
      },
    );
    // Deleted: the token no longer clones.
    await api.DeployTokens.remove(created.id, { projectId: "fleet/apps" });
    assert.deepEqual(
      await gitlabError(api.DeployTokens.remove(created.id, { projectId: "fleet/apps" })),
      {
        status: 404,
        text: "404 Not found",
      },
    );
    assert.notEqual((await clone(env.dir.path, apps.http_url_to_repo as string, auth)).code, 0);
    assert.deepEqual(env.gl.project("fleet/apps")!.deployTokens.map((t) => t.name), ["ci"]);
  });
});

Deno.test("sharing with a group: the access level seen in shared_with_groups, members of the group get it, 409 twice, 400 bad level, unshare", async () => {
  await withEnv(async (env) => {
    const api = env.api(ALICE);
    const fleet = await api.Groups.show("fleet");
    const apps = await api.Projects.create({
      name: "apps",
      namespaceId: fleet.id,
      initializeWithReadme: true,
    }) as Project;
    // dave (developer in ops) neither sees nor clones the private project yet.
    assert.equal((await gitlabError(env.api(DAVE).Projects.show("fleet/apps"))).status, 404);
    const url = apps.http_url_to_repo as string;
    assert.notEqual((await clone(env.dir.path, url, basic("dave", DAVE))).code, 0);

    // Only with a group one belongs to (Projects::GroupLinks::CreateService: read the group
    // through membership): "hidden" is carol's, alice is not in it.
    const hidden = await env.api(CAROL).Groups.show("hidden");
    assert.deepEqual(await gitlabError(api.Projects.share("fleet/apps", hidden.id, 20)), {
      status: 404,
      text: "404 Group Not Found",
    });
    const vault = await api.Groups.show("vault");
    // gitbeaker types the answer as void; GitLab sends the link (Entities::ProjectGroupLink).
    const link = await api.Projects.share("fleet/apps", vault.id, 30) as unknown as Project;
    assert.deepEqual([link.group_id, link.group_access, link.project_id], [vault.id, 30, apps.id]);
    const seen = await api.Projects.show("fleet/apps") as Project;
    assert.deepEqual(seen.shared_with_groups, [{
      group_id: vault.id,
      group_name: "vault",
      group_full_path: "vault",
      group_access_level: 30,
      expires_at: null,
    }]);
    assert.deepEqual(await gitlabError(api.Projects.share("fleet/apps", vault.id, 40)), {
      status: 409,
      text: "Group already shared with this group",
    });
    assert.deepEqual(await gitlabError(api.Projects.share("fleet/apps", fleet.id, 40)), {
      status: 409,
      text: "Project cannot be shared with the group it is in or one of its ancestors.",
    });
    assert.deepEqual(await gitlabError(api.Projects.share("fleet/apps", vault.id, 35 as 30)), {
      status: 400,
      text: "group_access does not have a valid value",
    });
    const ops = await api.Groups.show("ops");
    assert.equal(
      (await gitlabError(env.api(BOB).Projects.share("fleet/apps", ops.id, 20))).status,
      403,
    );

    // Shared with ops at reporter level: dave (developer in ops) gets the lower of the two,
    // reporter: he sees and clones the project, but cannot push.
    await api.Projects.share("fleet/apps", ops.id, 20);
    assert.equal((await env.api(DAVE).Projects.show("fleet/apps") as Project).path, "apps");
    const daveId = (await env.api(DAVE).Users.showCurrentUser()).id;
    const dave = await api.ProjectMembers.show("fleet/apps", daveId, { includeInherited: true });
    assert.equal(dave.access_level, 20, "the lower of the share (20) and his role in ops (30)");
    const c = await clone(env.dir.path, url, basic("dave", DAVE));
    assert.equal(c.code, 0, c.stderr);
    const push = await commitAndPush(c.path, "main", basic("dave", DAVE));
    assert.notEqual(push.code, 0, "reporter level fetches only");
    assert.deepEqual(env.gl.project("fleet/apps")!.sharedWith, { vault: 30, ops: 20 });

    // Unshared: gone from the project, and dave is out again.
    await api.Projects.unshare("fleet/apps", ops.id);
    assert.deepEqual(await gitlabError(api.Projects.unshare("fleet/apps", ops.id)), {
      status: 404,
      text: "404 Group Link Not Found",
    });
    assert.deepEqual(env.gl.project("fleet/apps")!.sharedWith, { vault: 30 });
    assert.equal((await gitlabError(env.api(DAVE).Projects.show("fleet/apps"))).status, 404);
    assert.notEqual((await clone(env.dir.path, url, basic("dave", DAVE))).code, 0);
  });
});

Deno.test("the calls of flux bootstrap gitlab, as go-git-providers makes them through go-gitlab: lookups, create, deploy key, team share, deploy token", async () => {
  await withEnv(async (env) => {
    // go-gitlab: PRIVATE-TOKEN, url.PathEscape'd ids, JSON bodies of pointer fields.
    const call = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${env.gl.url}/api/v4/${path}`, {
        method,
        headers: {
          "private-token": ALICE,
          ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, json: text === "" ? null : JSON.parse(text) };
    };
    const key = await generateKey(env.dir.path, "flux");
    // OrgRepositoriesClient.Get: GetGroupProject lower-cases the group part.
    const project = "fleet%2Fplatform%2Ffleet-infra";
    assert.deepEqual(await call("GET", `projects/${project}`), {
      status: 404,
      json: { message: "404 Project Not Found" },
    });
    // createProject: GetGroup(namespace name), then CreateProject with its defaults.
    const group = await call("GET", "groups/fleet%2Fplatform");
    const created = await call("POST", "projects", {
      name: "fleet-infra",
      default_branch: "main",
      description: "",
      visibility: "private",
      namespace_id: group.json.id,
    });
    assert.equal(created.status, 201);
    assert.equal(created.json.path_with_namespace, "fleet/platform/fleet-infra");
    // DeployKeyClient.Reconcile: list (paged by X-Next-Page), then create.
    assert.deepEqual((await call("GET", `projects/${project}/deploy_keys`)).json, []);
    const dk = await call("POST", `projects/${project}/deploy_keys`, {
      title: "flux-system-main-flux-system-./clusters/my-cluster",
      key: key.publicKey,
      can_push: false,
    });
    assert.deepEqual([dk.status, dk.json.can_push], [201, false]);
    // TeamAccessClient.Create: GetGroup(team), then ShareProject(group_id, group_access).
    const team = await call("GET", "groups/vault");
    const share = await call("POST", `projects/${project}/share`, {
      group_id: team.json.id,
      group_access: 40,
    });
    assert.equal(share.status, 201);
    // TeamAccessClient.Get: the project's shared_with_groups by group id.
    const seen = await call("GET", `projects/${created.json.id}`);
    assert.deepEqual(
      seen.json.shared_with_groups.map((g: { group_id: number; group_access_level: number }) => [
        g.group_id,
        g.group_access_level,
      ]),
      [[team.json.id, 40]],
    );
    // DeployTokenClient.Reconcile (--deploy-token-auth): list, then CreateToken.
    const dt = await call("POST", `projects/${project}/deploy_tokens`, {
      name: "flux-system-main-flux-system-./clusters/my-cluster",
      scopes: ["read_repository"],
    });
    assert.equal(dt.status, 201);
    const listed = await call("GET", `projects/${project}/deploy_tokens`);
    assert.deepEqual(
      listed.json.map((t: { name: string; expired: boolean; revoked: boolean }) => [
        t.name,
        t.expired,
        t.revoked,
      ]),
      [[dt.json.name, false, false]],
    );
    // UpdateProject (--reconcile): PUT by numeric id with name, description, visibility.
    const updated = await call("PUT", `projects/${created.json.id}`, {
      name: "fleet-infra",
      description: "fleet",
      visibility: "private",
    });
    assert.deepEqual([updated.status, updated.json.description], [200, "fleet"]);
    // The secret flux writes then clones with the deploy token's user name.
    const c = await clone(
      env.dir.path,
      created.json.http_url_to_repo,
      basic(dt.json.username, dt.json.token),
    );
    assert.equal(c.code, 0, c.stderr);
  });
});

Deno.test("paging across 3 pages of deploy keys: gitbeaker follows Link rel=next; X-Page, X-Next-Page, X-Total, X-Total-Pages as GitLab sends them", async () => {
  await withEnv(async (env) => {
    const api = env.api(ALICE);
    const fleet = await api.Groups.show("fleet");
    await api.Projects.create({ name: "apps", namespaceId: fleet.id });
    const titles: string[] = [];
    for (let i = 1; i <= 5; i++) {
      const key = await generateKey(env.dir.path, `k${i}`);
      await api.DeployKeys.create("fleet/apps", `key-${i}`, key.publicKey);
      titles.push(`key-${i}`);
    }
    const before = env.gl.requests.length;
    const all = await api.DeployKeys.all({
      projectId: "fleet/apps",
      perPage: 2,
      showExpanded: true,
    });
    assert.deepEqual(all.data.map((k) => k.title), titles);
    assert.deepEqual(all.paginationInfo, {
      total: 5,
      next: null,
      current: 3,
      previous: 2,
      perPage: 2,
      totalPages: 3,
    });
    assert.deepEqual(
      env.gl.requests.slice(before).map((r) => `${r.method} ${r.path} ${r.status}`),
      [
        "GET /api/v4/projects/fleet%2Fapps/deploy_keys?per_page=2 200",
        "GET /api/v4/projects/fleet%2Fapps/deploy_keys?page=2&per_page=2 200",
        "GET /api/v4/projects/fleet%2Fapps/deploy_keys?page=3&per_page=2 200",
      ],
    );

    // As go-gitlab pages (X-Next-Page until it is empty), reading the headers themselves.
    const seen: string[] = [];
    let page = "1";
    const headers: Record<string, string | null>[] = [];
    while (page !== "") {
      const res = await fetch(
        `${env.gl.url}/api/v4/projects/fleet%2Fapps/deploy_keys?per_page=2&page=${page}`,
        { headers: { "private-token": ALICE } },
      );
      seen.push(...(await res.json() as { title: string }[]).map((k) => k.title));
      headers.push(Object.fromEntries(
        ["x-page", "x-next-page", "x-prev-page", "x-per-page", "x-total", "x-total-pages"]
          .map((h) => [h, res.headers.get(h)]),
      ));
      if (page === "2") {
        const base = `${env.gl.url}/api/v4/projects/fleet%2Fapps/deploy_keys`;
        assert.equal(
          res.headers.get("link"),
          `<${base}?page=1&per_page=2>; rel="prev", <${base}?page=3&per_page=2>; rel="next", ` +
            `<${base}?page=1&per_page=2>; rel="first", <${base}?page=3&per_page=2>; rel="last"`,
        );
      }
      page = res.headers.get("x-next-page") ?? "";
    }
    assert.deepEqual(seen, titles);
    assert.deepEqual(headers.map((h) => [h["x-page"], h["x-next-page"], h["x-prev-page"]]), [
      ["1", "2", ""],
      ["2", "3", "1"],
      ["3", "", "2"],
    ]);
    assert.ok(
      headers.every((h) =>
        h["x-total"] === "5" && h["x-total-pages"] === "3" && h["x-per-page"] === "2"
      ),
    );
    // Past the end: an empty page; per_page is capped at 100.
    const past = await fetch(`${env.gl.url}/api/v4/projects/fleet%2Fapps/deploy_keys?page=9`, {
      headers: { "private-token": ALICE },
    });
    assert.deepEqual(await past.json(), []);
    const capped = await fetch(
      `${env.gl.url}/api/v4/projects/fleet%2Fapps/deploy_keys?per_page=1000`,
      {
        headers: { "private-token": ALICE },
      },
    );
    await capped.body?.cancel();
    assert.equal(capped.headers.get("x-per-page"), "100");
  });
});

Deno.test("429 as GitLab throttles: Retry-After and RateLimit-Reset; gitbeaker retries injected 429s and ends a throttled token in its retry error", async () => {
  await withEnv(async (env) => {
    // Injected: what the answer looks like.
    env.gl.failNext(429, 1, { retryAfterSeconds: 7 });
    const t0 = Math.floor(Date.now() / 1000);
    const res = await fetch(`${env.gl.url}/api/v4/user`, { headers: { "private-token": ALICE } });
    assert.equal(res.status, 429);
    assert.equal(await res.text(), "Retry later\n");
    assert.equal(res.headers.get("retry-after"), "7");
    assert.equal(res.headers.get("ratelimit-name"), "throttle_authenticated_api");
    assert.equal(res.headers.get("ratelimit-remaining"), "0");
    const reset = Number(res.headers.get("ratelimit-reset"));
    assert.ok(reset >= t0 + 7 && reset <= Math.floor(Date.now() / 1000) + 7, String(reset));
    assert.equal(res.headers.get("ratelimit-resettime"), new Date(reset * 1000).toUTCString());

    // gitbeaker retries 429 by itself (@gitbeaker/rest defaultRequestHandler: up to 10 tries).
    env.gl.failNext(429, 2);
    const before = env.gl.requests.length;
    assert.equal((await env.api(ALICE).Users.showCurrentUser()).username, "alice");
    assert.deepEqual(env.gl.requests.slice(before).map((r) => r.status), [429, 429, 200]);
  });

  // Enforced per token: 3 requests an hour; the 4th and its retries are throttled.
  await withEnv(async (env) => {
    const api = env.api(ALICE);
    for (let i = 0; i < 3; i++) await api.Users.showCurrentUser();
    const before = env.gl.requests.length;
    await assert.rejects(api.Users.showCurrentUser(), (e: unknown) => {
      assert.ok(e instanceof GitbeakerRetryError, String(e));
      assert.match(
        e.message,
        /after 10 retries, last status code: 429\. Check the applicable rate limits/,
      );
      return true;
    });
    const throttledCalls = env.gl.requests.slice(before);
    assert.equal(throttledCalls.length, 10);
    assert.ok(throttledCalls.every((r) => r.status === 429 && r.token === "alice-api"));
    const raw = await fetch(`${env.gl.url}/api/v4/user`, { headers: { "private-token": ALICE } });
    await raw.body?.cancel();
    assert.equal(raw.headers.get("ratelimit-limit"), "3");
    assert.ok(Number(raw.headers.get("retry-after")) > 3000, "until the hour is over");
    // Another token has its own budget.
    assert.equal((await env.api(BOB).Users.showCurrentUser()).username, "bob");
  }, { extra: { rateLimit: { limit: 3, periodSeconds: 3600 } } });
});

Deno.test("requests are counted per token, reading apart from mutating; records name tokens, never hold them", async () => {
  await withEnv(async (env) => {
    const alice = env.api(ALICE);
    const fleet = await alice.Groups.show("fleet"); // read
    await alice.Projects.create({ name: "apps", namespaceId: fleet.id }); // write
    await alice.Projects.show("fleet/apps"); // read
    await alice.DeployTokens.create("t", ["read_repository"], { projectId: "fleet/apps" }); // write
    await env.api(BOB).Projects.show("fleet/apps"); // read
    await gitlabError(env.api(BOB).Projects.edit("fleet/apps", { description: "x" })); // write, 403
    await env.api(ALICE_READ).Projects.show("fleet/apps"); // read
    await gitlabError(env.api("canary-not-a-token").Users.showCurrentUser()); // no token
    assert.deepEqual(env.gl.requestCounts(), {
      "alice-api": { reading: 2, mutating: 2 },
      "bob-api": { reading: 1, mutating: 1 },
      "alice-read-api": { reading: 1, mutating: 0 },
    });
    assert.deepEqual(env.gl.mutatingRequests(), [
      { method: "POST", path: "/api/v4/projects", status: 201 },
      { method: "POST", path: "/api/v4/projects/fleet%2Fapps/deploy_tokens", status: 201 },
      { method: "PUT", path: "/api/v4/projects/fleet%2Fapps", status: 403 },
    ]);
    assert.deepEqual(env.gl.requests.at(-1), {
      method: "GET",
      path: "/api/v4/user",
      status: 401,
      user: null,
      token: null,
      mutating: false,
    });
  });
});
