/**
 * `git.transport: system` (lib/git/transports/system/) against a real OpenSSH server (sandbox/ssh/sshd.ts):
 * clone + commit + push, empty repositories, new branches, passphrase-protected and PEM keys,
 * ssh-agent, host key refusal, refused / unknown keys, read-only keys, missing repositories,
 * refused and silent servers, a non-fast-forward race, cleanup on SIGINT, on exit and after
 * SIGKILL, the private key held only by a private ssh-agent — and the time of a clone + push with
 * system git, the ssh2 transport and HTTP for the same small repo.
 *
 * The test runs with a TMPDIR of its own (as do the child processes it starts): what it checks for
 * leftovers is only what it made, whatever other fluxfleet processes on the machine do.
 */
import assert from "node:assert/strict";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { generateKeyPair, type SshKeyPair } from "../../lib/keys/generate.ts";
import { knownHostsLine } from "../../lib/keys/known_hosts.ts";
import { sshGitTransport } from "../../lib/git/transports/isomorphic/ssh.ts";
import {
  checkoutRepo,
  commitAndPush,
  type GitRemote,
  httpsRemote,
} from "../../lib/git/transports/isomorphic/mod.ts";
import { readRepoFiles } from "../../lib/git/checkout.ts";
import { type RepoCheckout } from "../../lib/git/types.ts";
import { makeGitHttp } from "../../lib/git/transports/isomorphic/http.ts";
import {
  systemCheckoutRepo,
  systemCommitAndPush,
  systemRemoteHead,
  type SystemSshAccess,
} from "../../lib/git/transports/system/mod.ts";
import { type SshdServer, startSshd } from "../../sandbox/ssh/sshd.ts";
import { freePort, isAlive } from "../../sandbox/ssh/process.ts";
import {
  assertNoKeyMaterial,
  environOf,
  keyNeedles,
  processesGone,
  processesUsing,
  withOwnTmpdir,
} from "../helpers/leftovers.ts";
import { startGitServer } from "../../sandbox/git/http_server.ts";
import { missing } from "../helpers/tools.ts";
import {
  SESSION_PREFIX,
  sweepStaleSessionDirs,
} from "../../lib/git/transports/system/session_dir.ts";
import { silentListener } from "../helpers/listeners.ts";

const AUTHOR = { name: "Fleet Bot", email: "bot@example.com" };
const PASSPHRASE = "canary-passphrase-5b1e7d";
const FAST = { attempts: 1, initialDelayMs: 1, maxDelayMs: 1 };
const WORK_PREFIX = "fluxfleet-systest-";

/** The session dirs of the system transport (lib/git/transports/system/) in this test's TMPDIR. */
function sessionDirs(): string[] {
  return [...Deno.readDirSync(tmpdir())].map((e) => e.name)
    .filter((n) => n.startsWith(SESSION_PREFIX));
}

async function withWorkDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: WORK_PREFIX });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function run(cmd: string, args: string[], stdin?: string): Promise<string> {
  const child = new Deno.Command(cmd, {
    args,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  if (out.code !== 0) throw new Error(`${cmd} failed: ${dec.decode(out.stderr)}`);
  return dec.decode(out.stdout);
}

/** git on a bare repo of the sandbox, as root, ignoring every config. */
function bareGit(repoDir: string, args: string[]): Promise<string> {
  return run("git", ["-c", "safe.directory=*", "--git-dir", repoDir, ...args]);
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

/** Every line of key body, and the passphrase, must stay out of `text`. */
function assertNoSecrets(text: string, secrets: string[]): void {
  for (const secret of secrets) {
    for (const line of secret.split("\n")) {
      if (line.length >= 16 && !line.startsWith("-----")) {
        assert.ok(!text.includes(line), "key material or passphrase in an error message or file");
      }
    }
    if (secret.length < 16) assert.ok(!text.includes(secret), "a secret leaked");
  }
}

async function treeText(dir: string): Promise<string> {
  let all = "";
  for await (const e of Deno.readDir(dir)) {
    const p = join(dir, e.name);
    if (e.isDirectory) all += await treeText(p);
    else if (e.isFile) all += new TextDecoder("latin1").decode(await Deno.readFile(p));
  }
  return all;
}

async function sshKeygen(dir: string, args: string[]): Promise<SshKeyPair> {
  const file = join(dir, "id");
  await run("ssh-keygen", ["-q", "-C", "test", "-f", file, ...args]);
  return {
    privateKey: await Deno.readTextFile(file),
    publicKey: (await Deno.readTextFile(`${file}.pub`)).trim(),
    fingerprint: "",
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

type Interruption = "sigint" | "exit" | "kill" | "kill-guard";

const CHILD_SCRIPT = (mode: Interruption) => `
import { systemCheckoutRepo } from ${
  JSON.stringify(new URL("../../lib/git/transports/system/mod.ts", import.meta.url).href)
};
const input = JSON.parse(await new Response(Deno.stdin.readable).text());
const op = systemCheckoutRepo(input.access, "main", input.dir, { attempts: 1, initialDelayMs: 1, maxDelayMs: 1 });
${
  mode === "exit"
    ? `
// Deno.exit() while the operation runs (what main.ts does on a second Ctrl-C).
op.catch(() => {});
while (![...Deno.readDirSync(input.tmp)].some((e) => e.name.startsWith(${
      JSON.stringify(SESSION_PREFIX)
    }) && !input.before.includes(e.name))) {
  await new Promise((r) => setTimeout(r, 20));
}
await new Promise((r) => setTimeout(r, 300));
Deno.exit(7);`
    : `
try {
  await op;
  console.log("finished");
  Deno.exit(0);
} catch (e) {
  console.log("error: " + e.message);
  Deno.exit(130);
}`
}
`;

interface Interrupted {
  code: number;
  stdout: string;
  /** The session dir's path. */
  session: string;
  /** Processes still using the session dir (after a bounded wait, except for kill-guard). */
  leftovers: { pid: number; argv: string[] }[];
}

/**
 * Runs an operation in a child Deno and, once its ssh runs, interrupts it: SIGINT, Deno.exit(),
 * SIGKILL, or SIGKILL of both the child and its guard process (session_guard.ts).
 */
async function interruptedChild(
  mode: Interruption,
  access: SystemSshAccess,
  dir: string,
): Promise<Interrupted> {
  const before = sessionDirs();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", "--quiet", CHILD_SCRIPT(mode)],
    cwd: new URL("../..", import.meta.url).pathname,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(JSON.stringify({ access, dir, tmp: tmpdir(), before })));
  await w.close();
  let name: string | undefined;
  const deadline = Date.now() + 30_000;
  while (!name && Date.now() < deadline) {
    name = sessionDirs().find((n) => !before.includes(n));
    if (!name) await new Promise((r) => setTimeout(r, 20));
  }
  assert.ok(name, "the child never started its git operation");
  const session = join(tmpdir(), name);
  if (mode !== "exit") {
    // Let ssh start (it then hangs in the banner exchange).
    const started = Date.now();
    while (
      !processesUsing(session).some((p) => basename(p.argv[0]) === "ssh") &&
      Date.now() - started < 20_000
    ) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(
      processesUsing(session).some((p) => basename(p.argv[0]) === "ssh"),
      "ssh never started",
    );
  }
  if (mode === "sigint") child.kill("SIGINT");
  if (mode === "kill-guard") {
    const guards = processesUsing(session)
      .filter((p) => p.argv[0] === "sh" && p.argv.includes("fluxfleet-ssh-guard"));
    assert.equal(guards.length, 1, "no guard process");
    for (const g of guards) Deno.kill(g.pid, "SIGKILL");
  }
  if (mode === "kill" || mode === "kill-guard") child.kill("SIGKILL");
  const out = await child.output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr),
    session,
    leftovers: mode === "kill-guard" ? processesUsing(session) : await processesGone(session),
  };
}

Deno.test({
  name: "system git over SSH against a real sshd",
  ignore: missing("sshd"),
}, (t) => withOwnTmpdir((tmp) => systemGitSteps(t, tmp)));

/** In a TMPDIR of its own: its sshd, clones and session dirs, all of which must be gone at the end. */
async function systemGitSteps(t: Deno.TestContext, tmp: string): Promise<void> {
  const errors: string[] = [];
  const secrets: string[] = [PASSPHRASE];
  const keep = (e: Error) => {
    errors.push(e.message);
    return e;
  };
  let server: SshdServer | undefined;
  const sandboxRoots: string[] = [];
  try {
    server = await startSshd();
    const sshd = server;
    sandboxRoots.push(sshd.root);
    const key = await generateKeyPair({ algorithm: "ed25519" }, "system@test");
    secrets.push(key.privateKey);
    await sshd.authorize(key.publicKey);
    const access = (repo: string, extra: Partial<SystemSshAccess> = {}): SystemSshAccess => ({
      url: sshd.hostedUrl(repo),
      privateKey: key.privateKey,
      knownHosts: sshd.knownHosts(),
      timeoutMs: 10_000,
      ...extra,
    });

    await t.step("clone + commit + push + delete with an ed25519 key", async () => {
      await sshd.createRepo("fleet", { files: { "README.md": "# fleet\n" } });
      await withWorkDir(async (work) => {
        const dir = join(work, "c");
        const t0 = performance.now();
        const co = await systemCheckoutRepo(access("fleet"), "main", dir);
        const cloneMs = performance.now() - t0;
        assert.equal(co.branchExists, true);
        assert.equal(co.head, await sshd.headSha("fleet", "main"));
        assert.equal(co.url, sshd.hostedUrl("fleet"));
        assert.deepEqual(await readRepoFiles(co, ["README.md", "x.yaml"]), {
          "README.md": "# fleet\n",
          "x.yaml": null,
        });
        assert.equal(
          (await run("git", ["-C", dir, "rev-parse", "--is-shallow-repository"])).trim(),
          "true",
        );
        const changes = [{ path: "clusters/a/flux-system/gotk-sync.yaml", content: "a: 1\n" }];
        const t1 = performance.now();
        const r = await systemCommitAndPush(co, access("fleet"), changes, "Add a", AUTHOR);
        const pushMs = performance.now() - t1;
        console.log(`  system git: clone ${cloneMs.toFixed(0)} ms, push ${pushMs.toFixed(0)} ms`);
        assert.equal(r.pushed, true);
        assert.equal(r.attempts, 1);
        assert.equal(await sshd.headSha("fleet", "main"), r.head);
        assert.equal(await systemRemoteHead(access("fleet"), "main"), r.head);
        assert.equal(await systemRemoteHead(access("fleet"), "no-such-branch"), null);
        assert.equal(co.head, r.head);
        assert.equal(
          await sshd.readFile("fleet", "main", "clusters/a/flux-system/gotk-sync.yaml"),
          "a: 1\n",
        );
        const log = await run("git", ["-C", dir, "log", "-1", "--format=%an <%ae>|%cn|%s"]);
        assert.equal(log.trim(), "Fleet Bot <bot@example.com>|Fleet Bot|Add a");
        // Nothing changed: no commit, no push.
        const same = await systemCommitAndPush(co, access("fleet"), changes, "again", AUTHOR);
        assert.deepEqual(same, { head: r.head, pushed: false, attempts: 1 });
        // content null deletes.
        const del = await systemCommitAndPush(
          co,
          access("fleet"),
          [{ path: "clusters/a/flux-system/gotk-sync.yaml", content: null }],
          "Remove a",
          AUTHOR,
        );
        assert.equal(del.pushed, true);
        assert.equal(
          await sshd.readFile("fleet", "main", "clusters/a/flux-system/gotk-sync.yaml"),
          null,
        );
        // .git/config names the URL and nothing that outlives the run.
        const config = await Deno.readTextFile(join(dir, ".git/config"));
        assert.ok(config.includes(`url = ${sshd.hostedUrl("fleet")}`), config);
        assert.doesNotMatch(config, /sshCommand|IdentityFile|ffssh-|askpass/i);
        assertNoSecrets(await treeText(join(dir, ".git")), secrets);
      });
      assert.deepEqual(sessionDirs(), []);
    });

    await t.step("empty repository: the push creates main", async () => {
      await sshd.createRepo("empty");
      await withWorkDir(async (work) => {
        const co = await systemCheckoutRepo(access("empty"), "main", join(work, "c"));
        assert.equal(co.branchExists, false);
        assert.equal(co.head, null);
        const r = await systemCommitAndPush(
          co,
          access("empty"),
          [{ path: "clusters/a/kustomization.yaml", content: "k: 1\n" }],
          "First",
          AUTHOR,
        );
        assert.equal(r.pushed, true);
        assert.equal(await sshd.headSha("empty", "main"), r.head);
        assert.equal(co.branchExists, true);
      });
    });

    await t.step("a branch that does not exist starts from the default branch", async () => {
      await sshd.createRepo("branches", { files: { "a.txt": "a\n" } });
      const main = await sshd.headSha("branches", "main");
      await withWorkDir(async (work) => {
        const co = await systemCheckoutRepo(access("branches"), "fleet", join(work, "c"));
        assert.equal(co.branchExists, false);
        assert.equal(co.head, main);
        assert.deepEqual(await readRepoFiles(co, ["a.txt"]), { "a.txt": "a\n" });
        const r = await systemCommitAndPush(
          co,
          access("branches"),
          [{ path: "b.txt", content: "b\n" }],
          "b",
          AUTHOR,
        );
        assert.equal(await sshd.headSha("branches", "fleet"), r.head);
        assert.equal(await sshd.headSha("branches", "main"), main);
        const parent = await bareGit(join(sshd.root, "branches.git"), [
          "rev-parse",
          "fleet^",
        ]);
        assert.equal(parent.trim(), main);
      });
    });

    await t.step(
      "passphrase-protected key: right passphrase works, wrong one is a clean error",
      async () => {
        const enc = await withWorkDir((d) => sshKeygen(d, ["-t", "ed25519", "-N", PASSPHRASE]));
        secrets.push(enc.privateKey);
        await sshd.authorize(enc.publicKey);
        await sshd.createRepo("secret", { files: { "a.txt": "a\n" } });
        const a = access("secret", { privateKey: enc.privateKey, passphrase: PASSPHRASE });
        await withWorkDir(async (work) => {
          const co = await systemCheckoutRepo(a, "main", join(work, "c"));
          const r = await systemCommitAndPush(co, a, [{ path: "b", content: "b\n" }], "b", AUTHOR);
          assert.equal(await sshd.headSha("secret", "main"), r.head);
          assertNoSecrets(await treeText(join(work, "c", ".git")), secrets);
        });
        const wrong = keep(
          await errorOf(withWorkDir((work) =>
            systemCheckoutRepo(
              { ...a, passphrase: "not-the-passphrase" },
              "main",
              join(work, "c"),
            )
          )),
        );
        assert.match(wrong.message, /the private key is encrypted and the passphrase is wrong/);
        assert.ok(!wrong.message.includes("not-the-passphrase"));
        const missing = keep(
          await errorOf(
            withWorkDir((work) =>
              systemCheckoutRepo({ ...a, passphrase: undefined }, "main", join(work, "c"))
            ),
          ),
        );
        assert.match(missing.message, /needs a passphrase/);

        // Legacy encrypted PEM goes to ssh as it is (askpass), PKCS#8 as unencrypted OpenSSH.
        for (
          const [name, args, passphrase] of [
            ["pem", ["-t", "rsa", "-b", "2048", "-m", "PEM", "-N", PASSPHRASE], PASSPHRASE],
            ["pkcs8", ["-t", "ecdsa", "-b", "384", "-m", "PKCS8", "-N", ""], undefined],
          ] as const
        ) {
          const k = await withWorkDir((d) => sshKeygen(d, [...args]));
          secrets.push(k.privateKey);
          await sshd.authorize(k.publicKey);
          await withWorkDir(async (work) => {
            const co = await systemCheckoutRepo(
              access("secret", { privateKey: k.privateKey, passphrase }),
              "main",
              join(work, name),
            );
            assert.equal(co.head, await sshd.headSha("secret", "main"), name);
          });
        }
      },
    );

    await t.step("ssh-agent, no private key given (useAgent)", async () => {
      const agentKey = await generateKeyPair({ algorithm: "ed25519" }, "agent@test");
      secrets.push(agentKey.privateKey);
      await sshd.authorize(agentKey.publicKey);
      await sshd.createRepo("agent", { files: { "a.txt": "a\n" } });
      await withWorkDir(async (work) => {
        const sock = join(work, "agent.sock");
        const agent = new Deno.Command("ssh-agent", {
          args: ["-D", "-a", sock],
          stdin: "null",
          stdout: "null",
          stderr: "null",
        }).spawn();
        const previous = Deno.env.get("SSH_AUTH_SOCK");
        try {
          for (let i = 0; i < 200; i++) {
            try {
              Deno.statSync(sock);
              break;
            } catch {
              await new Promise((r) => setTimeout(r, 10));
            }
          }
          Deno.env.set("SSH_AUTH_SOCK", sock);
          // From stdin: the key never touches the disk.
          await run("ssh-add", ["-q", "-"], agentKey.privateKey);
          const a = access("agent", { privateKey: undefined, useAgent: true });
          const co = await systemCheckoutRepo(a, "main", join(work, "c"));
          const r = await systemCommitAndPush(co, a, [{ path: "b", content: "b\n" }], "b", AUTHOR);
          assert.equal(await sshd.headSha("agent", "main"), r.head);
          // Without useAgent the agent is not asked, even though SSH_AUTH_SOCK is set.
          const noKey = keep(
            await errorOf(systemCheckoutRepo(
              access("agent", { privateKey: undefined }),
              "main",
              join(work, "d"),
            )),
          );
          assert.match(noKey.message, /needs a private key, or useAgent/);
          const stranger = await generateKeyPair({ algorithm: "ed25519" });
          const other = keep(
            await errorOf(systemCheckoutRepo(
              access("agent", { privateKey: stranger.privateKey }),
              "main",
              join(work, "e"),
              FAST,
            )),
          );
          assert.match(other.message, /the server refused the SSH key for git@127\.0\.0\.1:/);
          // An agent whose keys the server does not know.
          await run("ssh-add", ["-q", "-D"]);
          const none = keep(
            await errorOf(systemCheckoutRepo(a, "main", join(work, "f"), FAST)),
          );
          assert.match(none.message, /refused the SSH keys offered by ssh-agent/);
          // useAgent with a key: the key comes from fluxfleet's private agent, not the user's.
          const both = await systemCheckoutRepo(
            access("agent", { useAgent: true }),
            "main",
            join(work, "g"),
          );
          assert.equal(both.head, r.head);
          const listed = await new Deno.Command("ssh-add", { args: ["-L"] }).output();
          assert.ok(
            !new TextDecoder().decode(listed.stdout).includes(key.publicKey.split(" ")[1]),
            "fluxfleet's key went into the user's agent",
          );
        } finally {
          if (previous === undefined) Deno.env.delete("SSH_AUTH_SOCK");
          else Deno.env.set("SSH_AUTH_SOCK", previous);
          agent.kill("SIGTERM");
          await agent.status;
        }
      });
    });

    await t.step("host key mismatch is refused, naming both fingerprints", async () => {
      const impostor = await generateKeyPair({ algorithm: "ed25519" });
      const [type, base64] = impostor.publicKey.split(" ");
      const knownHosts = knownHostsLine("127.0.0.1", sshd.port, {
        type,
        base64,
        fingerprint: impostor.fingerprint,
      }) + "\n";
      const real = sshd.hostKeys.find((k) => k.type === "ssh-ed25519")!;
      const err = keep(
        await errorOf(
          withWorkDir((work) =>
            systemCheckoutRepo(access("fleet", { knownHosts }), "main", join(work, "c"), FAST)
          ),
        ),
      );
      assert.match(
        err.message,
        new RegExp(`host key for \\[127\\.0\\.0\\.1\\]:${sshd.port} does not match known_hosts`),
      );
      assert.ok(err.message.includes(`expected ${impostor.fingerprint}`), err.message);
      assert.ok(err.message.includes(`got ${real.fingerprint}`), err.message);
      assert.match(err.message, /man-in-the-middle/);
      // No entry at all for [host]:port.
      const otherPort = sshd.knownHosts().replaceAll(`]:${sshd.port} `, `]:${sshd.port + 1} `);
      const none = keep(
        await errorOf(withWorkDir((work) =>
          systemCheckoutRepo(
            access("fleet", { knownHosts: otherPort }),
            "main",
            join(work, "c"),
            FAST,
          )
        )),
      );
      assert.match(
        none.message,
        new RegExp(`no known_hosts entry for \\[127\\.0\\.0\\.1\\]:${sshd.port}: add`),
      );
      // known_hosts pins only the RSA key: the server must show it, and hostKeyAlgorithms works.
      const rsa = sshd.hostKeys.find((k) => k.type === "ssh-rsa")!;
      const rsaOnly = `[127.0.0.1]:${sshd.port} ${rsa.publicKey}\n`;
      for (const hostKeyAlgorithms of [undefined, ["rsa-sha2-512", "rsa-sha2-256"]]) {
        await withWorkDir((work) =>
          systemCheckoutRepo(
            access("fleet", { knownHosts: rsaOnly, hostKeyAlgorithms }),
            "main",
            join(work, "c"),
          )
        );
      }
      // The server has no key of the type pinned (only ed25519 offered, known_hosts has RSA).
      const other = keep(
        await errorOf(withWorkDir((work) =>
          systemCheckoutRepo(
            access("fleet", { knownHosts: rsaOnly, hostKeyAlgorithms: ["ssh-ed25519"] }),
            "main",
            join(work, "c"),
            FAST,
          )
        )),
      );
      assert.match(other.message, /does not match known_hosts/);
      assert.ok(other.message.includes(rsa.fingerprint), other.message);
    });

    await t.step("refused key, read-only key, missing repository in words", async () => {
      const stranger = await generateKeyPair({ algorithm: "ed25519" });
      secrets.push(stranger.privateKey);
      const refused = keep(
        await errorOf(withWorkDir((work) =>
          systemCheckoutRepo(
            access("fleet", { privateKey: stranger.privateKey }),
            "main",
            join(work, "c"),
            FAST,
          )
        )),
      );
      assert.match(
        refused.message,
        new RegExp(`the server refused the SSH key for git@127\\.0\\.0\\.1:${sshd.port}`),
      );
      assert.ok(refused.message.includes(stranger.fingerprint), refused.message);

      const reader = await generateKeyPair({ algorithm: "ed25519" });
      secrets.push(reader.privateKey);
      await sshd.authorize(reader.publicKey, { readOnly: true });
      await sshd.createRepo("readonly", { files: { "a.txt": "a\n" } });
      const before = await sshd.headSha("readonly", "main");
      const ro = access("readonly", { privateKey: reader.privateKey });
      const denied = keep(
        await errorOf(withWorkDir(async (work) => {
          const co = await systemCheckoutRepo(ro, "main", join(work, "c"));
          await systemCommitAndPush(co, ro, [{ path: "b", content: "b\n" }], "b", AUTHOR, 3, FAST);
        })),
      );
      assert.match(denied.message, /refused to accept pushes/);
      assert.match(denied.message, /read-only/);
      assert.equal(await sshd.headSha("readonly", "main"), before);

      const missing = keep(
        await errorOf(
          withWorkDir((work) =>
            systemCheckoutRepo(access("no-such-repo"), "main", join(work, "c"), FAST)
          ),
        ),
      );
      assert.match(missing.message, /repository \/no-such-repo\.git on 127\.0\.0\.1:\d+ not found/);
      assert.deepEqual(sessionDirs(), []);
    });

    await t.step(
      "a TMPDIR too long for the agent's socket: the session goes to /tmp, nothing is left",
      async () => {
        const long = join(tmp, "t".repeat(70));
        await Deno.mkdir(long);
        Deno.env.set("TMPDIR", long);
        const ours = () =>
          [...Deno.readDirSync("/tmp")].map((e) => e.name)
            .filter((n) =>
              n.startsWith(SESSION_PREFIX) && n.split(".")[1] === Deno.pid.toString(36)
            );
        const before = ours();
        try {
          const head = await systemRemoteHead(access("fleet"), "main");
          assert.match(String(head), /^[0-9a-f]{40}$/, "the operation works");
          assert.deepEqual([...Deno.readDirSync(long)], [], "session dir left in TMPDIR");
          assert.deepEqual(ours(), before, "session dir left in /tmp");
        } finally {
          Deno.env.set("TMPDIR", tmp);
          await Deno.remove(long);
        }
      },
    );

    await t.step("refused connection and a silent server, in words", async () => {
      const port = freePort();
      const refused = keep(
        await errorOf(withWorkDir((work) =>
          systemCheckoutRepo(
            access("x", { url: `ssh://git@127.0.0.1:${port}/x.git` }),
            "main",
            join(work, "c"),
            FAST,
          )
        )),
      );
      assert.match(
        refused.message,
        /cannot connect to git server 127\.0\.0\.1:\d+: connection refused/,
      );
      const silent = silentListener();
      try {
        const t0 = performance.now();
        const err = keep(
          await errorOf(withWorkDir((work) =>
            systemCheckoutRepo(
              access("x", { url: `ssh://git@127.0.0.1:${silent.port}/x.git`, timeoutMs: 1000 }),
              "main",
              join(work, "c"),
              FAST,
            )
          )),
        );
        assert.match(err.message, /did not answer within 1000 ms/);
        assert.ok(performance.now() - t0 < 8000);
      } finally {
        await silent.close();
      }
    });

    await t.step("non-fast-forward race: both changes survive, history stays linear", async () => {
      await sshd.createRepo("race", { files: { "README.md": "# race\n" } });
      await withWorkDir(async (work) => {
        const a = access("race");
        const ours = await systemCheckoutRepo(a, "main", join(work, "ours"));
        // Someone else pushes between our checkout and our push.
        const theirs = await systemCheckoutRepo(a, "main", join(work, "theirs"));
        const other = await systemCommitAndPush(
          theirs,
          a,
          [{ path: "other.yaml", content: "other: 1\n" }],
          "Other",
          AUTHOR,
        );
        const r = await systemCommitAndPush(
          ours,
          a,
          [{ path: "ours.yaml", content: "ours: 1\n" }],
          "Ours",
          AUTHOR,
        );
        assert.equal(r.pushed, true);
        assert.equal(r.attempts, 2);
        assert.equal(await sshd.headSha("race", "main"), r.head);
        assert.equal(await sshd.readFile("race", "main", "other.yaml"), "other: 1\n");
        assert.equal(await sshd.readFile("race", "main", "ours.yaml"), "ours: 1\n");
        const history = (await bareGit(join(sshd.root, "race.git"), [
          "rev-list",
          "--parents",
          "main",
        ])).trim().split("\n").map((l) => l.split(" "));
        assert.equal(history.length, 3);
        assert.ok(history.every((c) => c.length <= 2), "a merge commit appeared");
        assert.equal(history[0][1], other.head);

        // With a single attempt the race is reported in words.
        const again = await systemCheckoutRepo(a, "main", join(work, "again"));
        await systemCommitAndPush(theirs, a, [{ path: "o2", content: "2\n" }], "o2", AUTHOR);
        const nff = keep(
          await errorOf(
            systemCommitAndPush(again, a, [{ path: "x", content: "x\n" }], "x", AUTHOR, 1),
          ),
        );
        assert.match(nff.message, /rejected \(non-fast-forward\)/);
      });
    });

    await t.step(
      "the key is held only by a private ssh-agent: no key file, no passphrase in any environment",
      async () => {
        const enc = await withWorkDir((d) => sshKeygen(d, ["-t", "ed25519", "-N", PASSPHRASE]));
        secrets.push(enc.privateKey);
        await sshd.authorize(enc.publicKey);
        await sshd.createRepo("held", { files: { "a.txt": "a\n" } });
        const a = access("held", { privateKey: enc.privateKey, passphrase: PASSPHRASE });
        const fingerprint =
          (await run("ssh-keygen", ["-l", "-f", "-"], enc.publicKey)).split(" ")[1];
        await withWorkDir(async (work) => {
          const co = await systemCheckoutRepo(a, "main", join(work, "c"));
          const hold = await sshd.holdPushes("held");
          const push = systemCommitAndPush(co, a, [{ path: "b", content: "b\n" }], "b", AUTHOR);
          try {
            await hold.reached();
            const [name] = sessionDirs();
            const session = join(tmp, name);
            // The socket, the public key and known_hosts: nothing else, and nothing secret.
            assert.deepEqual(
              [...Deno.readDirSync(session)].map((e) => e.name).sort(),
              ["agent", "id.pub", "known_hosts"],
            );
            assert.ok(Deno.statSync(join(session, "agent")).isSocket);
            assert.equal(Deno.statSync(session).mode! & 0o777, 0o700);
            const needles = keyNeedles(enc.privateKey, PASSPHRASE);
            await assertNoKeyMaterial(session, needles);
            await assertNoKeyMaterial(work, needles);
            // The agent has the key, for a bounded time (ssh-add -t).
            const listed = await new Deno.Command("ssh-add", {
              args: ["-l"],
              env: { SSH_AUTH_SOCK: join(session, "agent") },
            }).output();
            assert.ok(new TextDecoder().decode(listed.stdout).includes(fingerprint));
            // git, ssh, the guard and the agent: none has the passphrase in its environment.
            const procs = processesUsing(session);
            assert.ok(procs.some((p) => basename(p.argv[0]) === "ssh"), "ssh is not running");
            assert.ok(procs.some((p) => basename(p.argv[0]) === "ssh-agent"), "no private agent");
            for (const p of procs) {
              assert.ok(
                !environOf(p.pid).includes(PASSPHRASE),
                `passphrase in ${p.argv[0]}'s env`,
              );
            }
          } finally {
            await hold.release();
          }
          const r = await push;
          assert.equal(await sshd.headSha("held", "main"), r.head);
        });
        assert.deepEqual(sessionDirs(), []);
      },
    );

    await t.step(
      "SIGINT and exit during an operation: key dir removed, git, ssh and the agent gone",
      async () => {
        const silent = silentListener();
        try {
          const a = access("x", {
            url: `ssh://git@127.0.0.1:${silent.port}/x.git`,
            timeoutMs: 60_000,
          });
          await withWorkDir(async (work) => {
            const int = await interruptedChild("sigint", a, join(work, "c"));
            assert.equal(int.code, 130, int.stdout);
            assert.match(int.stdout, /error: git fetch with .* was interrupted \(SIGINT\)/);
            assertNoSecrets(int.stdout, secrets);
            assert.ok(!sessionDirs().includes(basename(int.session)), "key dir left on SIGINT");
            assert.deepEqual(int.leftovers, [], "git/ssh/agent still running after SIGINT");

            const exit = await interruptedChild("exit", a, join(work, "d"));
            assert.equal(exit.code, 7, exit.stdout);
            assert.ok(!sessionDirs().includes(basename(exit.session)), "key dir left on exit");
            assert.deepEqual(exit.leftovers, [], "git/ssh/agent still running after exit");
          });
        } finally {
          await silent.close();
        }
      },
    );

    await t.step(
      "SIGKILL during an operation: the guard kills git, ssh and the agent and removes the dir",
      async () => {
        const enc = await withWorkDir((d) => sshKeygen(d, ["-t", "ed25519", "-N", PASSPHRASE]));
        secrets.push(enc.privateKey);
        const needles = keyNeedles(enc.privateKey, PASSPHRASE);
        const silent = silentListener();
        try {
          const a = access("x", {
            url: `ssh://git@127.0.0.1:${silent.port}/x.git`,
            privateKey: enc.privateKey,
            passphrase: PASSPHRASE,
            timeoutMs: 60_000,
          });
          await withWorkDir(async (work) => {
            const killed = await interruptedChild("kill", a, join(work, "c"));
            assert.equal(killed.code, 137, killed.stdout);
            assert.deepEqual(killed.leftovers, [], "git/ssh/agent still running after SIGKILL");
            assert.ok(!sessionDirs().includes(basename(killed.session)), "key dir left");
            await assertNoKeyMaterial(work, needles);

            // The guard killed as well: the agent leaves by itself (its parent is gone), the dir
            // holds nothing secret, and the next run's sweep removes it, killing what still runs.
            const both = await interruptedChild("kill-guard", a, join(work, "d"));
            assert.equal(both.code, 137, both.stdout);
            const stale = basename(both.session);
            assert.ok(sessionDirs().includes(stale), "the dir should outlive a killed guard");
            await assertNoKeyMaterial(both.session, needles);
            await assertNoKeyMaterial(work, needles);
            // A live operation of this process meanwhile: its dir is not swept.
            const live = systemCheckoutRepo(a, "main", join(work, "e"), FAST).catch((e) => e);
            let mine: string | undefined;
            while (!mine) {
              mine = sessionDirs().find((n) => n !== stale);
              await new Promise((r) => setTimeout(r, 20));
            }
            assert.deepEqual(sweepStaleSessionDirs(tmp), [stale]);
            assert.deepEqual(sessionDirs(), [mine]);
            assert.deepEqual(await processesGone(both.session), [], "stale processes left");
            await silent.close();
            assert.ok(await live instanceof Error);
          });
          assert.deepEqual(sessionDirs(), []);
        } finally {
          await silent.close().catch(() => {});
        }
      },
    );

    await t.step("clone + push time: system git vs ssh2 transport vs HTTP", async () => {
      const files = { "README.md": "# fleet\n", "clusters/.keep": "" };
      const rounds = 3;
      const times: Record<string, { clone: number[]; push: number[] }> = {};
      const measure = async (
        name: string,
        checkout: (dir: string) => Promise<RepoCheckout>,
        push: (co: RepoCheckout, i: number) => Promise<unknown>,
      ) => {
        times[name] = { clone: [], push: [] };
        for (let i = 0; i < rounds; i++) {
          await withWorkDir(async (work) => {
            const t0 = performance.now();
            const co = await checkout(join(work, "c"));
            const t1 = performance.now();
            await push(co, i);
            const t2 = performance.now();
            times[name].clone.push(t1 - t0);
            times[name].push.push(t2 - t1);
          });
        }
      };
      const change = (i: number) => [{ path: `clusters/c${i}.yaml`, content: `n: ${i}\n` }];

      await sshd.createRepo("bench-system", { files });
      const sys = access("bench-system");
      await measure(
        "system git (ssh)",
        (dir) => systemCheckoutRepo(sys, "main", dir),
        (co, i) => systemCommitAndPush(co, sys, change(i), `c${i}`, AUTHOR),
      );

      await sshd.createRepo("bench-ssh2", { files });
      let transport: ReturnType<typeof sshGitTransport> | undefined;
      let remote: GitRemote | undefined;
      await measure(
        "isomorphic-git + ssh2",
        (dir) => {
          transport = sshGitTransport({
            url: sshd.hostedUrl("bench-ssh2"),
            privateKey: key.privateKey,
            knownHosts: sshd.knownHosts(),
          });
          remote = {
            displayUrl: sshd.hostedUrl("bench-ssh2"),
            url: transport.url,
            headers: {},
            http: transport.http,
          };
          return checkoutRepo(remote, "main", dir);
        },
        async (co, i) => {
          try {
            await commitAndPush(co, remote!, change(i), `c${i}`, AUTHOR);
          } finally {
            await transport!.close();
          }
        },
      );
      assert.equal(await sshd.readFile("bench-ssh2", "main", "clusters/c2.yaml"), "n: 2\n");

      const http = await startGitServer({ users: { bot: "canary-http-token-91c2" } });
      sandboxRoots.push(http.root);
      const client = makeGitHttp({ allowInsecureHttp: true, timeoutMs: 30_000 });
      try {
        await http.createRepo("bench-http", { files });
        const r = httpsRemote(
          {
            url: http.repoUrl("bench-http"),
            username: "bot",
            password: "canary-http-token-91c2",
          },
          client,
        );
        await measure(
          "isomorphic-git + HTTP",
          (dir) => checkoutRepo(r, "main", dir),
          (co, i) => commitAndPush(co, r, change(i), `c${i}`, AUTHOR),
        );
        assert.equal(await http.readFile("bench-http", "main", "clusters/c2.yaml"), "n: 2\n");
      } finally {
        client.close();
        await http.close();
      }
      assert.equal(await sshd.readFile("bench-system", "main", "clusters/c2.yaml"), "n: 2\n");
      console.log(`  clone + commit + push of a small repo, median of ${rounds} (ms):`);
      for (const [name, v] of Object.entries(times)) {
        const c = median(v.clone);
        const p = median(v.push);
        console.log(
          `    ${name.padEnd(24)} clone ${c.toFixed(0).padStart(5)}  push ${
            p.toFixed(0).padStart(5)
          }  total ${(c + p).toFixed(0).padStart(5)}   (clones: ${
            v.clone.map((x) => x.toFixed(0)).join(", ")
          })`,
        );
      }
    });

    // No error message quoted key material or a passphrase.
    assertNoSecrets(errors.join("\n"), secrets);
  } catch (e) {
    if (server) {
      console.error(`sshd log (tail):\n${server.log().split("\n").slice(-20).join("\n")}`);
    }
    throw e;
  } finally {
    await server?.stop();
  }
  assert.equal(isAlive(server.pid), false, "sshd still running");
  for (const root of sandboxRoots) {
    assert.throws(() => Deno.statSync(root), Deno.errors.NotFound, `${root} left behind`);
  }
}
