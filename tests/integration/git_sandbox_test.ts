/**
 * The sandbox git server, driven by real clients only: the system git and
 * isomorphic-git talk to the real `git http-backend` behind it.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import git from "isomorphic-git";
import http from "isomorphic-git/http/node";
import { parseAllDocuments } from "yaml";
import { type GitServer, startGitServer } from "../../sandbox/git/http_server.ts";
import { makeTempDir } from "../../sandbox/git/testrepo.ts";

const ALICE = { username: "alice", password: "s3cret-token" };
const READER = { username: "reader", password: "read-only" };
const CLIENT_AUTHOR = { name: "Fleet Bot", email: "bot@example.com" };

const SEED_FILES = {
  "README.md": "# fleet\n",
  "clusters/prod/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\n",
};

function basicHeader(user: { username: string; password: string }): string {
  return `Authorization: Basic ${btoa(`${user.username}:${user.password}`)}`;
}

/** The system git as a client, with config isolated from the developer's machine. */
async function sysGit(args: string[], cwd?: string, stdin?: string): Promise<string> {
  const child = new Deno.Command("git", {
    args,
    cwd,
    clearEnv: true,
    env: {
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      HOME: cwd ?? Deno.cwd(),
      GIT_CONFIG_NOSYSTEM: "1",
      GIT_CONFIG_GLOBAL: "/dev/null",
      GIT_TERMINAL_PROMPT: "0",
      GIT_AUTHOR_NAME: CLIENT_AUTHOR.name,
      GIT_AUTHOR_EMAIL: CLIENT_AUTHOR.email,
      GIT_COMMITTER_NAME: CLIENT_AUTHOR.name,
      GIT_COMMITTER_EMAIL: CLIENT_AUTHOR.email,
    },
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(stdin));
    await writer.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  if (out.code !== 0) throw new Error(`git ${args[0]} failed: ${dec.decode(out.stderr)}`);
  return dec.decode(out.stdout);
}

/** fast-import input for `count` root commits, each on its own branch. */
function manyBranchesStream(count: number): string {
  const parts: string[] = [];
  for (let i = 0; i < count; i++) {
    const msg = `branch ${i}\n`;
    parts.push(
      `commit refs/heads/feature-${i}`,
      `committer Fleet Bot <bot@example.com> ${1700000000 + i} +0000`,
      `data ${msg.length}`,
      msg,
    );
  }
  return parts.join("\n") + "\n";
}

function onAuthFor(user: { username: string; password: string }) {
  return () => ({ username: user.username, password: user.password });
}

function errorCode(err: unknown): { code?: string; statusCode?: number } {
  const e = err as { code?: string; data?: { statusCode?: number } };
  return { code: e.code, statusCode: e.data?.statusCode };
}

/** Just the fields the fixture check reads. */
interface ManifestObject {
  kind: string;
  metadata: { name: string };
  spec?: { names?: { kind: string } };
}

async function withServer(fn: (server: GitServer) => Promise<void>): Promise<void> {
  const server = await startGitServer({
    users: { [ALICE.username]: ALICE.password },
    readOnlyUsers: { [READER.username]: READER.password },
  });
  try {
    await fn(server);
  } finally {
    await server.close();
  }
}

Deno.test("system git clones with an Authorization extraHeader and pushes back", async () => {
  await withServer(async (server) => {
    await using tmp = await makeTempDir("git-sandbox-sys-");
    await server.createRepo("fleet", { files: SEED_FILES });
    const auth = ["-c", `http.extraHeader=${basicHeader(ALICE)}`];
    const url = server.repoUrl("fleet");
    assert.ok(!url.includes("@"), "credentials must not be in the URL");

    await sysGit([...auth, "clone", "--quiet", url, "work"], tmp.path);
    const work = join(tmp.path, "work");
    assert.equal(await readFile(join(work, "README.md"), "utf8"), "# fleet\n");
    assert.ok(fs.existsSync(join(work, "clusters/prod/kustomization.yaml")));

    await writeFile(join(work, "clusters/prod/flux.yaml"), "kind: Kustomization\n");
    await sysGit(["add", "--all"], work);
    await sysGit(["commit", "--quiet", "-m", "Add flux kustomization"], work);
    await sysGit([...auth, "push", "--quiet", "origin", "main"], work);

    const log = await server.log("fleet", "main");
    assert.equal(log.length, 2);
    assert.equal(log[0].message, "Add flux kustomization");
    assert.equal(log[0].author, "Fleet Bot <bot@example.com>");
    assert.equal(log[1].author, "Someone Else <else@example.com>");
    assert.equal(log[0].sha, (await sysGit(["rev-parse", "HEAD"], work)).trim());
    assert.equal(
      await server.readFile("fleet", "main", "clusters/prod/flux.yaml"),
      "kind: Kustomization\n",
    );
    assert.equal(server.pushCount(), 1);
    assert.ok(server.requests.every((r) => r.user === ALICE.username));
  });
});

Deno.test("system git's gzip-encoded fetch requests are inflated", async () => {
  await withServer(async (server) => {
    await using tmp = await makeTempDir("git-sandbox-gzip-");
    await server.createRepo("wide", { files: SEED_FILES });
    const auth = ["-c", `http.extraHeader=${basicHeader(ALICE)}`];
    await sysGit([...auth, "clone", "--quiet", server.repoUrl("wide"), "a"], tmp.path);
    const a = join(tmp.path, "a");
    // 40 distinct tips make the want list > 1 KiB, above which git gzips the POST body.
    await sysGit(["fast-import", "--quiet"], a, manyBranchesStream(40));
    await sysGit([
      ...auth,
      "push",
      "--quiet",
      "origin",
      "refs/heads/feature-*:refs/heads/feature-*",
    ], a);

    await sysGit([...auth, "clone", "--quiet", "--mirror", server.repoUrl("wide"), "b"], tmp.path);
    const refs = await sysGit(
      ["for-each-ref", "--format=%(refname)", "refs/heads/"],
      join(tmp.path, "b"),
    );
    assert.equal(refs.trim().split("\n").length, 41);
    const gzipped = server.requests.filter((r) => r.contentEncoding === "gzip");
    assert.ok(gzipped.length > 0, "expected git to send at least one gzip body");
    assert.ok(gzipped.every((r) => r.status === 200));
  });
});

Deno.test("isomorphic-git clones, pushes into an empty repo, and is refused correctly", async () => {
  await withServer(async (server) => {
    await using tmp = await makeTempDir("git-sandbox-iso-");
    await server.createRepo("apps", { files: SEED_FILES });
    await server.createRepo("empty");

    const appsDir = join(tmp.path, "apps");
    await git.clone({
      fs,
      http,
      dir: appsDir,
      url: server.repoUrl("apps"),
      onAuth: onAuthFor(ALICE),
    });
    assert.equal(await readFile(join(appsDir, "README.md"), "utf8"), "# fleet\n");

    // Empty remote: isomorphic-git sees no symref for the unborn HEAD and
    // picks a local "master", so point HEAD at main before committing.
    const emptyDir = join(tmp.path, "empty");
    await git.clone({
      fs,
      http,
      dir: emptyDir,
      url: server.repoUrl("empty"),
      onAuth: onAuthFor(ALICE),
    });
    await git.writeRef({
      fs,
      dir: emptyDir,
      ref: "HEAD",
      value: "refs/heads/main",
      symbolic: true,
      force: true,
    });
    await writeFile(join(emptyDir, "flux-system.yaml"), "kind: GitRepository\n");
    await git.add({ fs, dir: emptyDir, filepath: "flux-system.yaml" });
    const sha = await git.commit({
      fs,
      dir: emptyDir,
      message: "Bootstrap",
      author: CLIENT_AUTHOR,
    });
    const pushed = await git.push({
      fs,
      http,
      dir: emptyDir,
      remote: "origin",
      ref: "main",
      remoteRef: "refs/heads/main",
      onAuth: onAuthFor(ALICE),
    });
    assert.equal(pushed.ok, true);
    assert.equal(await server.headSha("empty", "main"), sha);
    assert.equal(
      await server.readFile("empty", "main", "flux-system.yaml"),
      "kind: GitRepository\n",
    );
    assert.equal(server.pushCount(), 1);

    // Wrong password: the first retry goes to onAuthFailure; giving up yields HttpError 401.
    let failures = 0;
    const wrong = await git.clone({
      fs,
      http,
      dir: join(tmp.path, "wrong"),
      url: server.repoUrl("apps"),
      onAuth: () => ({ username: ALICE.username, password: "nope" }),
      onAuthFailure: () => {
        failures++;
      },
    }).then(() => null, (err: unknown) => err);
    assert.deepEqual(errorCode(wrong), { code: "HttpError", statusCode: 401 });
    assert.equal(failures, 1);

    // Read-only user: fetch works, push is refused with 403 and nothing moves.
    const roDir = join(tmp.path, "ro");
    await git.clone({
      fs,
      http,
      dir: roDir,
      url: server.repoUrl("apps"),
      onAuth: onAuthFor(READER),
    });
    await writeFile(join(roDir, "extra.txt"), "x\n");
    await git.add({ fs, dir: roDir, filepath: "extra.txt" });
    await git.commit({ fs, dir: roDir, message: "Should not land", author: CLIENT_AUTHOR });
    const before = await server.headSha("apps", "main");
    const refused = await git.push({
      fs,
      http,
      dir: roDir,
      remote: "origin",
      ref: "main",
      onAuth: onAuthFor(READER),
    })
      .then(() => null, (err: unknown) => err);
    assert.deepEqual(errorCode(refused), { code: "HttpError", statusCode: 403 });
    assert.equal(await server.headSha("apps", "main"), before);
    assert.equal(server.pushCount(), 1);
  });
});

Deno.test("server answers 401, 404 and 403 for bad credentials and paths", async () => {
  await withServer(async (server) => {
    await server.createRepo("fleet", { files: SEED_FILES });
    const auth = { authorization: `Basic ${btoa(`${ALICE.username}:${ALICE.password}`)}` };
    const infoRefs = "/info/refs?service=git-upload-pack";

    const anon = await fetch(`${server.repoUrl("fleet")}${infoRefs}`);
    await anon.body?.cancel();
    assert.equal(anon.status, 401);
    assert.equal(anon.headers.get("www-authenticate"), 'Basic realm="fluxfleet-sandbox"');

    const unknown = await fetch(`${server.repoUrl("nope")}${infoRefs}`, { headers: auth });
    await unknown.body?.cancel();
    assert.equal(unknown.status, 404);

    const escape = await fetch(`${server.url}/..%2Foutside.git${infoRefs}`, { headers: auth });
    await escape.body?.cancel();
    assert.equal(escape.status, 403);

    const bare = await fetch(`${server.url}/`, { headers: auth });
    await bare.body?.cancel();
    assert.equal(bare.status, 404);

    const ok = await fetch(`${server.repoUrl("fleet")}${infoRefs}`, { headers: auth });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get("content-type"), "application/x-git-upload-pack-advertisement");
    assert.match(await ok.text(), /refs\/heads\/main/);
  });
});

Deno.test("server inflates a gzip upload-pack request and rejects corrupt gzip", async () => {
  await withServer(async (server) => {
    await server.createRepo("fleet", { files: SEED_FILES });
    const sha = await server.headSha("fleet", "main");
    assert.ok(sha);
    const pkt = (s: string) => (s.length + 4).toString(16).padStart(4, "0") + s;
    // Protocol v0 (no Git-Protocol header): one want, flush, done.
    const request = pkt(`want ${sha} ofs-delta\n`) + "0000" + pkt("done\n");
    const gz = new Response(
      new Blob([request]).stream().pipeThrough(new CompressionStream("gzip")),
    );
    const post = (body: BodyInit) =>
      fetch(`${server.repoUrl("fleet")}/git-upload-pack`, {
        method: "POST",
        headers: {
          authorization: `Basic ${btoa(`${ALICE.username}:${ALICE.password}`)}`,
          "content-type": "application/x-git-upload-pack-request",
          "content-encoding": "gzip",
        },
        body,
      });

    const res = await post(await gz.arrayBuffer());
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "application/x-git-upload-pack-result");
    const body = new Uint8Array(await res.arrayBuffer());
    assert.equal(new TextDecoder().decode(body.subarray(0, 8)), "0008NAK\n");
    assert.equal(new TextDecoder().decode(body.subarray(8, 12)), "PACK");

    const corrupt = await post(request);
    await corrupt.body?.cancel();
    assert.equal(corrupt.status, 400);
  });
});

Deno.test("fixture flux-install.yaml parses and has one Deployment per controller", async () => {
  const text = await readFile(new URL("../../fixtures/flux-install.yaml", import.meta.url), "utf8");
  const docs = parseAllDocuments(text);
  assert.ok(Array.isArray(docs), "expected a document list");
  for (const doc of docs) assert.deepEqual(doc.errors, []);
  const objects = docs.map((d) => d.toJS() as ManifestObject);

  const deployments = objects.filter((o) => o.kind === "Deployment").map((o) => o.metadata.name);
  assert.deepEqual(deployments.sort(), [
    "helm-controller",
    "image-automation-controller",
    "image-reflector-controller",
    "kustomize-controller",
    "notification-controller",
    "source-controller",
    "source-watcher",
  ]);

  const crdKinds = objects.filter((o) => o.kind === "CustomResourceDefinition").map((o) =>
    o.spec?.names?.kind
  );
  assert.deepEqual(crdKinds.sort(), [
    "Alert",
    "ArtifactGenerator",
    "Bucket",
    "GitRepository",
    "HelmChart",
    "HelmRelease",
    "HelmRepository",
    "ImagePolicy",
    "ImageRepository",
    "ImageUpdateAutomation",
    "Kustomization",
    "OCIRepository",
    "Provider",
    "Receiver",
  ]);
  assert.ok(objects.some((o) => o.kind === "Namespace" && o.metadata.name === "flux-system"));
});
