/**
 * Plain bare repositories whose HEAD says something else than the configured branch (issue 14):
 * HEAD naming a branch that does not exist (an empty repository first pushed to `master` while
 * HEAD says `main`), naming another branch, or detached. The configured branch is fetched by its
 * name whatever HEAD says, and a branch that does not exist starts where `git clone` would check
 * out — with the built-in transport over HTTP (git http-backend) and over SSH (ssh2 adapter), and
 * with `transport: system` (git + OpenSSH), against the same bare repositories.
 */
import assert from "node:assert/strict";
import { startGitServer } from "../../sandbox/git/http_server.ts";
import { openUp } from "../../sandbox/ssh/repos.ts";
import { type SshdServer, startSshd } from "../../sandbox/ssh/sshd.ts";
import { makeGitHttp } from "../../lib/git/transports/isomorphic/http.ts";
import { sshGitTransport } from "../../lib/git/transports/isomorphic/ssh.ts";
import {
  checkoutRepo,
  commitAndPush,
  type GitRemote,
  httpsRemote,
} from "../../lib/git/transports/isomorphic/mod.ts";
import { type FileChange, type PushResult, type RepoCheckout } from "../../lib/git/types.ts";
import { readRepoFiles } from "../../lib/git/checkout.ts";
import { systemCheckoutRepo, systemCommitAndPush } from "../../lib/git/transports/system/mod.ts";
import { generateKeyPair } from "../../lib/keys/generate.ts";
import { commitsOf, pushTree, refCommit, setHead } from "../helpers/repo_tree.ts";
import {
  CAN_RUN_SSHD,
  type FleetEnv,
  manifestYaml,
  tokenGit,
  withFleetEnv,
  withSshd,
} from "../helpers/harness.ts";

const TOKEN = "canary-head-token-0b5d";
const AUTHOR = { name: "fluxfleet-test", email: "test@example.com" };
const FAST = { attempts: 1, initialDelayMs: 1, maxDelayMs: 1 };

/** One way of talking to a repository: checkout and commit-and-push, as lib/apply uses them. */
interface Transport {
  name: string;
  checkout(repo: string, branch: string, dir: string): Promise<RepoCheckout>;
  push(repo: string, co: RepoCheckout, changes: FileChange[]): Promise<PushResult>;
}

interface Servers {
  /** Folder of the bare repositories, served by both servers. */
  root: string;
  transports: Transport[];
  close(): Promise<void>;
}

async function startServers(): Promise<Servers> {
  const sshd: SshdServer | undefined = CAN_RUN_SSHD ? await startSshd() : undefined;
  const git = await startGitServer({ users: { git: TOKEN }, root: sshd?.root });
  const http = makeGitHttp({ allowInsecureHttp: true, timeoutMs: 20_000 });
  const httpRemote = (repo: string) =>
    httpsRemote({ url: git.repoUrl(repo), username: "git", password: TOKEN }, http);
  const transports: Transport[] = [{
    name: "built-in over HTTP",
    checkout: (repo, branch, dir) => checkoutRepo(httpRemote(repo), branch, dir, FAST),
    push: (repo, co, changes) =>
      commitAndPush(co, httpRemote(repo), changes, "Add", AUTHOR, 3, FAST),
  }];
  if (sshd) {
    const key = await generateKeyPair({ algorithm: "ed25519" }, "head");
    await sshd.authorize(key.publicKey);
    const access = (repo: string) => ({
      url: sshd.hostedUrl(repo),
      privateKey: key.privateKey,
      knownHosts: sshd.knownHosts(),
      timeoutMs: 20_000,
    });
    /** The ssh2 adapter serves one repository and one operation at a time. */
    const overSsh = async <T>(repo: string, fn: (r: GitRemote) => Promise<T>): Promise<T> => {
      const t = sshGitTransport(access(repo));
      try {
        return await fn({ displayUrl: access(repo).url, url: t.url, headers: {}, http: t.http });
      } finally {
        await t.close();
      }
    };
    transports.push({
      name: "built-in over SSH",
      checkout: (repo, branch, dir) => overSsh(repo, (r) => checkoutRepo(r, branch, dir, FAST)),
      push: (repo, co, changes) =>
        overSsh(repo, (r) => commitAndPush(co, r, changes, "Add", AUTHOR, 3, FAST)),
    }, {
      name: "transport system",
      checkout: (repo, branch, dir) => systemCheckoutRepo(access(repo), branch, dir, FAST),
      push: (repo, co, changes) =>
        systemCommitAndPush(co, access(repo), changes, "Add", AUTHOR, 3, FAST),
    });
  }
  return {
    root: git.root,
    transports,
    close: async () => {
      http.close();
      await git.close();
      await sshd?.stop();
    },
  };
}

let repoCount = 0;

/**
 * A new bare repository (HEAD → refs/heads/main, which is never created) with branches master
 * and other, each holding which.yaml; `head` then points HEAD elsewhere.
 */
async function repoWith(
  s: Servers,
  head?: (r: { master: string; other: string; bare: string }) => Promise<void>,
): Promise<{ name: string; bare: string; master: string; other: string }> {
  const name = `r${++repoCount}`;
  const bare = `${s.root}/${name}.git`;
  const init = await new Deno.Command("git", {
    args: ["init", "--bare", "--quiet", "--initial-branch=main", bare],
  }).output();
  assert.equal(init.code, 0);
  await new Deno.Command("git", {
    args: ["--git-dir", bare, "config", "http.receivepack", "true"],
  }).output();
  const master = await pushTree(bare, "refs/heads/master", { "which.yaml": "master\n" });
  const other = await pushTree(bare, "refs/heads/other", { "which.yaml": "other\n" });
  await head?.({ master, other, bare });
  await openUp(bare);
  return { name, bare, master, other };
}

async function withWork(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "fluxfleet-head-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("the configured branch is fetched by its name whatever the remote's HEAD says", async (t) => {
  const s = await startServers();
  try {
    const heads: [string, (r: { master: string; other: string; bare: string }) => Promise<void>][] =
      [
        ["HEAD names a branch that does not exist", async () => {}],
        ["HEAD names another branch", (r) => setHead(r.bare, { ref: "refs/heads/other" })],
        ["HEAD is detached", (r) => setHead(r.bare, { commit: r.other })],
      ];
    for (const [what, head] of heads) {
      for (const tr of s.transports) {
        await t.step(`${what}: ${tr.name}`, () =>
          withWork(async (work) => {
            const r = await repoWith(s, head);
            const co = await tr.checkout(r.name, "master", `${work}/clone`);
            assert.equal(co.branchExists, true);
            assert.equal(co.head, r.master);
            assert.deepEqual(await readRepoFiles(co, ["which.yaml"]), { "which.yaml": "master\n" });
            // A push racing ours: the new head is fetched (by name too) and ours goes on top.
            const raced = await pushTree(r.bare, "refs/heads/master", {
              "which.yaml": "master\n",
              "raced.yaml": "raced\n",
            }, r.master);
            await openUp(r.bare);
            const pushed = await tr.push(r.name, co, [{ path: "ours.yaml", content: "ours\n" }]);
            assert.equal(pushed.pushed, true);
            assert.equal(pushed.attempts, 2);
            const log = await commitsOf(r.bare, "refs/heads/master");
            assert.deepEqual(log, [pushed.head, raced, r.master]);
            assert.equal(await refCommit(r.bare, "refs/heads/other"), r.other);
          }));
      }
    }
  } finally {
    await s.close();
  }
});

Deno.test("a branch that does not exist starts where git clone would check out", async (t) => {
  const s = await startServers();
  try {
    for (const tr of s.transports) {
      await t.step(
        `HEAD names an existing branch: from it, ${tr.name}`,
        () =>
          withWork(async (work) => {
            const r = await repoWith(s, (r) => setHead(r.bare, { ref: "refs/heads/other" }));
            const co = await tr.checkout(r.name, "prod", `${work}/clone`);
            assert.equal(co.branchExists, false);
            assert.equal(co.head, r.other);
            assert.deepEqual(await readRepoFiles(co, ["which.yaml"]), { "which.yaml": "other\n" });
            const pushed = await tr.push(r.name, co, [{ path: "ours.yaml", content: "ours\n" }]);
            assert.deepEqual(await commitsOf(r.bare, "refs/heads/prod"), [pushed.head, r.other]);
            assert.equal(co.startsFrom, "other");
          }),
      );
      await t.step(
        `HEAD detached at a branch's commit: from that branch, ${tr.name}`,
        () =>
          withWork(async (work) => {
            const r = await repoWith(s, (r) => setHead(r.bare, { commit: r.other }));
            const co = await tr.checkout(r.name, "prod", `${work}/clone`);
            assert.equal(co.head, r.other);
            assert.equal(co.startsFrom, "other");
          }),
      );
      await t.step(
        `HEAD detached at a commit of no branch: from that commit, ${tr.name}`,
        () =>
          withWork(async (work) => {
            let loose = "";
            const r = await repoWith(s, async (r) => {
              loose = await pushTree(r.bare, "refs/heads/tmp", { "which.yaml": "loose\n" });
              await setHead(r.bare, { commit: loose });
              const del = await new Deno.Command("git", {
                args: ["--git-dir", r.bare, "update-ref", "-d", "refs/heads/tmp"],
              }).output();
              assert.equal(del.code, 0);
            });
            const co = await tr.checkout(r.name, "prod", `${work}/clone`);
            assert.equal(co.head, loose);
            assert.deepEqual(await readRepoFiles(co, ["which.yaml"]), { "which.yaml": "loose\n" });
            assert.equal(co.startsFrom, `the remote's detached HEAD (${loose.slice(0, 7)})`);
          }),
      );
      await t.step(
        `HEAD names a branch that does not exist: without history, ${tr.name}`,
        () =>
          withWork(async (work) => {
            const r = await repoWith(s);
            const co = await tr.checkout(r.name, "prod", `${work}/clone`);
            assert.equal(co.branchExists, false);
            assert.equal(co.head, null);
            assert.deepEqual(await readRepoFiles(co, ["which.yaml"]), { "which.yaml": null });
            const pushed = await tr.push(r.name, co, [{ path: "ours.yaml", content: "ours\n" }]);
            assert.deepEqual(await commitsOf(r.bare, "refs/heads/prod"), [pushed.head]);
            assert.equal(await refCommit(r.bare, "refs/heads/master"), r.master);
            assert.equal(co.startsFrom, null);
          }),
      );
    }
  } finally {
    await s.close();
  }
});

/** The case through the CLI: apply to master of an empty repository whose HEAD says main, then plan. */
async function secondRunConverges(env: FleetEnv, bare: string, gitLines: (b: string) => string[]) {
  const write = (branch: string) =>
    Deno.writeTextFile(
      env.manifest,
      manifestYaml({ git: gitLines(branch), clusters: [{ name: "c0" }] }),
    );
  await write("master");
  const apply = await env.cli(["apply", "--auto-approve", env.manifest]);
  assert.equal(apply.code, 0, apply.stdout + apply.stderr);
  assert.ok(await refCommit(bare, "refs/heads/master"));
  assert.equal(await refCommit(bare, "refs/heads/main"), null);
  const plan = await env.cli(["plan", "--detailed-exitcode", env.manifest]);
  assert.equal(plan.code, 0, plan.stdout + plan.stderr);
  assert.match(plan.stdout, /No changes|no changes/);
  // A new branch there starts without history, and the plan says so.
  await write("prod");
  const fresh = await env.cli(["plan", env.manifest]);
  assert.equal(fresh.code, 0, fresh.stdout + fresh.stderr);
  assert.ok(
    fresh.stdout.includes(
      "> branch prod does not exist, and the remote's HEAD names no existing branch: apply starts it without history",
    ),
    fresh.stdout,
  );
}

Deno.test("a second run on a plain git server whose HEAD names a missing branch: built-in over HTTP", async () => {
  await withFleetEnv({
    prefix: "fluxfleet-head-e2e-",
    git: { users: { git: TOKEN } },
    repos: ["r1"],
    cliEnv: { GIT_PASSWORD: TOKEN },
  }, async (env) => {
    await secondRunConverges(env, `${env.git.root}/r1.git`, (branch) => [
      ...tokenGit(env.git.repoUrl("r1")),
      `branch: ${branch}`,
    ]);
    // And one that does exist is where a new branch starts from.
    await Deno.writeTextFile(
      env.manifest,
      manifestYaml({
        git: [...tokenGit(env.git.repoUrl("r1")), "branch: staging"],
        clusters: [{ name: "c0" }],
      }),
    );
    await setHead(`${env.git.root}/r1.git`, { ref: "refs/heads/master" });
    const plan = await env.cli(["plan", env.manifest]);
    assert.ok(
      plan.stdout.includes("> branch staging does not exist yet: apply creates it from master"),
      plan.stdout,
    );
  });
});

Deno.test({
  name:
    "a second run on a plain git server whose HEAD names a missing branch: over SSH, both transports",
  ignore: !CAN_RUN_SSHD,
  async fn() {
    await withSshd(async (sshd) => {
      const key = await generateKeyPair({ algorithm: "ed25519" }, "head-e2e");
      await sshd.authorize(key.publicKey);
      for (const transport of ["builtin", "system"]) {
        await withFleetEnv(
          { prefix: "fluxfleet-head-ssh-", git: { root: sshd.root } },
          async (env) => {
            const name = `r-${transport}`;
            await sshd.createRepo(name);
            const keyFile = `${env.dir}/id_head`;
            await Deno.writeTextFile(keyFile, key.privateKey, { mode: 0o600 });
            await secondRunConverges(env, `${sshd.root}/${name}.git`, (branch) => [
              `url: ${sshd.hostedUrl(name)}`,
              `transport: ${transport}`,
              `branch: ${branch}`,
              `author: { name: ${AUTHOR.name}, email: ${AUTHOR.email} }`,
              `auth: { type: ssh, privateKey: { file: ${keyFile} } }`,
            ]);
          },
        );
      }
    });
  },
});
