/**
 * isomorphic-git over SSH against a real OpenSSH server (sandbox/ssh/sshd.ts): clone, commit and
 * push with every key type, host key pinning and refusal, read-only and unknown keys, passphrases,
 * CodeCommit-style user names, and host key scans compared with ssh-keyscan.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { join } from "node:path";
import git from "isomorphic-git";
import { generateKeyPair, type SshKeyPair } from "../../lib/keys/generate.ts";
import { knownHostsLine, scanHostKey } from "../../lib/keys/known_hosts.ts";
import { ssh2CanSign } from "../../lib/keys/ssh2.ts";
import {
  parseSshUrl,
  type SshAccess,
  sshGitTransport,
} from "../../lib/git/transports/isomorphic/ssh.ts";
import { type SshdServer, startSshd } from "../../sandbox/ssh/sshd.ts";
import { freePort, isAlive } from "../../sandbox/ssh/process.ts";
import { withOwnTmpdir } from "../helpers/leftovers.ts";
import { missing } from "../helpers/tools.ts";

const AUTHOR = { name: "Fleet Bot", email: "bot@example.com" };
const PASSPHRASE = "correct horse battery";
const CODECOMMIT_USER = "APKAEIBAERJR2EXAMPLE";

async function run(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdin: "null", stdout: "piped", stderr: "piped" })
    .output();
  const dec = new TextDecoder();
  if (out.code !== 0) throw new Error(`${cmd} failed: ${dec.decode(out.stderr)}`);
  return dec.decode(out.stdout);
}

async function withWorkDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "fluxfleet-sshtest-" });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Runs fn with a transport and always closes it, like production code must. */
async function withTransport<T>(
  access: SshAccess,
  fn: (t: ReturnType<typeof sshGitTransport>) => Promise<T>,
): Promise<T> {
  const t = sshGitTransport(access);
  try {
    return await fn(t);
  } finally {
    await t.close();
  }
}

async function cloneCommitPush(
  access: SshAccess,
  file: string,
  content: string,
): Promise<{ sha: string; cloneMs: number; pushMs: number; requests: number }> {
  return await withWorkDir((dir) =>
    withTransport(access, async (t) => {
      const t0 = performance.now();
      await git.clone({
        fs,
        http: t.http,
        dir,
        url: t.url,
        ref: "main",
        singleBranch: true,
        depth: 1,
      });
      const cloneMs = performance.now() - t0;
      await Deno.writeTextFile(join(dir, file), content);
      await git.add({ fs, dir, filepath: file });
      const sha = await git.commit({ fs, dir, message: `add ${file}`, author: AUTHOR });
      const t1 = performance.now();
      const res = await git.push({ fs, http: t.http, dir, remote: "origin", ref: "main" });
      const pushMs = performance.now() - t1;
      assert.equal(res.ok, true);
      return { sha, cloneMs, pushMs, requests: t.requests };
    })
  );
}

async function errorOf(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof Error);
    return e;
  }
  assert.fail("expected an error");
}

function assertNoSecrets(message: string, privateKey: string, passphrase?: string): void {
  for (const line of privateKey.split("\n")) {
    if (line.length >= 16 && !line.startsWith("-----")) {
      assert.ok(!message.includes(line), "error message quotes key material");
    }
  }
  if (passphrase) assert.ok(!message.includes(passphrase), "error message quotes the passphrase");
}

Deno.test("parseSshUrl: ssh://, scp-like, ports, IPv6, CodeCommit user", () => {
  assert.deepEqual(parseSshUrl("ssh://git@github.com/org/repo.git"), {
    user: "git",
    host: "github.com",
    port: 22,
    path: "/org/repo.git",
  });
  assert.deepEqual(parseSshUrl("ssh://git@bitbucket.example.com:7999/proj/repo.git"), {
    user: "git",
    host: "bitbucket.example.com",
    port: 7999,
    path: "/proj/repo.git",
  });
  assert.deepEqual(parseSshUrl("git@github.com:org/repo.git"), {
    user: "git",
    host: "github.com",
    port: 22,
    path: "org/repo.git",
  });
  assert.deepEqual(
    parseSshUrl(`ssh://${CODECOMMIT_USER}@git-codecommit.eu-west-1.amazonaws.com/v1/repos/fleet`),
    {
      user: CODECOMMIT_USER,
      host: "git-codecommit.eu-west-1.amazonaws.com",
      port: 22,
      path: "/v1/repos/fleet",
    },
  );
  assert.deepEqual(parseSshUrl("ssh://[::1]:2222/srv/r.git"), {
    user: "git",
    host: "::1",
    port: 2222,
    path: "/srv/r.git",
  });
  assert.throws(() => parseSshUrl("https://github.com/org/repo.git"), /not an SSH git URL/);
  assert.throws(() => parseSshUrl("ssh://git@host"), /missing or invalid repository path/);
  assert.throws(() => parseSshUrl("ssh://git:pw@host/r.git"), /must not contain a password/);
});

Deno.test({
  name: "SSH transport against a real sshd",
  ignore: missing("sshd"),
}, (t) => withOwnTmpdir(() => sshTransportSteps(t)));

/** In a TMPDIR of its own: its sshd, keys and clones, all of which must be gone at the end. */
async function sshTransportSteps(t: Deno.TestContext): Promise<void> {
  // RSA-4096 takes seconds: generate it once, while sshd starts.
  const rsaStarted = performance.now();
  const rsaPending = generateKeyPair({ algorithm: "rsa", rsaBits: 4096 }, "rsa4096@test").then(
    (k) => ({ key: k, ms: performance.now() - rsaStarted }),
  );
  const sshdStarted = performance.now();
  let server: SshdServer | undefined;
  try {
    server = await startSshd();
    const sshd = server;
    console.log(`  sshd start: ${(performance.now() - sshdStarted).toFixed(0)} ms`);
    const keys: Record<string, SshKeyPair> = {};
    for (
      const [name, spec] of [["ed25519", { algorithm: "ed25519" }], ["ecdsa-p384", {
        algorithm: "ecdsa",
        ecdsaCurve: "p384",
      }]] as const
    ) {
      const t0 = performance.now();
      keys[name] = await generateKeyPair(spec, `${name}@test`);
      console.log(`  key generation ${name}: ${(performance.now() - t0).toFixed(1)} ms`);
    }
    const rsa = await rsaPending;
    keys["rsa-4096"] = rsa.key;
    console.log(`  key generation rsa-4096: ${rsa.ms.toFixed(0)} ms (overlapping sshd start)`);
    for (const k of Object.values(keys)) await sshd.authorize(k.publicKey);

    const access = (repo: string, key: SshKeyPair, extra: Partial<SshAccess> = {}): SshAccess => ({
      url: sshd.repoUrl(repo),
      privateKey: key.privateKey,
      knownHosts: sshd.knownHosts(),
      ...extra,
    });

    for (const name of Object.keys(keys)) {
      await t.step(`clone + commit + push with a ${name} key`, async () => {
        const repo = `fleet-${name}`;
        await sshd.createRepo(repo, { files: { "README.md": "# fleet\n" } });
        const r = await cloneCommitPush(access(repo, keys[name]), "cluster.yaml", `key: ${name}\n`);
        console.log(
          `  ${name}: clone ${r.cloneMs.toFixed(0)} ms (incl. connect), push ${
            r.pushMs.toFixed(0)
          } ms, ${r.requests} ssh execs`,
        );
        assert.equal(await sshd.headSha(repo, "main"), r.sha);
        assert.equal(await sshd.readFile(repo, "main", "cluster.yaml"), `key: ${name}\n`);
        assert.equal(r.requests, 2);
      });
    }

    await t.step(
      "ECDSA P-256/P-384 keys whose scalar has the top bit set authenticate",
      async () => {
        // Half of all ECDSA keys: ssh2 fails to sign with their OpenSSH form under Deno.
        for (const curve of ["p256", "p384"] as const) {
          let key: SshKeyPair | undefined;
          for (let i = 0; i < 64 && !key; i++) {
            const k = await generateKeyPair({ algorithm: "ecdsa", ecdsaCurve: curve });
            if (!await ssh2CanSign(k.privateKey)) key = k;
          }
          if (!key) {
            console.log(`  ${curve}: runtime signs every OpenSSH ECDSA key; testing a random one`);
            key = await generateKeyPair({ algorithm: "ecdsa", ecdsaCurve: curve });
          }
          await sshd.authorize(key.publicKey);
          const repo = `ecdsa-${curve}`;
          await sshd.createRepo(repo, { files: { "a.txt": "a\n" } });
          const r = await cloneCommitPush(access(repo, key), "b.txt", "b\n");
          assert.equal(await sshd.headSha(repo, "main"), r.sha);
        }
      },
    );

    await t.step(
      "fetch when up to date (no POST) and a second push reuse one connection",
      async () => {
        await sshd.createRepo("reuse", { files: { "a.txt": "a\n" } });
        await withWorkDir((dir) =>
          withTransport(access("reuse", keys["ed25519"]), async (tr) => {
            await git.clone({
              fs,
              http: tr.http,
              dir,
              url: tr.url,
              ref: "main",
              singleBranch: true,
            });
            const t0 = performance.now();
            await git.fetch({ fs, http: tr.http, dir, ref: "main", singleBranch: true });
            const fetchMs = performance.now() - t0;
            await Deno.writeTextFile(join(dir, "b.txt"), "b\n");
            await git.add({ fs, dir, filepath: "b.txt" });
            const sha = await git.commit({ fs, dir, message: "b", author: AUTHOR });
            await git.push({ fs, http: tr.http, dir, remote: "origin", ref: "main" });
            console.log(`  up-to-date fetch on an open connection: ${fetchMs.toFixed(0)} ms`);
            assert.equal(await sshd.headSha("reuse", "main"), sha);
            assert.equal(tr.requests, 3);
          })
        );
      },
    );

    await t.step("empty repository: push creates refs/heads/main", async () => {
      await sshd.createRepo("empty");
      await withWorkDir((dir) =>
        withTransport(access("empty", keys["ecdsa-p384"]), async (tr) => {
          const info = await git.getRemoteInfo2({ http: tr.http, url: tr.url, protocolVersion: 1 });
          assert.deepEqual(info.refs ?? [], []);
          await git.init({ fs, dir, defaultBranch: "main" });
          await git.addRemote({ fs, dir, remote: "origin", url: tr.url });
          await Deno.writeTextFile(join(dir, "README.md"), "first\n");
          await git.add({ fs, dir, filepath: "README.md" });
          const sha = await git.commit({ fs, dir, message: "first", author: AUTHOR });
          await git.push({
            fs,
            http: tr.http,
            dir,
            remote: "origin",
            ref: "main",
            remoteRef: "refs/heads/main",
          });
          assert.equal(await sshd.headSha("empty", "main"), sha);
        })
      );
    });

    await t.step(
      "passphrase-protected key: right passphrase works, wrong one is a clean error",
      async () => {
        const enc = await withWorkDir(async (dir) => {
          const file = join(dir, "id");
          await run("ssh-keygen", [
            "-q",
            "-t",
            "ed25519",
            "-N",
            PASSPHRASE,
            "-C",
            "enc",
            "-f",
            file,
          ]);
          return {
            privateKey: await Deno.readTextFile(file),
            publicKey: (await Deno.readTextFile(`${file}.pub`)).trim(),
          };
        });
        await sshd.authorize(enc.publicKey);
        await sshd.createRepo("secret", { files: { "a.txt": "a\n" } });
        const ok = access("secret", { ...keys["ed25519"], privateKey: enc.privateKey });
        await cloneCommitPush({ ...ok, passphrase: PASSPHRASE }, "b.txt", "b\n");
        const wrong = await errorOf(
          cloneCommitPush({ ...ok, passphrase: "not the passphrase" }, "c.txt", "c\n"),
        );
        assert.match(wrong.message, /the private key is encrypted and the passphrase is wrong/);
        assertNoSecrets(wrong.message, enc.privateKey, PASSPHRASE);
        const missing = await errorOf(cloneCommitPush(ok, "c.txt", "c\n"));
        assert.match(missing.message, /needs a passphrase/);
      },
    );

    await t.step(
      "legacy encrypted PEM key (decrypted up front, never handed to ssh2 encrypted)",
      async () => {
        const pem = await withWorkDir(async (dir) => {
          const file = join(dir, "id");
          await run("ssh-keygen", [
            "-q",
            "-t",
            "rsa",
            "-b",
            "2048",
            "-m",
            "PEM",
            "-N",
            PASSPHRASE,
            "-f",
            file,
          ]);
          return {
            privateKey: await Deno.readTextFile(file),
            publicKey: (await Deno.readTextFile(`${file}.pub`)).trim(),
          };
        });
        await sshd.authorize(pem.publicKey);
        await sshd.createRepo("pem", { files: { "a.txt": "a\n" } });
        const r = await cloneCommitPush(
          {
            url: sshd.repoUrl("pem"),
            privateKey: pem.privateKey,
            passphrase: PASSPHRASE,
            knownHosts: sshd.knownHosts(),
          },
          "b.txt",
          "b\n",
        );
        assert.equal(await sshd.headSha("pem", "main"), r.sha);
      },
    );

    await t.step("CodeCommit-style user name (SSH key id) in the URL", async () => {
      await sshd.createRepo("codecommit", { files: { "a.txt": "a\n" } });
      const url = sshd.repoUrl("codecommit", CODECOMMIT_USER);
      assert.ok(url.startsWith(`ssh://${CODECOMMIT_USER}@127.0.0.1:${sshd.port}/`));
      const r = await cloneCommitPush(
        access("codecommit", keys["ed25519"], { url }),
        "b.txt",
        "b\n",
      );
      assert.equal(await sshd.headSha("codecommit", "main"), r.sha);
    });

    await sshd.createRepo("pinned", { files: { "a.txt": "a\n" } });

    await t.step(
      "host key pinned to one entry (ed25519, or RSA via rsa-sha2-*) is accepted",
      async () => {
        for (const type of ["ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256"]) {
          const hk = sshd.hostKeys.find((k) => k.type === type);
          assert.ok(hk, `sandbox has a ${type} host key`);
          const line = `[127.0.0.1]:${sshd.port} ${hk.publicKey}\n`;
          await withWorkDir((dir) =>
            withTransport(
              access("pinned", keys["ed25519"], { knownHosts: line }),
              (tr) =>
                git.clone({ fs, http: tr.http, dir, url: tr.url, ref: "main", singleBranch: true }),
            )
          );
        }
      },
    );

    await t.step("mismatched known_hosts is refused, naming both fingerprints", async () => {
      const impostor = await generateKeyPair({ algorithm: "ed25519" });
      const [type, base64] = impostor.publicKey.split(" ");
      const knownHosts = knownHostsLine("127.0.0.1", sshd.port, {
        type,
        base64,
        fingerprint: impostor.fingerprint,
      });
      const real = sshd.hostKeys.find((k) => k.type === "ssh-ed25519")!;
      const err = await errorOf(
        withWorkDir((dir) =>
          withTransport(
            access("pinned", keys["ed25519"], { knownHosts }),
            (tr) => git.clone({ fs, http: tr.http, dir, url: tr.url, ref: "main" }),
          )
        ),
      );
      assert.match(
        err.message,
        new RegExp(`host key for \\[127\\.0\\.0\\.1\\]:${sshd.port} does not match known_hosts`),
      );
      assert.ok(err.message.includes(`expected ${impostor.fingerprint}`), err.message);
      assert.ok(err.message.includes(`got ${real.fingerprint}`), err.message);
      assert.match(err.message, /man-in-the-middle/);
    });

    await t.step("no known_hosts entry for [host]:port is refused before connecting", async () => {
      const otherPort = sshd.knownHosts().replaceAll(`]:${sshd.port} `, `]:${sshd.port + 1} `);
      const err = await errorOf(
        withWorkDir((dir) =>
          withTransport(
            access("pinned", keys["ed25519"], { knownHosts: otherPort }),
            (tr) => git.clone({ fs, http: tr.http, dir, url: tr.url, ref: "main" }),
          )
        ),
      );
      assert.match(
        err.message,
        new RegExp(`no known_hosts entry for \\[127\\.0\\.0\\.1\\]:${sshd.port}`),
      );
    });

    await t.step("read-only key: clone works, push is refused in words", async () => {
      const reader = await generateKeyPair({ algorithm: "ed25519" }, "reader");
      await sshd.authorize(reader.publicKey, { readOnly: true });
      await sshd.createRepo("readonly", { files: { "a.txt": "a\n" } });
      const before = await sshd.headSha("readonly", "main");
      const err = await errorOf(cloneCommitPush(access("readonly", reader), "b.txt", "b\n"));
      assert.match(err.message, /refused to accept pushes/);
      assert.match(err.message, /read-only/);
      assert.equal(await sshd.headSha("readonly", "main"), before);
    });

    await t.step(
      "unauthorized key: authentication error in words, with the key's fingerprint",
      async () => {
        const stranger = await generateKeyPair({ algorithm: "ed25519" });
        const err = await errorOf(cloneCommitPush(access("pinned", stranger), "b.txt", "b\n"));
        assert.match(
          err.message,
          new RegExp(`the server refused the SSH key for user git at 127\\.0\\.0\\.1:${sshd.port}`),
        );
        assert.ok(err.message.includes(stranger.fingerprint), err.message);
        assertNoSecrets(err.message, stranger.privateKey);
        // Revoking takes a key away again.
        await sshd.authorize(stranger.publicKey);
        await cloneCommitPush(access("pinned", stranger), "s.txt", "s\n");
        await sshd.revoke(stranger.publicKey);
        await errorOf(cloneCommitPush(access("pinned", stranger), "t.txt", "t\n"));
      },
    );

    await t.step("missing repository and refused connection", async () => {
      const missing = await errorOf(
        cloneCommitPush(access("no-such-repo", keys["ed25519"]), "a", "a"),
      );
      assert.match(missing.message, /not found/);
      assert.match(missing.message, /no-such-repo\.git/);
      const port = freePort();
      const refused = await errorOf(
        cloneCommitPush(
          access("pinned", keys["ed25519"], {
            url: `ssh://git@127.0.0.1:${port}/srv/x.git`,
            knownHosts: sshd.knownHosts().replaceAll(`]:${sshd.port} `, `]:${port} `),
          }),
          "a",
          "a",
        ),
      );
      assert.match(refused.message, /connection refused/);
    });

    await t.step("a server that never speaks SSH times out in words", async () => {
      // Accepts TCP and stays silent, like a black-holing firewall or proxy would.
      const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const port = listener.addr.port;
      const held: Deno.Conn[] = [];
      const accepting = (async () => {
        for await (const conn of listener) held.push(conn);
      })();
      try {
        const t0 = performance.now();
        const err = await errorOf(
          cloneCommitPush(
            access("pinned", keys["ed25519"], {
              url: `ssh://git@127.0.0.1:${port}/srv/x.git`,
              knownHosts: sshd.knownHosts().replaceAll(`]:${sshd.port} `, `]:${port} `),
              timeoutMs: 700,
            }),
            "a",
            "a",
          ),
        );
        assert.match(err.message, /did not complete the handshake within 700 ms/);
        assert.ok(performance.now() - t0 < 5000);
      } finally {
        listener.close();
        for (const c of held) {
          try {
            c.close();
          } catch { /* closed by the peer */ }
        }
        await accepting.catch(() => {});
      }
    });

    await t.step(
      "scanHostKey matches ssh-keyscan; rsa-sha2 algorithms give the ssh-rsa key",
      async () => {
        const t0 = performance.now();
        const scanned = await scanHostKey("127.0.0.1", sshd.port, { timeoutMs: 5000 });
        console.log(`  scanHostKey: ${(performance.now() - t0).toFixed(0)} ms`);
        const keyscan =
          (await run("ssh-keyscan", ["-p", String(sshd.port), "-t", "ed25519", "127.0.0.1"]))
            .split("\n").find((l) => l.trim() !== "" && !l.startsWith("#"))!;
        assert.equal(knownHostsLine("127.0.0.1", sshd.port, scanned), keyscan.trim());
        const rsa = await scanHostKey("127.0.0.1", sshd.port, {
          algorithms: ["rsa-sha2-512", "rsa-sha2-256"],
        });
        assert.equal(rsa.type, "ssh-rsa");
        const expected = sshd.hostKeys.find((k) => k.type === "ssh-rsa")!;
        assert.equal(`${rsa.type} ${rsa.base64}`, expected.publicKey);
        assert.equal(rsa.fingerprint, expected.fingerprint);
        const ecdsa = await scanHostKey("127.0.0.1", sshd.port, {
          algorithms: ["ecdsa-sha2-nistp256"],
        });
        assert.equal(
          ecdsa.fingerprint,
          sshd.hostKeys.find((k) => k.type.startsWith("ecdsa"))!.fingerprint,
        );
        await assert.rejects(
          scanHostKey("127.0.0.1", freePort(), { timeoutMs: 5000 }),
          /connection refused/,
        );
      },
    );
  } catch (e) {
    if (server) {
      console.error(`sshd log (tail):\n${server.log().split("\n").slice(-20).join("\n")}`);
    }
    throw e;
  } finally {
    await server?.stop();
    await rsaPending.catch(() => {});
  }
  // Nothing left behind: no sshd (listener or per-connection children); no temp dirs or keys
  // (withOwnTmpdir).
  assert.equal(isAlive(server.pid), false, "sshd still running");
}
