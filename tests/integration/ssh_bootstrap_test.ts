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
import { outputSchemaErrors } from "../helpers/output_schema.ts";
import type { ClusterPlan } from "../../lib/plan/types.ts";

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
        /\(identity, identity\.pub, known_hosts; SSH key ed25519 generated at apply\)/,
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
        /~ update secret flux-system\/flux-system \(identity, identity\.pub changed; SSH key ed25519 generated at apply\)/,
      );
      assert.match(rotate.stdout, /> after apply, add the cluster's public key to the repository/);
      for (const r of [plan, first, second, rotate]) assertClean(r, secret.identity, TOKEN);
    });
  },
});

/** The `git:` lines of a generated-key cluster: token push over HTTPS, cluster reads over SSH. */
function generatedKeyGit(env: Env, ...extra: string[]): string[] {
  return [
    `url: ${env.git.repoUrl("fleet")}`,
    "allowInsecureHttp: true",
    "auth: { type: token, token: { env: GIT_PASSWORD } }",
    `sshHostname: 127.0.0.1:${env.sshd.port}`,
    ...extra,
  ];
}

/** The public key line and fingerprint apply printed when it stopped for the key. */
function keyApplyPrinted(r: CommandResult): { publicKey: string; fingerprint: string } {
  const m = r.stdout.match(
    /c0: failed: the repository does not accept the cluster's SSH key yet .*then re-run: (\S+ \S+ \S+) \(fingerprint (SHA256:\S+)\)/,
  );
  assert.ok(m, `apply did not print the key to add:\n${r.stdout}`);
  return { publicKey: m[1], fingerprint: m[2] };
}

/** The one cluster of a plan printed with --output json, checked against the output schema. */
function jsonPlan(r: CommandResult): ClusterPlan {
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const doc = JSON.parse(r.stdout);
  assert.deepEqual(outputSchemaErrors(doc), []);
  return doc.clusters[0];
}

/** An authorized_keys line ("type base64 …") anywhere in the text. */
const PUBLIC_KEY_LINE = /(ssh-ed25519|ecdsa-sha2-nistp\d+|ssh-rsa) AAAA[A-Za-z0-9+/]{16}/;

Deno.test({
  name:
    "generated key: plans show no key until apply made it; after a failed apply every plan shows the stored key, not accepted yet, until it is added",
  ignore: missing("sshd"),
  async fn() {
    await withEnv(async (env) => {
      await writeManifest(env, generatedKeyGit(env)); // default sshKey: ECDSA P-384, as flux
      const run = (args: string[]) => cli(env, args, { GIT_PASSWORD: TOKEN });
      const plans = [await run(["plan"]), await run(["plan"])];
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
            "> after apply, add the cluster's public key to the repository as a read-only deploy key (shown then)",
          ),
          plan.stdout,
        );
        assert.doesNotMatch(plan.stdout, PUBLIC_KEY_LINE, "a key that does not exist is shown");
      }
      assert.equal(plans[0].stdout, plans[1].stdout, "two plans of the same state differ");
      const unknown = jsonPlan(await run(["plan", "--output", "json"]));
      assert.deepEqual(unknown.sshKey, {
        generatedAtApply: true,
        algorithm: "ecdsa-p384",
        publicKey: null,
        fingerprint: null,
      });
      assert.deepEqual(unknown.steps.find((st) => st.kind === "secret"), {
        kind: "secret",
        action: "create",
        namespace: "flux-system",
        name: "flux-system",
        keys: ["identity", "identity.pub", "known_hosts"],
        generatedKey: "ecdsa-p384",
      });

      // apply makes the key, stores it, and stops with the key it stored.
      const apply = await run(["apply", "--auto-approve"]);
      assert.equal(apply.code, 1, apply.stdout + apply.stderr);
      const printed = keyApplyPrinted(apply);
      const secret = sourceSecret(env.kube);
      assert.equal(secret["identity.pub"], printed.publicKey, "apply stored another key");
      assert.match(printed.publicKey, /^ecdsa-sha2-nistp384 /);
      assert.equal(fluxObject(env.kube, "GitRepository"), undefined);

      // Every later plan shows that key, and that the repository does not accept it yet.
      const pending = [await run(["plan"]), await run(["plan"])];
      for (const plan of pending) {
        assert.equal(plan.code, 0, plan.stdout + plan.stderr);
        assert.ok(
          plan.stdout.includes(
            `> add this public key to the repository as a read-only deploy key: ${printed.publicKey} (fingerprint ${printed.fingerprint})`,
          ),
          plan.stdout,
        );
        assert.ok(
          plan.stdout.includes(
            `! the cluster's SSH key ${printed.fingerprint} is not accepted yet by the repository (`,
          ),
          plan.stdout,
        );
        assert.ok(!plan.stdout.includes("create secret"), "the stored key is kept");
      }
      const shown = jsonPlan(await run(["plan", "--output", "json"]));
      assert.equal(shown.sshKey?.publicKey, printed.publicKey);
      assert.equal(shown.sshKey?.fingerprint, printed.fingerprint);
      assert.equal(shown.sshKey?.accepted, false);

      // The user adds it (read-only deploy key): apply converges, with that same key.
      await env.sshd.authorize(printed.publicKey, { readOnly: true });
      const accepted = jsonPlan(await run(["plan", "--output", "json"]));
      assert.equal(accepted.sshKey?.accepted, true);
      const converge = await run(["apply", "--auto-approve"]);
      assert.equal(converge.code, 0, converge.stdout + converge.stderr);
      assert.equal(
        sourceSecret(env.kube).identity,
        secret.identity,
        "the key is never regenerated",
      );
      const last = await run(["plan", "--detailed-exitcode"]);
      assert.equal(last.code, 0, last.stdout + last.stderr);
      assert.match(last.stdout, /No changes\./);
      assert.ok(!last.stdout.includes(printed.fingerprint), "an accepted key needs no more words");
      for (const r of [...plans, apply, ...pending, converge, last]) {
        assertClean(r, secret.identity, TOKEN);
      }
    });
  },
});

Deno.test({
  name:
    "generated key and saved plans: a plan made before the key existed applies; a plan showing a key the secret no longer holds is stale",
  ignore: missing("sshd"),
  async fn() {
    await withEnv(async (env) => {
      await writeManifest(env, generatedKeyGit(env, "sshKey: { algorithm: rsa }"));
      const run = (args: string[]) => cli(env, args, { GIT_PASSWORD: TOKEN });
      const before = `${env.dir}/before.plan.json`;
      const planned = await run(["plan", "--out", before]);
      assert.equal(planned.code, 0, planned.stdout + planned.stderr);
      assert.match(planned.stdout, /SSH key rsa-2048 generated at apply/);
      // Applied as planned: the key is generated then (not a stale plan).
      const first = await run(["apply", "--plan-file", before]);
      assert.equal(first.code, 1, first.stdout + first.stderr);
      assert.doesNotMatch(first.stderr, /stale/);
      const k1 = keyApplyPrinted(first);
      assert.match(k1.publicKey, /^ssh-rsa /);
      assert.equal(sourceSecret(env.kube)["identity.pub"], k1.publicKey);

      // A plan that shows K1; then the secret is rotated to K2: that plan is stale.
      const shownK1 = `${env.dir}/k1.plan.json`;
      const showsK1 = await run(["plan", "--out", shownK1]);
      assert.ok(showsK1.stdout.includes(k1.publicKey), showsK1.stdout);
      const rotated = await run(["apply", "--auto-approve", "--rotate", "c0"]);
      assert.equal(rotated.code, 1, rotated.stdout + rotated.stderr);
      const k2 = keyApplyPrinted(rotated);
      assert.notEqual(k2.publicKey, k1.publicKey);
      assert.equal(sourceSecret(env.kube)["identity.pub"], k2.publicKey);
      await env.sshd.authorize(k1.publicKey, { readOnly: true });
      const stale = await run(["apply", "--plan-file", shownK1]);
      assert.equal(stale.code, 1, stale.stdout + stale.stderr);
      assert.match(
        stale.stderr,
        /the saved plan .* is stale: cluster "c0": the SSH key in its secret is not the one the plan showed \(SHA256:\S+, now SHA256:\S+\)\. Run plan again\./,
      );
      assert.equal(sourceSecret(env.kube)["identity.pub"], k2.publicKey);
      assert.equal(
        fluxObject(env.kube, "GitRepository"),
        undefined,
        "a stale plan changed nothing",
      );

      // A plan showing K2, K2 added afterwards: whether it is accepted is not part of the plan.
      const shownK2 = `${env.dir}/k2.plan.json`;
      assert.equal((await run(["plan", "--out", shownK2])).code, 0);
      await env.sshd.authorize(k2.publicKey, { readOnly: true });
      const done = await run(["apply", "--plan-file", shownK2]);
      assert.equal(done.code, 0, done.stdout + done.stderr);
      assert.equal(sourceSecret(env.kube)["identity.pub"], k2.publicKey);
      assert.equal((await run(["plan", "--detailed-exitcode"])).code, 0);
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
