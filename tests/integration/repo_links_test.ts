/**
 * A fleet repository is not trusted: symbolic links in it must never lead fluxfleet outside its
 * clone. Staged in real repositories (git http-backend for the built-in transport, OpenSSH sshd
 * for `transport: system`): `clusters/c0 -> <outside dir>` and
 * `clusters/c1/flux-system/gotk-sync.yaml -> <outside file>`. plan, apply and destroy
 * --delete-git-manifests, on an existing and on a new branch, must neither show, overwrite nor
 * delete the outside files, and say which repository path is a link.
 */
import assert from "node:assert/strict";
import { dirname } from "node:path";
import type { SshdServer } from "../../sandbox/ssh/sshd.ts";
import {
  CAN_RUN_SSHD,
  type CommandResult,
  type FleetEnv,
  manifestYaml,
  tokenGit,
  withFleetEnv,
  withSshd,
} from "../helpers/harness.ts";
import { generateKeyPair } from "../../lib/keys/generate.ts";
import { pushTree, refCommit } from "../helpers/repo_tree.ts";
import { startGitServer } from "../../sandbox/git/http_server.ts";
import { makeGitHttp } from "../../lib/git/transports/isomorphic/http.ts";
import {
  checkoutRepo,
  commitAndPush,
  httpsRemote,
} from "../../lib/git/transports/isomorphic/mod.ts";
import { readRepoFiles } from "../../lib/git/checkout.ts";
import { systemCheckoutRepo, systemCommitAndPush } from "../../lib/git/transports/system/mod.ts";

const TOKEN = "canary-links-token-41c7";

/** What lives outside the clone; every text holds a canary that must never be printed. */
const OUTSIDE_FILES: Record<string, string> = {
  "dir/flux-system/gotk-components.yaml": "# outside-canary-components-8d2f\nkind: List\n",
  "dir/flux-system/gotk-sync.yaml": "# outside-canary-sync-1b7e\nkind: List\n",
  "dir/flux-system/kustomization.yaml": "# outside-canary-kustomization-3a9c\nkind: List\n",
  "file.yaml": "# outside-canary-file-6f04\nkind: List\n",
};
const CANARIES = Object.values(OUTSIDE_FILES).map((t) => t.split("\n")[0].slice(2));

const LINK_C0 = "clusters/c0 is a symbolic link in the repository; fluxfleet does not follow links";
const LINK_C1 =
  "clusters/c1/flux-system/gotk-sync.yaml is a symbolic link in the repository; fluxfleet does not follow links";

interface LinkEnv {
  env: FleetEnv;
  /** The bare repository both servers serve. */
  bare: string;
  /** `git:` lines of the manifest's defaults, for a branch. */
  gitLines(branch: string): string[];
  /** Folder holding OUTSIDE_FILES. */
  outside: string;
}

async function stageOutside(dir: string): Promise<string> {
  const outside = `${dir}/outside`;
  for (const [path, text] of Object.entries(OUTSIDE_FILES)) {
    await Deno.mkdir(dirname(`${outside}/${path}`), { recursive: true });
    await Deno.writeTextFile(`${outside}/${path}`, text);
  }
  return outside;
}

/** The attack on `main`: a folder link (cluster c0) and a file link (cluster c1). */
function stageRepository(bare: string, outside: string): Promise<string> {
  return pushTree(bare, "refs/heads/main", {
    "README.md": "# fleet\n",
    "clusters/c0": { link: `${outside}/dir` },
    "clusters/c1/flux-system/gotk-sync.yaml": { link: `${outside}/file.yaml` },
    "clusters/c1/flux-system/gotk-components.yaml": "kind: List\n",
  });
}

async function snapshot(outside: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const path of Object.keys(OUTSIDE_FILES)) {
    try {
      const st = await Deno.lstat(`${outside}/${path}`);
      const text = await Deno.readTextFile(`${outside}/${path}`);
      // Short enough to read in a failure: which text, how long, when last written.
      out[path] = `${text.split("\n")[0]} (${text.length} chars, mtime ${st.mtime?.getTime()})`;
    } catch (e) {
      out[path] = `missing: ${(e as Error).name}`;
    }
  }
  return out;
}

function withHttpEnv(fn: (l: LinkEnv) => Promise<void>): Promise<void> {
  return withFleetEnv({
    prefix: "fluxfleet-links-http-",
    git: { users: { git: TOKEN } },
    repos: ["fleet"],
    contexts: ["c0", "c1"],
    cliEnv: { GIT_PASSWORD: TOKEN },
  }, async (env) => {
    await fn({
      env,
      bare: `${env.git.root}/fleet.git`,
      gitLines: (branch) => [...tokenGit(env.git.repoUrl("fleet")), `branch: ${branch}`],
      outside: await stageOutside(env.dir),
    });
  });
}

function withSystemSshEnv(fn: (l: LinkEnv) => Promise<void>): Promise<void> {
  return withSshd((sshd: SshdServer) =>
    withFleetEnv({
      prefix: "fluxfleet-links-ssh-",
      git: { root: sshd.root },
      contexts: ["c0", "c1"],
    }, async (env) => {
      await sshd.createRepo("fleet");
      const key = await generateKeyPair({ algorithm: "ed25519" }, "links");
      await sshd.authorize(key.publicKey);
      const keyFile = `${env.dir}/id_links`;
      await Deno.writeTextFile(keyFile, key.privateKey, { mode: 0o600 });
      await fn({
        env,
        bare: `${sshd.root}/fleet.git`,
        gitLines: (branch) => [
          `url: ${sshd.hostedUrl("fleet")}`,
          "transport: system",
          `branch: ${branch}`,
          "author: { name: fluxfleet-test, email: test@example.com }",
          `auth: { type: ssh, privateKey: { file: ${keyFile} } }`,
        ],
        outside: await stageOutside(env.dir),
      });
    })
  );
}

async function writeManifest(l: LinkEnv, branch: string): Promise<void> {
  await Deno.writeTextFile(
    l.env.manifest,
    manifestYaml({ git: l.gitLines(branch), clusters: [{ name: "c0" }, { name: "c1" }] }),
  );
}

function cli(l: LinkEnv, args: string[]): Promise<CommandResult> {
  return l.env.cli([...args, l.env.manifest]);
}

/** plan (text and JSON), apply and destroy --delete-git-manifests on `branch`. */
async function attack(l: LinkEnv, branch: string) {
  await writeManifest(l, branch);
  return {
    planText: await cli(l, ["plan"]),
    planJson: await cli(l, ["plan", "--output", "json"]),
    apply: await cli(l, ["apply", "--auto-approve"]),
    destroy: await cli(l, ["destroy", "--auto-approve", "--delete-git-manifests"]),
  };
}

async function assertContained(l: LinkEnv, transport: string) {
  const before = await snapshot(l.outside);
  const main = await stageRepository(l.bare, l.outside);
  const runs = { existing: await attack(l, "main"), newBranch: await attack(l, "feature") };
  // What a user would notice first: the files outside the clone are as they were.
  assert.deepEqual(
    await snapshot(l.outside),
    before,
    `${transport}: a file outside the clone was written or deleted`,
  );
  for (const [which, r] of Object.entries(runs)) {
    for (const [command, out] of Object.entries(r)) {
      for (const canary of CANARIES) {
        assert.ok(
          !out.stdout.includes(canary) && !out.stderr.includes(canary),
          `${transport}, ${which} branch: ${command} printed an outside file (${canary})`,
        );
      }
    }
  }
  // Nothing was pushed: main is the attack commit, no feature branch was made.
  assert.equal(await refCommit(l.bare, "refs/heads/main"), main);
  assert.equal(await refCommit(l.bare, "refs/heads/feature"), null);
  for (const [which, r] of Object.entries(runs)) {
    const where = `${transport}, ${which} branch`;
    assert.equal(r.planText.code, 1, `${where}: plan\n${r.planText.stdout}${r.planText.stderr}`);
    assert.match(
      r.planText.stdout,
      new RegExp(`cluster c0 .*\\n  x cannot plan: ${LINK_C0.replace(/[.;]/g, "\\$&")}`),
    );
    assert.match(
      r.planText.stdout,
      new RegExp(`cluster c1 .*\\n  x cannot plan: ${LINK_C1.replace(/[.;]/g, "\\$&")}`),
    );
    const json = JSON.parse(r.planJson.stdout) as {
      clusters: { cluster: string; error?: string }[];
    };
    assert.deepEqual(
      json.clusters.map((c) => [c.cluster, c.error]),
      [["c0", LINK_C0], ["c1", LINK_C1]],
      where,
    );
    assert.equal(r.apply.code, 1, where);
    assert.ok(r.apply.stdout.includes(`c0: failed: ${LINK_C0}`), `${where}:\n${r.apply.stdout}`);
    assert.ok(r.apply.stdout.includes(`c1: failed: ${LINK_C1}`), `${where}:\n${r.apply.stdout}`);
    assert.equal(r.destroy.code, 1, where);
    assert.ok(
      r.destroy.stdout.includes(`c0: failed: ${LINK_C0}`),
      `${where}:\n${r.destroy.stdout}`,
    );
  }
}

Deno.test("links in the repository are never followed: built-in transport over HTTP", async () => {
  await withHttpEnv((l) => assertContained(l, "built-in transport"));
});

Deno.test({
  name: "links in the repository are never followed: transport system over SSH",
  ignore: !CAN_RUN_SSHD,
  async fn() {
    await withSystemSshEnv((l) => assertContained(l, "transport system"));
  },
});

const CONFIGMAP_CANARY = "outside-canary-configmap-70e2";

/** A kustomization outside the clone whose build is a ConfigMap holding CONFIGMAP_CANARY. */
async function stageOutsideKustomization(dir: string, name: string): Promise<string> {
  const folder = `${dir}/${name}`;
  await Deno.mkdir(folder, { recursive: true });
  await Deno.writeTextFile(`${folder}/kustomization.yaml`, "resources:\n- cm.yaml\n");
  await Deno.writeTextFile(
    `${folder}/cm.yaml`,
    `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n  namespace: flux-system\n` +
      `data:\n  canary: ${CONFIGMAP_CANARY}\n`,
  );
  return folder;
}

function kustomization(extra: string): string {
  return "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n" +
    `- gotk-components.yaml\n- gotk-sync.yaml\n- ${extra}\n`;
}

Deno.test("a user's kustomization.yaml cannot make the install read folders outside the clone", async () => {
  await withFleetEnv({
    prefix: "fluxfleet-links-kustomize-",
    git: { users: { git: TOKEN } },
    repos: ["fleet"],
    contexts: ["c0", "c1"],
    cliEnv: { GIT_PASSWORD: TOKEN },
    manifest: ({ git }) =>
      manifestYaml({
        git: tokenGit(git.repoUrl("fleet")),
        clusters: [{ name: "c0" }, { name: "c1" }],
      }),
  }, async (env) => {
    const linked = await stageOutsideKustomization(env.dir, "outside-linked");
    const relative = await stageOutsideKustomization(env.dir, "outside-relative");
    // From the cluster's folder in the clone, enough ".." reach "/" (more stay there).
    const upAndOver = `${"../".repeat(24)}${relative.slice(1)}`;
    await pushTree(`${env.git.root}/fleet.git`, "refs/heads/main", {
      // c0: a link inside the cluster's folder, named as a resource.
      "clusters/c0/flux-system/kustomization.yaml": kustomization("extra"),
      "clusters/c0/flux-system/extra": { link: linked },
      // c1: a relative path climbing out of the clone.
      "clusters/c1/flux-system/kustomization.yaml": kustomization(upAndOver),
    });
    const apply = await env.cli(["apply", "--auto-approve", env.manifest]);
    // What a user would notice first: nothing from outside reached the clusters or the output.
    for (const [i, kube] of env.kubes.entries()) {
      for (const name of ["outside-linked", "outside-relative"]) {
        assert.equal(
          kube.getObject("v1", "ConfigMap", "flux-system", name),
          undefined,
          `c${i}: the ConfigMap of a kustomization outside the clone was installed`,
        );
      }
    }
    assert.ok(!apply.stdout.includes(CONFIGMAP_CANARY) && !apply.stderr.includes(CONFIGMAP_CANARY));
    assert.equal(apply.code, 1, apply.stdout + apply.stderr);
    assert.ok(
      apply.stdout.includes(
        'c0: failed: clusters/c0/flux-system/kustomization.yaml refers to "extra": ' +
          "clusters/c0/flux-system/extra is a symbolic link in the repository; fluxfleet does not follow links",
      ),
      apply.stdout,
    );
    assert.ok(
      apply.stdout.includes(
        `c1: failed: clusters/c1/flux-system/kustomization.yaml: "${upAndOver}" is outside the repository; ` +
          "fluxfleet builds kustomization.yaml from the repository's own files only, as flux bootstrap does",
      ),
      apply.stdout,
    );
    // Nothing of the components was installed either.
    assert.equal(
      env.kube.getObject(
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
        "",
        "gitrepositories.source.toolkit.fluxcd.io",
      ),
      undefined,
    );
  });
});

const AUTHOR = { name: "fluxfleet-test", email: "test@example.com" };
const C0_SYNC = [{ path: "clusters/c0/flux-system/gotk-sync.yaml", content: "kind: List\n" }];

async function errorOf(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof Error);
    return e;
  }
  assert.fail("expected an error");
}

Deno.test("a link that arrives with a racing push is not written through: built-in transport", async () => {
  const server = await startGitServer({ users: { git: TOKEN } });
  const work = await Deno.makeTempDir({ prefix: "fluxfleet-links-race-" });
  const http = makeGitHttp({ allowInsecureHttp: true, timeoutMs: 20_000 });
  try {
    const outside = await stageOutside(work);
    await server.createRepo("fleet", { files: { "README.md": "# fleet\n" } });
    const remote = httpsRemote(
      { url: server.repoUrl("fleet"), username: "git", password: TOKEN },
      http,
    );
    const co = await checkoutRepo(remote, "main", `${work}/clone`);
    // After the plan read a clean tree, someone pushes the link: our push is rejected, the new
    // head is fetched and checked out, and the changes are written again — onto the link.
    const raced = await pushTree(`${server.root}/fleet.git`, "refs/heads/main", {
      "README.md": "# fleet\n",
      "clusters/c0": { link: `${outside}/dir` },
    }, co.head!);
    const before = await snapshot(outside);
    const err = await errorOf(commitAndPush(co, remote, C0_SYNC, "Add", AUTHOR));
    assert.deepEqual(await snapshot(outside), before, "a file outside the clone was written");
    assert.equal(err.message, LINK_C0);
    assert.equal(await server.headSha("fleet", "main"), raced);
  } finally {
    http.close();
    await server.close();
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test({
  name: "a link that arrives with a racing push is not written through: transport system",
  ignore: !CAN_RUN_SSHD,
  async fn() {
    await withSshd(async (sshd) => {
      const work = await Deno.makeTempDir({ prefix: "fluxfleet-links-race-" });
      try {
        const outside = await stageOutside(work);
        await sshd.createRepo("fleet", { files: { "README.md": "# fleet\n" } });
        const key = await generateKeyPair({ algorithm: "ed25519" }, "race");
        await sshd.authorize(key.publicKey);
        const access = {
          url: sshd.hostedUrl("fleet"),
          privateKey: key.privateKey,
          knownHosts: sshd.knownHosts(),
          timeoutMs: 20_000,
        };
        const co = await systemCheckoutRepo(access, "main", `${work}/clone`);
        const raced = await pushTree(`${sshd.root}/fleet.git`, "refs/heads/main", {
          "README.md": "# fleet\n",
          "clusters/c0": { link: `${outside}/dir` },
        }, co.head!);
        const before = await snapshot(outside);
        const err = await errorOf(systemCommitAndPush(co, access, C0_SYNC, "Add", AUTHOR));
        assert.deepEqual(await snapshot(outside), before, "a file outside the clone was written");
        assert.equal(err.message, LINK_C0);
        assert.equal(await sshd.headSha("fleet", "main"), raced);
      } finally {
        await Deno.remove(work, { recursive: true });
      }
    });
  },
});

Deno.test("readRepoFiles: submodules and a folder where a file belongs are errors naming the path, from a checkout on disk or in memory", async () => {
  const server = await startGitServer({ users: { git: TOKEN } });
  const work = await Deno.makeTempDir({ prefix: "fluxfleet-links-read-" });
  const http = makeGitHttp({ allowInsecureHttp: true, timeoutMs: 20_000 });
  try {
    await server.createRepo("fleet", { files: { "README.md": "# fleet\n" } });
    const someCommit = (await server.headSha("fleet", "main"))!;
    await pushTree(`${server.root}/fleet.git`, "refs/heads/main", {
      "clusters/a": { submodule: someCommit },
      "clusters/b/flux-system/gotk-sync.yaml": { submodule: someCommit },
      "clusters/c/flux-system/gotk-sync.yaml/inner.yaml": "kind: List\n",
      "clusters/d/flux-system/gotk-sync.yaml": "kind: List\n",
    });
    const remote = httpsRemote(
      { url: server.repoUrl("fleet"), username: "git", password: TOKEN },
      http,
    );
    for (const inMemory of [false, true]) {
      const co = await checkoutRepo(
        remote,
        "main",
        `${work}/clone-${inMemory}`,
        undefined,
        inMemory,
      );
      const read = (c: string) =>
        errorOf(readRepoFiles(co, [`clusters/${c}/flux-system/gotk-sync.yaml`]));
      assert.equal(
        (await read("a")).message,
        "clusters/a is a git submodule in the repository; fluxfleet does not read or write submodules",
      );
      assert.equal(
        (await read("b")).message,
        "clusters/b/flux-system/gotk-sync.yaml is a git submodule in the repository; fluxfleet does not read or write submodules",
      );
      assert.equal(
        (await read("c")).message,
        "clusters/c/flux-system/gotk-sync.yaml is a folder in the repository, where fluxfleet expects a file",
      );
      assert.deepEqual(await readRepoFiles(co, ["clusters/d/flux-system/gotk-sync.yaml"]), {
        "clusters/d/flux-system/gotk-sync.yaml": "kind: List\n",
      });
    }
  } finally {
    http.close();
    await server.close();
    await Deno.remove(work, { recursive: true });
  }
});
