/** lib/git against the real git http-backend server: empty repos, new branches, wrong tokens, races. */
import assert from "node:assert/strict";
import { startGitServer } from "../../sandbox/git/http_server.ts";
import {
  checkoutRepo,
  commitAndPush,
  httpsRemote,
} from "../../lib/git/transports/isomorphic/mod.ts";
import { readRepoFiles } from "../../lib/git/checkout.ts";
import { makeGitHttp } from "../../lib/git/transports/isomorphic/http.ts";

const TOKEN = "canary-git-token-7f3a9c";
const author = { name: "fluxfleet", email: "fluxfleet@example.com" };

async function withServer(
  fn: (s: Awaited<ReturnType<typeof startGitServer>>, work: string) => Promise<void>,
) {
  const server = await startGitServer({ users: { git: TOKEN } });
  const work = await Deno.makeTempDir({ prefix: "fluxfleet-test-" });
  try {
    await fn(server, work);
  } finally {
    await server.close();
    await Deno.remove(work, { recursive: true });
  }
}

const http = () => makeGitHttp({ allowInsecureHttp: true, timeoutMs: 20_000 });

async function grepTree(dir: string, needle: string): Promise<string[]> {
  const hits: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) hits.push(...await grepTree(p, needle));
    else if (e.isFile) {
      const bytes = await Deno.readFile(p);
      if (new TextDecoder("latin1").decode(bytes).includes(needle)) hits.push(p);
    }
  }
  return hits;
}

Deno.test("empty repository without any branch: files are committed to a new main branch", async () => {
  await withServer(async (server, work) => {
    await server.createRepo("fleet");
    const h = http();
    try {
      const access = { url: server.repoUrl("fleet"), username: "git", password: TOKEN };
      const co = await checkoutRepo(httpsRemote(access, h), "main", `${work}/c`);
      assert.equal(co.branchExists, false);
      assert.equal(co.head, null);
      assert.deepEqual(await readRepoFiles(co, ["a/b.yaml"]), { "a/b.yaml": null });
      const r = await commitAndPush(
        co,
        httpsRemote(access, h),
        [{ path: "a/b.yaml", content: "x: 1\n" }],
        "Add",
        author,
      );
      assert.equal(r.pushed, true);
      assert.equal(await server.headSha("fleet", "main"), r.head);
      assert.equal(await server.readFile("fleet", "main", "a/b.yaml"), "x: 1\n");
      const [commit] = await server.log("fleet", "main");
      assert.match(commit.author, /fluxfleet/);
      // The canary token is nowhere in the clone: not in .git/config, not in objects.
      assert.deepEqual(await grepTree(`${work}/c`, TOKEN), []);
    } finally {
      h.close();
    }
  });
});

Deno.test("existing repository: other content is left untouched, unchanged files make no commit", async () => {
  await withServer(async (server, work) => {
    await server.createRepo("fleet", {
      files: { "apps/app.yaml": "kind: App\n", "README.md": "hi\n" },
    });
    const h = http();
    try {
      const access = { url: server.repoUrl("fleet"), username: "git", password: TOKEN };
      const co = await checkoutRepo(httpsRemote(access, h), "main", `${work}/c`);
      assert.equal(co.branchExists, true);
      const changes = [{ path: "clusters/dev/flux-system/x.yaml", content: "x\n" }];
      await commitAndPush(co, httpsRemote(access, h), changes, "Add", author);
      assert.equal(await server.readFile("fleet", "main", "apps/app.yaml"), "kind: App\n");
      assert.equal(await server.readFile("fleet", "main", "README.md"), "hi\n");
      const pushes = server.pushCount();
      const again = await commitAndPush(co, httpsRemote(access, h), changes, "Add", author);
      assert.equal(again.pushed, false);
      assert.equal(server.pushCount(), pushes);
      assert.equal((await server.log("fleet", "main")).length, 2);
    } finally {
      h.close();
    }
  });
});

Deno.test("a branch that does not exist yet starts from the default branch and keeps its history", async () => {
  await withServer(async (server, work) => {
    await server.createRepo("fleet", { files: { "README.md": "hi\n" } });
    const h = http();
    try {
      const access = { url: server.repoUrl("fleet"), username: "git", password: TOKEN };
      const co = await checkoutRepo(httpsRemote(access, h), "staging", `${work}/c`);
      assert.equal(co.branchExists, false);
      await commitAndPush(
        co,
        httpsRemote(access, h),
        [{ path: "f.yaml", content: "f\n" }],
        "Add",
        author,
      );
      assert.equal(await server.readFile("fleet", "staging", "README.md"), "hi\n");
      assert.equal(await server.readFile("fleet", "staging", "f.yaml"), "f\n");
      assert.equal(await server.readFile("fleet", "main", "f.yaml"), null);
      assert.equal((await server.log("fleet", "staging")).length, 2);
    } finally {
      h.close();
    }
  });
});

Deno.test("wrong token: a 401 explained in words, without the token", async () => {
  await withServer(async (server, work) => {
    await server.createRepo("fleet");
    const h = http();
    try {
      const wrong = "wrong-canary-token-123";
      const access = { url: server.repoUrl("fleet"), username: "git", password: wrong };
      const err = await checkoutRepo(httpsRemote(access, h), "main", `${work}/c`).then(
        () => undefined,
        (e) => e,
      );
      assert.ok(err instanceof Error);
      assert.match(
        err.message,
        /rejected the credentials .* \(HTTP 401\): check git.auth.username and the token/,
      );
      assert.ok(!err.message.includes(wrong));
    } finally {
      h.close();
    }
  });
});

Deno.test("missing repository is a 404 in words", async () => {
  await withServer(async (server, work) => {
    const h = http();
    try {
      const access = { url: server.repoUrl("nope"), username: "git", password: TOKEN };
      await assert.rejects(
        checkoutRepo(httpsRemote(access, h), "main", `${work}/c`),
        /not found \(HTTP 404\)/,
      );
    } finally {
      h.close();
    }
  });
});

Deno.test("a push racing another push is retried on the new head and both changes survive", async () => {
  await withServer(async (server, work) => {
    await server.createRepo("fleet", { files: { "README.md": "hi\n" } });
    const h = http();
    try {
      const access = { url: server.repoUrl("fleet"), username: "git", password: TOKEN };
      const ours = await checkoutRepo(httpsRemote(access, h), "main", `${work}/ours`);
      const theirs = await checkoutRepo(httpsRemote(access, h), "main", `${work}/theirs`);
      await commitAndPush(
        theirs,
        httpsRemote(access, h),
        [{ path: "theirs.yaml", content: "t\n" }],
        "Theirs",
        author,
      );
      const r = await commitAndPush(
        ours,
        httpsRemote(access, h),
        [{ path: "ours.yaml", content: "o\n" }],
        "Ours",
        author,
      );
      assert.equal(r.attempts, 2);
      assert.equal(await server.readFile("fleet", "main", "theirs.yaml"), "t\n");
      assert.equal(await server.readFile("fleet", "main", "ours.yaml"), "o\n");
      const log = await server.log("fleet", "main");
      assert.deepEqual(log.map((c) => c.message.trim()), ["Ours", "Theirs", log[2].message.trim()]);
    } finally {
      h.close();
    }
  });
});

Deno.test("readRepoFiles without a work tree: files from the commit for clusters reading at once, missing paths null, a file where the folder belongs an error", async () => {
  await withServer(async (server, work) => {
    const components = "kind: Components\n";
    await server.createRepo("fleet", {
      files: {
        "clusters/a/flux-system/gotk-components.yaml": components,
        "clusters/a/flux-system/gotk-sync.yaml": "sync: a\n",
        "clusters/b/flux-system/gotk-components.yaml": components,
        "clusters/b/flux-system/gotk-sync.yaml": "sync: b\n",
        // A file where cluster d's flux-system folder would be.
        "clusters/d/flux-system": "not a folder\n",
      },
    });
    const h = http();
    try {
      const access = { url: server.repoUrl("fleet"), username: "git", password: TOKEN };
      const co = await checkoutRepo(httpsRemote(access, h), "main", `${work}/c`);
      assert.equal(co.worktree, false);
      // Nothing is written to disk for a plan: only .git exists.
      assert.deepEqual([...Deno.readDirSync(`${work}/c`)].map((e) => e.name), [".git"]);
      const files = (c: string) =>
        readRepoFiles(co, [
          `clusters/${c}/flux-system/gotk-components.yaml`,
          `clusters/${c}/flux-system/gotk-sync.yaml`,
        ]);
      // Clusters of one repository read at once, as a fleet plan does.
      const [a, b, c, d] = await Promise.allSettled(["a", "b", "c", "d"].map(files))
        .then((all) => all.map((r) => r.status === "fulfilled" ? r.value : r.reason));
      assert.deepEqual(a, {
        "clusters/a/flux-system/gotk-components.yaml": components,
        "clusters/a/flux-system/gotk-sync.yaml": "sync: a\n",
      });
      assert.deepEqual(b, {
        "clusters/b/flux-system/gotk-components.yaml": components,
        "clusters/b/flux-system/gotk-sync.yaml": "sync: b\n",
      });
      assert.deepEqual(Object.values(c), [null, null]);
      assert.ok(d instanceof Error);
      assert.equal(
        d.message,
        "clusters/d/flux-system is a file in the repository, where fluxfleet expects a folder",
      );
      // Writing needs the work tree: commitAndPush checks it out first.
      const r = await commitAndPush(
        co,
        httpsRemote(access, h),
        [{ path: "clusters/c/flux-system/gotk-sync.yaml", content: "sync: c\n" }],
        "Add c",
        author,
      );
      assert.equal(r.pushed, true);
      assert.equal(
        await server.readFile("fleet", "main", "clusters/a/flux-system/gotk-sync.yaml"),
        "sync: a\n",
      );
      assert.equal(
        await server.readFile("fleet", "main", "clusters/c/flux-system/gotk-sync.yaml"),
        "sync: c\n",
      );
    } finally {
      h.close();
    }
  });
});

Deno.test("readRepoFiles: objects in a pack and loose objects next to it (as system git leaves a small fetch) read alike", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fluxfleet-loose-" });
  const git = async (...args: string[]) => {
    const out = await new Deno.Command("git", {
      args: ["-C", dir, "-c", "user.name=t", "-c", "user.email=t@example.com", ...args],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    return new TextDecoder().decode(out.stdout).trim();
  };
  try {
    await git("init", "-q", "-b", "main");
    await Deno.mkdir(`${dir}/clusters/a/flux-system`, { recursive: true });
    await Deno.writeTextFile(`${dir}/clusters/a/flux-system/gotk-sync.yaml`, "sync: a\n");
    await git("add", "-A");
    await git("commit", "-q", "-m", "a");
    // The first commit's objects go into a pack; the second commit's stay loose.
    await git("repack", "-a", "-d", "-q");
    await Deno.mkdir(`${dir}/clusters/b/flux-system`, { recursive: true });
    await Deno.writeTextFile(`${dir}/clusters/b/flux-system/gotk-sync.yaml`, "sync: b\n");
    await git("add", "-A");
    await git("commit", "-q", "-m", "b");
    const head = await git("rev-parse", "HEAD");
    const loose = [...Deno.readDirSync(`${dir}/.git/objects`)].filter((e) =>
      /^[0-9a-f]{2}$/.test(e.name)
    );
    assert.ok(loose.length > 0, "the second commit left loose objects");
    assert.ok(
      [...Deno.readDirSync(`${dir}/.git/objects/pack`)].some((e) => e.name.endsWith(".pack")),
    );
    await Deno.remove(`${dir}/clusters`, { recursive: true });
    const co = {
      dir,
      url: "file://" + dir,
      branch: "main",
      branchExists: true,
      head,
      worktree: false,
    };
    const paths = (
      c: string,
    ) => [`clusters/${c}/flux-system/gotk-sync.yaml`, `clusters/${c}/x.yaml`];
    assert.deepEqual(await readRepoFiles(co, [...paths("a"), ...paths("b")]), {
      "clusters/a/flux-system/gotk-sync.yaml": "sync: a\n",
      "clusters/a/x.yaml": null,
      "clusters/b/flux-system/gotk-sync.yaml": "sync: b\n",
      "clusters/b/x.yaml": null,
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a checkout in memory (a run that only plans): the same files and errors as on disk, nothing on disk, never written", async () => {
  await withServer(async (server, work) => {
    await server.createRepo("fleet", {
      files: {
        "clusters/a/flux-system/gotk-sync.yaml": "sync: a\n",
        "clusters/d/flux-system": "not a folder\n",
      },
    });
    await server.createRepo("empty");
    const h = http();
    try {
      const remote = (name: string) =>
        httpsRemote({ url: server.repoUrl(name), username: "git", password: TOKEN }, h);
      const paths = (c: string) => [`clusters/${c}/flux-system/gotk-sync.yaml`, `clusters/${c}/x`];
      const read = (co: Awaited<ReturnType<typeof checkoutRepo>>) =>
        Promise.allSettled(["a", "b", "d"].map((c) => readRepoFiles(co, paths(c))))
          .then((all) => all.map((r) => r.status === "fulfilled" ? r.value : String(r.reason)));
      const onDisk = await checkoutRepo(remote("fleet"), "main", `${work}/disk`);
      const expected = await read(onDisk);
      assert.deepEqual(expected[0], {
        "clusters/a/flux-system/gotk-sync.yaml": "sync: a\n",
        "clusters/a/x": null,
      });
      assert.match(String(expected[2]), /clusters\/d\/flux-system is a file in the repository/);

      // The existing branch, a branch that does not exist yet (it starts from main), and an
      // empty repository: each read as from disk, and not one file written there.
      const existing = await checkoutRepo(remote("fleet"), "main", `${work}/m`, undefined, true);
      const newBranch = await checkoutRepo(remote("fleet"), "next", `${work}/n`, undefined, true);
      const empty = await checkoutRepo(remote("empty"), "main", `${work}/e`, undefined, true);
      assert.deepEqual([...Deno.readDirSync(work)].map((e) => e.name), ["disk"]);
      assert.deepEqual(await read(existing), expected);
      assert.equal(existing.head, onDisk.head);
      assert.deepEqual(await read(newBranch), expected);
      assert.deepEqual(
        [newBranch.branchExists, newBranch.startsFrom, newBranch.head],
        [false, "main", onDisk.head],
      );
      assert.deepEqual([empty.branchExists, empty.head], [false, null]);
      assert.deepEqual(await readRepoFiles(empty, ["a.yaml"]), { "a.yaml": null });

      // What a plan made is never pushed from.
      const change = [{ path: "clusters/a/flux-system/gotk-sync.yaml", content: "sync: b\n" }];
      await assert.rejects(
        commitAndPush(existing, remote("fleet"), change, "Change", author),
        /the checkout of .*fleet.* is in memory, read only/,
      );
      assert.equal(
        await server.readFile("fleet", "main", "clusters/a/flux-system/gotk-sync.yaml"),
        "sync: a\n",
      );
      assert.deepEqual([...Deno.readDirSync(work)].map((e) => e.name), ["disk"]);
    } finally {
      h.close();
    }
  });
});
