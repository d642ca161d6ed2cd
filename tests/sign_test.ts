/**
 * Commit signing (lib/git/sign.ts): commits made with isomorphic-git and our `onSign` must verify
 * with the real git binary — `git verify-commit` with ssh-keygen (gpg.format=ssh) and with gpg —
 * and a tampered commit or another key must not.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import git from "isomorphic-git";
import { type CommitSigner, createCommitSigner, SigningKeyError } from "../lib/git/sign.ts";
import { resolveCredentials } from "../lib/apply/credentials.ts";
import type { SecretSource } from "../lib/config/secrets.ts";
import { redact } from "../lib/util/redact.ts";
import { clusterConfig } from "./helpers/fixtures.ts";
import { missing } from "./helpers/tools.ts";

const AUTHOR = { name: "Flux", email: "flux@example.com" };
const dec = new TextDecoder();

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(
  cmd: string,
  args: string[],
  opts: { env?: Record<string, string>; stdin?: string } = {},
): Promise<Run> {
  const child = new Deno.Command(cmd, {
    args,
    // No user or system git config: a developer's signing settings must not change the result.
    env: { GIT_CONFIG_GLOBAL: "/dev/null", GIT_CONFIG_NOSYSTEM: "1", ...opts.env },
    stdin: opts.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (opts.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(opts.stdin));
    await w.close();
  }
  const out = await child.output();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

async function withTemp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "fluxfleet-sign-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A key made by the real ssh-keygen; returns the private key text and the public key line. */
async function sshKeygen(
  dir: string,
  name: string,
  args: string[],
  passphrase = "",
): Promise<{ privateKey: string; publicLine: string; fingerprint: string }> {
  const file = `${dir}/${name}`;
  const r = await run("ssh-keygen", ["-q", ...args, "-N", passphrase, "-C", "test", "-f", file]);
  assert.equal(r.code, 0, r.stderr);
  const fp = await run("ssh-keygen", ["-l", "-E", "sha256", "-f", `${file}.pub`]);
  return {
    privateKey: await Deno.readTextFile(file),
    publicLine: (await Deno.readTextFile(`${file}.pub`)).trim().split(" ").slice(0, 2).join(" "),
    fingerprint: fp.stdout.split(" ")[1],
  };
}

/** A repository with `n` commits, each signed by `signer`, made by isomorphic-git. */
async function signedRepo(dir: string, signer: CommitSigner, n = 1): Promise<string> {
  const repo = `${dir}/repo`;
  await git.init({ fs, dir: repo, defaultBranch: "main" });
  for (let i = 0; i < n; i++) {
    await Deno.writeTextFile(`${repo}/file.txt`, `content ${i}\n`);
    await git.add({ fs, dir: repo, filepath: "file.txt" });
    await git.commit({
      fs,
      dir: repo,
      message: `commit ${i}\n\nwith a body, ünïcode and a trailing line\n`,
      author: AUTHOR,
      onSign: signer.onSign,
      signingKey: signer.signingKey,
    });
  }
  return repo;
}

/** `git verify-commit` with SSH signatures, trusting `publicLine` for flux@example.com. */
async function verifySsh(dir: string, repo: string, publicLine: string, revs: string[]) {
  const allowed = `${dir}/allowed_signers`;
  await Deno.writeTextFile(allowed, `flux@example.com namespaces="git" ${publicLine}\n`);
  return await run("git", [
    "-C",
    repo,
    "-c",
    "gpg.format=ssh",
    "-c",
    `gpg.ssh.allowedSignersFile=${allowed}`,
    "verify-commit",
    ...revs,
  ]);
}

/** The commit `rev` with its message changed and its signature kept, written as a new object. */
async function tampered(repo: string, rev: string): Promise<string> {
  const raw = (await run("git", ["-C", repo, "cat-file", "commit", rev])).stdout;
  assert.match(raw, /\ngpgsig /);
  const forged = raw.replace(/\n\ncommit (\d+)/, "\n\ncommit $1 (forged)");
  assert.notEqual(forged, raw);
  const r = await run("git", ["-C", repo, "hash-object", "-t", "commit", "-w", "--stdin"], {
    stdin: forged,
  });
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

const SSH_KEYS: { name: string; args: string[]; type: string }[] = [
  { name: "ed25519", args: ["-t", "ed25519"], type: "ssh-ed25519" },
  { name: "ecdsa P-256", args: ["-t", "ecdsa", "-b", "256"], type: "ecdsa-sha2-nistp256" },
  { name: "ecdsa P-384", args: ["-t", "ecdsa", "-b", "384"], type: "ecdsa-sha2-nistp384" },
  { name: "ecdsa P-521", args: ["-t", "ecdsa", "-b", "521"], type: "ecdsa-sha2-nistp521" },
  { name: "rsa", args: ["-t", "rsa", "-b", "2048"], type: "ssh-rsa" },
];

for (const k of SSH_KEYS) {
  Deno.test(`SSH signature (${k.name}): git verify-commit accepts it, a forged commit fails`, async () => {
    await withTemp(async (dir) => {
      const key = await sshKeygen(dir, "id", k.args);
      const signer = await createCommitSigner({ format: "ssh", privateKey: key.privateKey });
      assert.equal(signer.description, `signed with SSH key ${key.fingerprint} (${k.type})`);
      // Several commits: ECDSA's r and s need a leading zero byte in about half of them.
      const repo = await signedRepo(dir, signer, 6);
      const raw = (await run("git", ["-C", repo, "cat-file", "-p", "HEAD"])).stdout;
      assert.match(
        raw,
        /\ngpgsig -----BEGIN SSH SIGNATURE-----\n( .*\n)+ -----END SSH SIGNATURE-----\n/,
      );
      const revs = ["HEAD~5", "HEAD~4", "HEAD~3", "HEAD~2", "HEAD~1", "HEAD"];
      const ok = await verifySsh(dir, repo, key.publicLine, revs);
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal(ok.stderr.match(/Good "git" signature for flux@example\.com/g)?.length, 6);

      const forged = await verifySsh(dir, repo, key.publicLine, [await tampered(repo, "HEAD")]);
      assert.notEqual(forged.code, 0, `a forged commit verified:\n${forged.stderr}`);
    });
  });
}

Deno.test("SSH signature: a key other than the allowed signer's does not verify", async () => {
  await withTemp(async (dir) => {
    const signing = await sshKeygen(dir, "signing", ["-t", "ed25519"]);
    const other = await sshKeygen(dir, "other", ["-t", "ed25519"]);
    const signer = await createCommitSigner({ format: "ssh", privateKey: signing.privateKey });
    const repo = await signedRepo(dir, signer);
    const r = await verifySsh(dir, repo, other.publicLine, ["HEAD"]);
    assert.notEqual(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /signature for flux@example\.com/);
  });
});

Deno.test("SSH signature: an encrypted key signs with its passphrase; none or a wrong one is named", async () => {
  await withTemp(async (dir) => {
    const pass = "canary-sign-pass-7f3a";
    const key = await sshKeygen(dir, "enc", ["-t", "ed25519"], pass);
    assert.match(key.privateKey, /BEGIN OPENSSH PRIVATE KEY/);
    const signer = await createCommitSigner({
      format: "ssh",
      privateKey: key.privateKey,
      passphrase: pass,
    });
    assert.ok(!signer.description.includes(pass));
    const repo = await signedRepo(dir, signer);
    const r = await verifySsh(dir, repo, key.publicLine, ["HEAD"]);
    assert.equal(r.code, 0, r.stderr);

    for (const passphrase of [undefined, "wrong-passphrase"]) {
      await assert.rejects(
        createCommitSigner({ format: "ssh", privateKey: key.privateKey, passphrase }),
        (e) =>
          e instanceof SigningKeyError && e.field === "passphrase" &&
          /encrypted/.test(e.message),
      );
    }
    await assert.rejects(
      createCommitSigner({ format: "ssh", privateKey: key.publicLine }),
      (e) => e instanceof SigningKeyError && e.field === "key" && /public key/.test(e.message),
    );
  });
});

Deno.test("git.signing resolution: errors name cluster and field; secrets are redacted", async () => {
  await withTemp(async (dir) => {
    const pass = "canary-resolve-pass-91c2";
    const key = await sshKeygen(dir, "enc", ["-t", "ecdsa", "-b", "384"], pass);
    // A wrong passphrase long enough to be read (shorter secrets are refused before use).
    const env: Record<string, string> = {
      GIT_PASSWORD: "canary-token-x",
      SIGN_PASS: "wrong-passphrase",
    };
    const secrets: SecretSource = {
      readStdin: () => Promise.resolve(""),
      env: (name) => env[name],
    };
    const c = clusterConfig(
      `      signing: { ssh: { key: { file: ${dir}/enc }, passphrase: { env: SIGN_PASS } } }`,
    );
    await assert.rejects(
      resolveCredentials(c, dir, secrets),
      /^Error: cluster "dev": git\.signing\.ssh\.passphrase: the private key is encrypted and the passphrase is wrong$/,
    );
    env.SIGN_PASS = pass;
    const creds = await resolveCredentials(c, dir, secrets);
    assert.match(
      creds.signer?.description ?? "",
      /^signed with SSH key SHA256:\S+ \(ecdsa-sha2-nistp384\)$/,
    );
    assert.equal(redact(`x ${pass} y`), "x *** y");
    assert.equal(redact(key.privateKey).trim(), "***");

    const gpg = clusterConfig(`      signing: { gpg: { keyRing: { file: ${dir}/enc } } }`);
    await assert.rejects(
      resolveCredentials(gpg, dir, secrets),
      /cluster "dev": git\.signing\.gpg\.keyRing: expected an armored OpenPGP private key ring/,
    );
  });
});

// ---------------------------------------------------------------------------------------------
// OpenPGP, checked with the real gpg

interface GpgHome {
  home: string;
  gpg(args: string[], stdin?: string): Promise<Run>;
}

async function withGpgHome(dir: string, name: string, fn: (g: GpgHome) => Promise<void>) {
  const home = `${dir}/${name}`;
  await Deno.mkdir(home, { mode: 0o700 });
  const gpg = (args: string[], stdin?: string) =>
    run("gpg", ["--batch", "--pinentry-mode", "loopback", ...args], {
      env: { GNUPGHOME: home },
      stdin,
    });
  try {
    await fn({ home, gpg });
  } finally {
    await run("gpgconf", ["--kill", "all"], { env: { GNUPGHOME: home } });
  }
}

/** Generates a key in `g`; returns its long key id and fingerprint. */
async function gpgKey(g: GpgHome, uid: string, algo: string, pass: string) {
  const r = await g.gpg(["--passphrase", pass, "--quick-gen-key", uid, algo, "sign", "never"]);
  assert.equal(r.code, 0, r.stderr);
  const list = await g.gpg(["--with-colons", "--list-keys", uid]);
  const pub = list.stdout.split("\n").find((l) => l.startsWith("pub:"))!.split(":");
  const fpr = list.stdout.split("\n").find((l) => l.startsWith("fpr:"))!.split(":")[9];
  return { keyId: pub[4], fingerprint: fpr };
}

function verifyGpg(g: GpgHome, repo: string, rev = "HEAD") {
  return run("git", ["-C", repo, "verify-commit", "--raw", rev], { env: { GNUPGHOME: g.home } });
}

Deno.test({
  name: "OpenPGP signature: a gpg-exported, passphrase-protected key ring signs; gpg verifies",
  ignore: missing("gpg"),
}, async () => {
  await withTemp(async (dir) => {
    await withGpgHome(dir, "gnupg", async (g) => {
      const pass = "canary-gpg-pass-5e21";
      const first = await gpgKey(g, "Flux <flux@example.com>", "ed25519", pass);
      const second = await gpgKey(g, "Other <other@example.com>", "rsa2048", pass);
      const exported = await g.gpg(["--passphrase", pass, "--armor", "--export-secret-keys"]);
      assert.equal(exported.code, 0, exported.stderr);
      const keyRing = exported.stdout;
      assert.match(keyRing, /BEGIN PGP PRIVATE KEY BLOCK/);

      // No key id: the first key of the ring, as flux.
      const signer = await createCommitSigner({ format: "openpgp", keyRing, passphrase: pass });
      assert.equal(
        signer.description,
        `signed with OpenPGP key ${first.keyId} (Flux <flux@example.com>)`,
      );
      const repo = await signedRepo(dir, signer, 2);
      const raw = (await run("git", ["-C", repo, "cat-file", "-p", "HEAD"])).stdout;
      assert.match(
        raw,
        /\ngpgsig -----BEGIN PGP SIGNATURE-----\n( .*\n)+ -----END PGP SIGNATURE-----\n/,
      );
      for (const rev of ["HEAD~1", "HEAD"]) {
        const ok = await verifyGpg(g, repo, rev);
        assert.equal(ok.code, 0, ok.stderr);
        assert.match(ok.stderr, new RegExp(`VALIDSIG ${first.fingerprint} `));
      }
      const forged = await verifyGpg(g, repo, await tampered(repo, "HEAD"));
      assert.notEqual(forged.code, 0, `a forged commit verified:\n${forged.stderr}`);
      assert.match(forged.stderr, /BADSIG/);

      // keyId picks another key of the ring (with or without 0x, any case).
      const chosen = await createCommitSigner({
        format: "openpgp",
        keyRing,
        passphrase: pass,
        keyId: `0x${second.keyId.toLowerCase()}`,
      });
      assert.match(chosen.description, new RegExp(`OpenPGP key ${second.keyId} `));
      const repo2 = await signedRepo(`${dir}/second`, chosen);
      const ok2 = await verifyGpg(g, repo2);
      assert.equal(ok2.code, 0, ok2.stderr);
      assert.match(ok2.stderr, new RegExp(`VALIDSIG ${second.fingerprint} `));

      // A keyring that does not hold the public key cannot vouch for the signature.
      await withGpgHome(dir, "empty", async (empty) => {
        const r = await verifyGpg(empty, repo);
        assert.notEqual(r.code, 0, r.stderr);
        assert.doesNotMatch(r.stderr, /GOODSIG|VALIDSIG/);
      });

      const fails = async (keys: { passphrase?: string; keyId?: string }, field: string) =>
        await assert.rejects(
          createCommitSigner({ format: "openpgp", keyRing, ...keys }),
          (e) => e instanceof SigningKeyError && e.field === field,
        );
      await fails({}, "passphrase");
      await fails({ passphrase: "wrong" }, "passphrase");
      await fails({ passphrase: pass, keyId: "0123456789ABCDEF" }, "keyId");
    });
  });
});

Deno.test({
  name: "OpenPGP signature: a public key ring is refused with the field named",
  ignore: missing("gpg"),
}, async () => {
  await withTemp(async (dir) => {
    await withGpgHome(dir, "gnupg", async (g) => {
      await gpgKey(g, "Flux <flux@example.com>", "ed25519", "p4ss-word");
      const pub = await g.gpg(["--armor", "--export"]);
      await assert.rejects(
        createCommitSigner({ format: "openpgp", keyRing: pub.stdout }),
        (e) =>
          e instanceof SigningKeyError && e.field === "keyRing" &&
          /public key ring/.test(e.message),
      );
    });
  });
});
