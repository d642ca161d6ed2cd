/**
 * flux bootstrap bitbucket-server, through the CLI: the Bitbucket Server API sandbox (written to
 * the documented contract) whose repositories are real bare repos served by git http-backend and
 * the real sshd, and whose access keys are enforced by that sshd.
 */
import assert from "node:assert/strict";
import type { SshdServer } from "../../sandbox/ssh/sshd.ts";
import { type BitbucketSandbox, startBitbucketSandbox } from "../../sandbox/bitbucket/server.ts";
import {
  type FleetEnv,
  fluxObject,
  manifestYaml,
  sourceSecret,
  withFleetEnv,
  withSshd,
} from "../helpers/harness.ts";
import { missing } from "../helpers/tools.ts";
import { bitbucketServerProvider } from "../../lib/providers/bitbucket-server/mod.ts";
import { sshGitTransport } from "../../lib/git/transports/isomorphic/ssh.ts";
import { checkoutRepo, commitAndPush } from "../../lib/git/transports/isomorphic/mod.ts";
import { outputSchemaErrors } from "../helpers/output_schema.ts";
import { publicKeyFingerprint } from "../../lib/keys/parse.ts";
import type { ClusterResult } from "../../lib/plan/results.ts";

const ALICE = "canary-bitbucket-token-alice-4f1e";
const BOB = "canary-bitbucket-token-bob-77c0";

type Env = FleetEnv & { sshd: SshdServer; bb: BitbucketSandbox };

/** The Bitbucket Server sandbox, its repositories served by git http-backend and sshd. */
async function withEnv(fn: (env: Env) => Promise<void>, contexts = ["c0"]) {
  await withSshd((sshd) =>
    withFleetEnv({
      prefix: "fluxfleet-bb-e2e-",
      contexts,
      git: { root: sshd.root, users: { alice: ALICE, bob: BOB } },
      manifestName: "fleet.yaml",
    }, async (env) => {
      const bb = await startBitbucketSandbox({
        users: { alice: { token: ALICE, admin: true }, bob: { token: BOB, admin: false } },
        projects: ["PROJ"],
        groups: ["devs", "ops"],
        pageSize: 2,
        gitRoot: sshd.root,
        httpCloneBase: env.git.url,
        sshCloneBase: `ssh://git@127.0.0.1:${sshd.port}`,
        accessKeys: {
          authorize: (key, o) => sshd.authorize(key, { readOnly: o.readOnly }),
          revoke: (key) => sshd.revoke(key),
        },
      });
      try {
        await fn({ ...env, sshd, bb });
      } finally {
        await bb.close();
      }
    })
  );
}

/** The manifest (cluster c0, or these clusters) with these settings added to the bitbucket-server `git:`. */
async function writeManifest(
  env: Env,
  git: Record<string, string>,
  clusters = ["c0"],
): Promise<void> {
  const settings = Object.entries({
    provider: "bitbucket-server",
    hostname: "bitbucket.example.com",
    apiUrl: env.bb.url,
    allowInsecureHttp: "true",
    repository: "fleet",
    token: "{ env: BITBUCKET_TOKEN }",
    ...git,
  });
  await Deno.writeTextFile(
    env.manifest,
    manifestYaml({
      clusters: clusters.map((name) => ({ name, git: settings.map(([k, v]) => `${k}: ${v}`) })),
    }),
  );
}

async function cli(env: Env, args: string[], token = ALICE) {
  const r = await env.cli([...args, env.manifest], { BITBUCKET_TOKEN: token });
  assert.ok(!(r.stdout + r.stderr).includes(token), "the Bitbucket token leaked into the output");
  return r;
}

function gitRepoUrl(env: Env): string {
  return (fluxObject(env.kube, "GitRepository") as { spec: { url: string } }).spec.url;
}

Deno.test({
  name:
    "bitbucket personal repository with token auth: created private, token stored, second run makes no API change",
  ignore: missing("sshd"),
  async fn() {
    await withEnv(async (env) => {
      await writeManifest(env, { owner: "alice", personal: "true", tokenAuth: "true" });
      const plan = await cli(env, ["plan"]);
      assert.equal(plan.code, 0, plan.stdout + plan.stderr);
      assert.match(plan.stdout, /\+ create repository ~alice\/fleet \(private\)/);
      const apply = await cli(env, ["apply", "--auto-approve"]);
      assert.equal(apply.code, 0, apply.stdout + apply.stderr);
      const repo = env.bb.repo("~alice", "fleet")!;
      assert.equal(repo.public, false);
      assert.ok(
        await env.sshd.readFile("~alice/fleet", "main", "clusters/c0/flux-system/gotk-sync.yaml"),
      );
      const secret = sourceSecret(env.kube);
      assert.deepEqual(Object.keys(secret).sort(), ["password", "username"]);
      assert.equal(secret.username, "alice");
      assert.equal(secret.password, ALICE);
      assert.equal(gitRepoUrl(env), `${env.git.url}/~alice/fleet.git`);
      const before = env.bb.mutatingRequests().length;
      const again = await cli(env, ["apply", "--auto-approve"]);
      assert.equal(again.code, 0, again.stdout + again.stderr);
      assert.match(again.stdout, /c0: unchanged/);
      assert.equal(
        env.bb.mutatingRequests().length,
        before,
        "a second run must not change anything through the API",
      );
    });
  },
});

Deno.test({
  name:
    "bitbucket project repository with groups: groups granted once; an existing repository is left as it is",
  ignore: missing("sshd"),
  async fn() {
    await withEnv(async (env) => {
      // The repository exists already, public: fluxfleet shows the drift and does not change it.
      const p = bitbucketServerProvider({
        baseUrl: env.bb.url,
        token: ALICE,
        project: "PROJ",
        repository: "fleet",
        allowInsecureHttp: true,
      });
      await p.createRepository({ private: false });
      p.close();
      await writeManifest(env, {
        owner: "PROJ",
        username: "alice",
        tokenAuth: "true",
        groups: "[devs, ops:REPO_READ]",
      });
      const plan = await cli(env, ["plan"]);
      assert.ok(!plan.stdout.includes("create repository"));
      assert.match(plan.stdout, /\+ grant group devs REPO_WRITE on the repository/);
      assert.match(plan.stdout, /\+ grant group ops REPO_READ on the repository/);
      assert.match(
        plan.stdout,
        /! repository PROJ\/fleet is public, the manifest says private; left as it is/,
      );
      const apply = await cli(env, ["apply", "--auto-approve"]);
      assert.equal(apply.code, 0, apply.stdout + apply.stderr);
      const repo = env.bb.repo("PROJ", "fleet")!;
      assert.deepEqual(repo.groups, { devs: "REPO_WRITE", ops: "REPO_READ" });
      assert.equal(repo.public, true);
      const replan = await cli(env, ["plan", "--detailed-exitcode"]);
      assert.equal(replan.code, 0, replan.stdout);
      assert.ok(!replan.stdout.includes("grant group"));
    });
  },
});

Deno.test({
  name:
    "bitbucket SSH access key: generated once, registered read-only, Flux reads over SSH on port from sshHostname; rotation replaces it",
  ignore: missing("sshd"),
  async fn() {
    await withEnv(async (env) => {
      const base = { owner: "PROJ", username: "alice", sshHostname: `127.0.0.1:${env.sshd.port}` };
      await writeManifest(env, base);
      const plan = await cli(env, ["plan"]);
      assert.match(
        plan.stdout,
        /\+ register SSH access key fluxfleet-c0-clusters-c0-flux-system \(read-only\)/,
      );
      const apply = await cli(env, ["apply", "--auto-approve"]);
      assert.equal(apply.code, 0, apply.stdout + apply.stderr);
      const secret = sourceSecret(env.kube);
      assert.match(
        secret["identity.pub"],
        /^ecdsa-sha2-nistp384 /,
        "default key: ECDSA P-384, as flux",
      );
      const keys = env.bb.repo("PROJ", "fleet")!.keys;
      assert.equal(keys.length, 1);
      assert.equal(keys[0].permission, "REPO_READ");
      assert.equal(keys[0].key.split(" ")[1], secret["identity.pub"].split(" ")[1]);
      assert.equal(gitRepoUrl(env), `ssh://git@127.0.0.1:${env.sshd.port}/proj/fleet.git`);
      const before = env.bb.mutatingRequests().length;
      const again = await cli(env, ["apply", "--auto-approve"]);
      assert.equal(again.code, 0, again.stdout + again.stderr);
      assert.equal(
        env.bb.mutatingRequests().length,
        before,
        "the key is found again by its text: nothing to do",
      );
      // Rotation: a new key, the old access key removed.
      const text = await Deno.readTextFile(env.manifest);
      await Deno.writeTextFile(
        env.manifest,
        text.replace("    git:\n", "    rotate: true\n    git:\n"),
      );
      const rotated = await cli(env, ["apply", "--auto-approve"]);
      assert.equal(rotated.code, 0, rotated.stdout + rotated.stderr);
      assert.match(
        rotated.stdout,
        /~ replace SSH access key fluxfleet-c0-clusters-c0-flux-system \(read-only\)/,
      );
      const after = env.bb.repo("PROJ", "fleet")!.keys;
      assert.equal(after.length, 1);
      assert.notEqual(after[0].key.split(" ")[1], keys[0].key.split(" ")[1]);
      assert.equal(
        after[0].key.split(" ")[1],
        sourceSecret(env.kube)["identity.pub"].split(" ")[1],
      );
    });
  },
});

Deno.test({
  name:
    "bitbucket access key: plans name the key generated at apply, never a key; apply registers the key it stores; a key removed from Bitbucket is shown and registered again",
  ignore: missing("sshd"),
  async fn() {
    await withEnv(async (env) => {
      const base = { owner: "PROJ", username: "alice", sshHostname: `127.0.0.1:${env.sshd.port}` };
      await writeManifest(env, base);
      const plans = [await cli(env, ["plan"]), await cli(env, ["plan"])];
      for (const plan of plans) {
        assert.equal(plan.code, 0, plan.stdout + plan.stderr);
        assert.ok(
          plan.stdout.includes(
            "+ create secret flux-system/flux-system (identity, identity.pub, known_hosts; SSH key ecdsa-p384 generated at apply)",
          ),
          plan.stdout,
        );
        assert.ok(
          plan.stdout.includes(
            "+ register SSH access key fluxfleet-c0-clusters-c0-flux-system (read-only) with the SSH key ecdsa-p384 generated at apply",
          ),
          plan.stdout,
        );
        assert.doesNotMatch(
          plan.stdout,
          /ecdsa-sha2-nistp384 AAAA|SSH key for the cluster \(SHA256/,
        );
      }
      assert.equal(plans[0].stdout, plans[1].stdout, "two plans of the same state differ");
      const apply = await cli(env, ["apply", "--auto-approve", "--output", "json"]);
      assert.equal(apply.code, 0, apply.stdout + apply.stderr);
      const doc = JSON.parse(apply.stdout);
      assert.deepEqual(outputSchemaErrors(doc), []);
      assert.equal(doc.plan.clusters[0].sshKey.publicKey, null);
      const secret = sourceSecret(env.kube);
      const result = doc.results[0] as ClusterResult;
      assert.equal(result.generatedKey?.publicKey, secret["identity.pub"]);
      const registered = env.bb.repo("PROJ", "fleet")!.keys;
      assert.deepEqual(registered.map((k) => k.key.split(" ")[1]), [
        secret["identity.pub"].split(" ")[1],
      ]);
      const converged = await cli(env, ["plan", "--detailed-exitcode"]);
      assert.equal(converged.code, 0, converged.stdout + converged.stderr);
      assert.ok(!converged.stdout.includes("identity"), converged.stdout);

      // Someone removes the access key: the plan shows the key the secret holds, apply
      // registers that same key again.
      const p = bitbucketServerProvider({
        baseUrl: env.bb.url,
        token: ALICE,
        project: "PROJ",
        repository: "fleet",
        allowInsecureHttp: true,
      });
      for (const k of await p.listAccessKeys()) await p.deleteAccessKey(k.id);
      p.close();
      const fingerprint = publicKeyFingerprint(secret["identity.pub"]);
      const again = await cli(env, ["plan"]);
      assert.ok(
        again.stdout.includes(
          "+ register SSH access key fluxfleet-c0-clusters-c0-flux-system (read-only)\n",
        ),
        again.stdout,
      );
      assert.ok(
        again.stdout.includes(
          `> apply registers this public key as a repository access key: ${
            secret["identity.pub"]
          } (fingerprint ${fingerprint})`,
        ),
        again.stdout,
      );
      assert.ok(!again.stdout.includes("create secret"), "the key is kept");
      const reapply = await cli(env, ["apply", "--auto-approve"]);
      assert.equal(reapply.code, 0, reapply.stdout + reapply.stderr);
      assert.equal(
        sourceSecret(env.kube).identity,
        secret.identity,
        "the key is never regenerated",
      );
      assert.deepEqual(env.bb.repo("PROJ", "fleet")!.keys.map((k) => k.key.split(" ")[1]), [
        secret["identity.pub"].split(" ")[1],
      ]);
      assert.equal((await cli(env, ["plan", "--detailed-exitcode"])).code, 0);
    });
  },
});

Deno.test({
  name:
    "bitbucket permissions are checked first: bad token (401) and missing rights (403) in words, nothing pushed",
  ignore: missing("sshd"),
  async fn() {
    await withEnv(async (env) => {
      await writeManifest(env, { owner: "PROJ", username: "bob", tokenAuth: "true" });
      const bad = await cli(env, ["apply", "--auto-approve"], "canary-not-a-token");
      assert.equal(bad.code, 1);
      assert.match(bad.stdout, /c0: failed: .*401.*BITBUCKET_TOKEN/);
      const denied = await cli(env, ["apply", "--auto-approve"], BOB);
      assert.equal(denied.code, 1);
      assert.match(denied.stdout, /c0: failed: .*(403|may not administer)/);
      assert.equal(env.git.pushCount(), 0);
      assert.equal(env.bb.repo("PROJ", "fleet"), undefined);
      assert.equal(env.kube.mutatingRequests().length, 0);
    });
  },
});

async function pushWithClusterKey(env: Env, url: string, identity: string, knownHosts: string) {
  const transport = sshGitTransport({ url, privateKey: identity, knownHosts });
  const remote = { displayUrl: url, url: transport.url, headers: {}, http: transport.http };
  try {
    const co = await checkoutRepo(remote, "main", `${env.dir}/push-${crypto.randomUUID()}`);
    await commitAndPush(co, remote, [{ path: "image-update.yaml", content: "tag: v2\n" }], "bump", {
      name: "flux",
      email: "flux@example.com",
    });
  } finally {
    await transport.close();
  }
}

Deno.test({
  name:
    "bitbucket access keys: read-only by default (the cluster key cannot push), read-write with readWriteKey",
  ignore: missing("sshd"),
  async fn() {
    await withEnv(async (env) => {
      const base = { owner: "PROJ", username: "alice", sshHostname: `127.0.0.1:${env.sshd.port}` };
      await writeManifest(env, base);
      assert.equal((await cli(env, ["apply", "--auto-approve"])).code, 0);
      const secret = sourceSecret(env.kube);
      const url = `ssh://git@127.0.0.1:${env.sshd.port}/proj/fleet.git`;
      await assert.rejects(
        pushWithClusterKey(env, url, secret.identity, secret.known_hosts),
        /read-only|refused to accept pushes|not allowed/,
      );
      // Image automation needs write access: the access key is replaced with a read-write one.
      await writeManifest(env, { ...base, readWriteKey: "true" });
      const plan = await cli(env, ["plan"]);
      assert.match(
        plan.stdout,
        /~ replace SSH access key fluxfleet-c0-clusters-c0-flux-system \(read-write\)/,
      );
      assert.equal((await cli(env, ["apply", "--auto-approve"])).code, 0);
      assert.equal(env.bb.repo("PROJ", "fleet")!.keys[0].permission, "REPO_WRITE");
      assert.equal(sourceSecret(env.kube).identity, secret.identity, "same key, new permission");
      await pushWithClusterKey(env, url, secret.identity, secret.known_hosts);
      assert.equal(await env.sshd.readFile("proj/fleet", "main", "image-update.yaml"), "tag: v2\n");
    });
  },
});

Deno.test({
  name:
    "bitbucket destroy removes the cluster's own access key after the cluster; another cluster's key stays",
  ignore: missing("sshd"),
  async fn() {
    await withEnv(async (env) => {
      const base = { owner: "PROJ", username: "alice", sshHostname: `127.0.0.1:${env.sshd.port}` };
      await writeManifest(env, base, ["c0", "c1"]);
      const apply = await cli(env, ["apply", "--auto-approve"]);
      assert.equal(apply.code, 0, apply.stdout + apply.stderr);
      const labels = () => env.bb.repo("PROJ", "fleet")!.keys.map((k) => k.label).sort();
      assert.deepEqual(labels(), [
        "fluxfleet-c0-clusters-c0-flux-system",
        "fluxfleet-c1-clusters-c1-flux-system",
      ]);
      const c1Key = env.bb.repo("PROJ", "fleet")!.keys.find((k) => k.label.includes("-c1-"))!;
      const before = env.bb.mutatingRequests().length;

      const plan = await cli(env, ["destroy", "--cluster", "c0"]);
      assert.ok(
        plan.stdout.includes(
          "- remove deploy key fluxfleet-c0-clusters-c0-flux-system from the repository",
        ),
        plan.stdout,
      );
      const destroy = await cli(env, ["destroy", "--auto-approve", "--cluster", "c0"]);
      assert.equal(destroy.code, 0, destroy.stdout + destroy.stderr);
      assert.deepEqual(labels(), ["fluxfleet-c1-clusters-c1-flux-system"]);
      assert.equal(env.bb.repo("PROJ", "fleet")!.keys[0].key, c1Key.key, "c1's key untouched");
      const deleted = env.bb.mutatingRequests().slice(before);
      assert.deepEqual(deleted.map((r) => r.method), ["DELETE"]);
      assert.match(deleted[0].path, /^\/rest\/keys\/1\.0\/projects\/PROJ\/repos\/fleet\/ssh\/\d+$/);
      assert.equal(fluxObject(env.kubes[0], "GitRepository"), undefined, "c0 uninstalled");
      assert.ok(fluxObject(env.kubes[1], "GitRepository"), "c1 still installed");

      // Nothing left to remove: a second destroy of c0 plans no key step.
      const again = await cli(env, ["destroy", "--cluster", "c0", "--output", "json"]);
      assert.equal(again.code, 0, again.stdout + again.stderr);
      const doc = JSON.parse(again.stdout);
      assert.deepEqual(outputSchemaErrors(doc), []);
      assert.ok(!JSON.stringify(doc).includes("accessKey"), again.stdout);
    }, ["c0", "c1"]);
  },
});
