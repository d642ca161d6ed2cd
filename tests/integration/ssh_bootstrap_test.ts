/**
 * SSH modes end to end through the CLI, against a real OpenSSH sshd, the real git http-backend
 * and the local Kubernetes API whose Flux stand-in reads the repository over SSH with the
 * secret fluxfleet stored (identity, known_hosts, password) — as source-controller does.
 */
import assert from "node:assert/strict";
import type { SshdServer } from "../../sandbox/ssh/sshd.ts";
import {
  assertTempClean,
  type CommandResult,
  type FleetEnv,
  fluxObject,
  manifestYaml,
  sourceSecret,
  withFleetEnv,
  withSshd,
} from "../helpers/harness.ts";
import { missing } from "../helpers/tools.ts";
import { generateKeyPair, type SshKeyPair } from "../../lib/keys/generate.ts";

const PASSPHRASE = "canary-passphrase-5e1f";
const TOKEN = "canary-https-token-9c2d";

type Env = FleetEnv & { sshd: SshdServer };

/** sshd and the git server serve the same bare repository fleet (SSH, and HTTPS for pushes). */
async function withEnv(fn: (env: Env) => Promise<void>) {
  await withSshd((sshd) =>
    withFleetEnv({
      prefix: "fluxfleet-ssh-e2e-",
      git: { root: sshd.root, users: { git: TOKEN } },
      manifestName: "fleet.yaml",
    }, async (env) => {
      await sshd.createRepo("fleet");
      // The same bare repository is served over HTTPS (for token pushes) and SSH.
      await new Deno.Command("git", {
        args: ["--git-dir", `${sshd.root}/fleet.git`, "config", "http.receivepack", "true"],
      }).output();
      await fn({ ...env, sshd });
    })
  );
}

/** The manifest (cluster c0), with these lines as the cluster's `git:` and `extra` before it. */
async function writeManifest(env: Env, git: string[], extra: string[] = []): Promise<void> {
  await Deno.writeTextFile(
    env.manifest,
    manifestYaml({ clusters: [{ name: "c0", lines: extra, git }] }),
  );
}

function cli(env: Env, args: string[], extraEnv: Record<string, string> = {}) {
  return env.cli([...args, env.manifest], extraEnv);
}

async function writeKey(env: Env, name: string, text: string): Promise<string> {
  const path = `${env.dir}/${name}`;
  await Deno.writeTextFile(path, text, { mode: 0o600 });
  return path;
}

/** A new ed25519 key that sshd accepts, written to `name` in the temp dir. */
async function authorizedKey(
  env: Env,
  name: string,
  comment?: string,
): Promise<{ key: SshKeyPair; keyFile: string }> {
  const key = await generateKeyPair({ algorithm: "ed25519" }, comment);
  await env.sshd.authorize(key.publicKey);
  return { key, keyFile: await writeKey(env, name, key.privateKey) };
}

function assertClean(r: CommandResult, ...secrets: string[]) {
  for (const s of secrets) {
    const needle = s.trim().split("\n").find((l) => l.length > 20 && !l.startsWith("-----")) ?? s;
    assert.ok(
      !r.stdout.includes(needle) && !r.stderr.includes(needle),
      "a secret leaked into the output",
    );
  }
}

Deno.test({
  name:
    "SSH with an existing ed25519 key: host key scanned and shown, secret as flux stores it, Flux syncs over SSH",
  ignore: missing("sshd"),
  async fn() {
    await withEnv(async (env) => {
      const { key, keyFile } = await authorizedKey(env, "id_ed25519", "fleet");
      await writeManifest(env, [
        `url: ${env.sshd.hostedUrl("fleet")}`,
        `auth: { type: ssh, privateKey: { file: ${keyFile} } }`,
      ]);
      const ed = env.sshd.hostKeys.find((k) => k.type === "ssh-ed25519")!;
      const plan = await cli(env, ["plan"]);
      assert.equal(plan.code, 0, plan.stdout + plan.stderr);
      assert.match(
        plan.stdout,
        new RegExp(
          `> known_hosts for \\[127\\.0\\.0\\.1\\]:${env.sshd.port} from a scan \\(trust on first use\\): ssh-ed25519 ${
            ed.fingerprint.replace(/[+/]/g, "\\$&")
          }`,
        ),
      );
      assert.match(
        plan.stdout,
        /\+ create secret flux-system\/flux-system \(identity, identity\.pub, known_hosts\)/,
      );
      const apply = await cli(env, ["apply", "--auto-approve"]);
      assert.equal(apply.code, 0, apply.stdout + apply.stderr);
      const secret = sourceSecret(env.kube);
      assert.equal(secret.identity, key.privateKey);
      assert.equal(
        secret["identity.pub"].split(" ").slice(0, 2).join(" "),
        key.publicKey.split(" ").slice(0, 2).join(" "),
      );
      assert.equal(
        secret.known_hosts,
        `[127.0.0.1]:${env.sshd.port} ${ed.publicKey.split(" ").slice(0, 2).join(" ")}\n`,
      );
      assert.equal(secret.password, undefined);
      assert.ok(await env.sshd.readFile("fleet", "main", "clusters/c0/flux-system/gotk-sync.yaml"));
      const replan = await cli(env, ["plan", "--detailed-exitcode"]);
      assert.equal(replan.code, 0, replan.stdout + replan.stderr);
      assert.ok(
        !replan.stdout.includes("known_hosts for"),
        "the scan note is shown only when it is stored",
      );
      for (const r of [plan, apply, replan]) assertClean(r, key.privateKey);
      await assertTempClean(env.tmp);
    });
  },
});

Deno.test({
  name:
    "SSH with a passphrase-protected ECDSA key and a CodeCommit-style user: password stored, Flux reads with it",
  ignore: missing("sshd"),
  async fn() {
    await withEnv(async (env) => {
      const keyFile = `${env.dir}/id_ecdsa`;
      const gen = await new Deno.Command("ssh-keygen", {
        args: ["-q", "-t", "ecdsa", "-b", "384", "-N", PASSPHRASE, "-C", "", "-f", keyFile],
      }).output();
      assert.equal(gen.code, 0);
      const pub = await Deno.readTextFile(`${keyFile}.pub`);
      await env.sshd.authorize(pub);
      const url = env.sshd.hostedUrl("fleet", "APKAEIBAERJR2EXAMPLE");
      await writeManifest(env, [
        `url: ${url}`,
        `auth: { type: ssh, privateKey: { file: ${keyFile} }, passphrase: { env: KEY_PASSPHRASE } }`,
      ]);
      const wrong = await cli(env, ["plan"], { KEY_PASSPHRASE: "not-the-passphrase" });
      assert.equal(wrong.code, 1);
      assert.match(
        wrong.stderr,
        /cluster "c0": git\.auth\.privateKey: the private key is encrypted and the passphrase is wrong/,
      );
      const apply = await cli(env, ["apply", "--auto-approve"], {
        KEY_PASSPHRASE: PASSPHRASE,
      });
      assert.equal(apply.code, 0, apply.stdout + apply.stderr);
      const secret = sourceSecret(env.kube);
      assert.equal(secret.password, PASSPHRASE);
      assert.equal(secret.identity, await Deno.readTextFile(keyFile));
      const gr = fluxObject(env.kube, "GitRepository") as {
        spec: { url: string };
        status: { conditions: { type: string; status: string }[] };
      };
      assert.equal(gr.spec.url, url);
      assert.equal(gr.status.conditions.find((c) => c.type === "Ready")?.status, "True");
      for (const r of [wrong, apply]) assertClean(r, PASSPHRASE, await Deno.readTextFile(keyFile));
    });
  },
});

Deno.test({
  name:
    "pinned known_hosts: a matching key is used, a mismatching one is refused with both fingerprints",
  ignore: missing("sshd"),
  async fn() {
    await withEnv(async (env) => {
      const { keyFile } = await authorizedKey(env, "id");
      const pinnedTo = (knownHosts: string) =>
        writeManifest(env, [
          `url: ${env.sshd.hostedUrl("fleet")}`,
          `auth: { type: ssh, privateKey: { file: ${keyFile} } }`,
          `knownHosts: { lines: "${knownHosts}" }`,
        ]);
      const pinned = env.sshd.knownHosts().split("\n").filter((l) => l.includes("ssh-ed25519"))
        .join("\n");
      await pinnedTo(pinned);
      const ok = await cli(env, ["apply", "--auto-approve"]);
      assert.equal(ok.code, 0, ok.stdout + ok.stderr);
      assert.ok(!ok.stdout.includes("trust on first use"));
      const other = await generateKeyPair({ algorithm: "ed25519" });
      const fake = `[127.0.0.1]:${env.sshd.port} ${
        other.publicKey.split(" ").slice(0, 2).join(" ")
      }`;
      await pinnedTo(fake);
      const bad = await cli(env, ["plan"]);
      assert.equal(bad.code, 1);
      assert.match(
        bad.stdout,
        /host key mismatch for \[127\.0\.0\.1\]:\d+: known_hosts pins SHA256:\S+, the server presents ssh-ed25519 SHA256:\S+/,
      );
      assert.ok(bad.stdout.includes(other.fingerprint));
    });
  },
});

Deno.test({
  name:
    "generated key (token push over HTTPS, cluster reads over SSH): apply stops until the key is added, key kept, rotation replaces it",
  ignore: missing("sshd"),
  async fn() {
    await withEnv(async (env) => {
      const git = [
        `url: ${env.git.repoUrl("fleet")}`,
        "allowInsecureHttp: true",
        "auth: { type: token, token: { env: GIT_PASSWORD } }",
        `sshHostname: 127.0.0.1:${env.sshd.port}`,
        "sshKey: { algorithm: ed25519 }",
      ];
      await writeManifest(env, git);
      const run = (args: string[]) => cli(env, args, { GIT_PASSWORD: TOKEN });
      const plan = await run(["plan"]);
      assert.match(
        plan.stdout,
        /> new SSH key for the cluster; add this public key to the repository with read access \(deploy key\), then apply: ssh-ed25519 /,
      );
      const first = await run(["apply", "--auto-approve"]);
      assert.equal(first.code, 1);
      assert.match(
        first.stdout,
        /c0: failed: the repository does not accept the cluster's SSH key yet .*add this public key with read access \(deploy key\), then re-run: ssh-ed25519 /,
      );
      const secret = sourceSecret(env.kube);
      assert.match(secret.identity, /BEGIN OPENSSH PRIVATE KEY/);
      const gr = fluxObject(env.kube, "GitRepository");
      assert.equal(
        gr,
        undefined,
        "the cluster must not be pointed at a key the repository refuses",
      );
      // The user adds the key (read-only deploy key); the re-run reuses it.
      await env.sshd.authorize(secret["identity.pub"], { readOnly: true });
      const second = await run(["apply", "--auto-approve"]);
      assert.equal(second.code, 0, second.stdout + second.stderr);
      assert.equal(
        sourceSecret(env.kube)["identity.pub"],
        secret["identity.pub"],
        "the key is never regenerated",
      );
      const synced = fluxObject(env.kube, "GitRepository") as {
        spec: { url: string };
      };
      assert.equal(synced.spec.url, `ssh://git@127.0.0.1:${env.sshd.port}/fleet.git`);
      assert.equal((await run(["plan", "--detailed-exitcode"])).code, 0);
      // Rotation on purpose: a new key, shown as a secret update.
      await writeManifest(env, git, ["rotate: true"]);
      const rotate = await run(["plan"]);
      assert.match(
        rotate.stdout,
        /~ update secret flux-system\/flux-system \(identity, identity\.pub changed\)/,
      );
      assert.match(rotate.stdout, /> rotating: new SSH key for the cluster/);
      for (const r of [plan, first, second, rotate]) assertClean(r, secret.identity, TOKEN);
    });
  },
});

Deno.test({
  name: "transport: system (git binary + OpenSSH) bootstraps the same way, no key left on disk",
  ignore: missing("sshd"),
  async fn() {
    await withEnv(async (env) => {
      const { key, keyFile } = await authorizedKey(env, "id_sys");
      await writeManifest(env, [
        `url: ${env.sshd.hostedUrl("fleet")}`,
        "transport: system",
        `auth: { type: ssh, privateKey: { file: ${keyFile} } }`,
      ]);
      const apply = await cli(env, ["apply", "--auto-approve"]);
      assert.equal(apply.code, 0, apply.stdout + apply.stderr);
      assert.ok(await env.sshd.readFile("fleet", "main", "clusters/c0/flux-system/gotk-sync.yaml"));
      assert.equal((await cli(env, ["plan", "--detailed-exitcode"])).code, 0);
      assertClean(apply, key.privateKey);
      await assertTempClean(env.tmp);
    });
  },
});
