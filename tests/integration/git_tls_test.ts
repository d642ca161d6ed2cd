/**
 * git over HTTPS against a real HTTPS git server (the sandbox's `git http-backend` behind TLS, with
 * a certificate from the sandbox CA): `git.caFile` makes a private CA trusted, and a server whose
 * certificate no trusted CA signed is refused in words, before anything is pushed or applied.
 */
import assert from "node:assert/strict";
import {
  assertTempClean,
  type CommandResult,
  type FleetEnv,
  manifestYaml,
  withFleetEnv,
} from "../helpers/harness.ts";
import { makeGitHttp } from "../../lib/git/transports/isomorphic/http.ts";
import {
  checkoutRepo,
  commitAndPush,
  httpsRemote,
} from "../../lib/git/transports/isomorphic/mod.ts";

const CANARY = "canary-tls-token-5b1e0c97a2";
const author = { name: "fluxfleet-test", email: "test@example.com" };

/** The git server over HTTPS with repository fleet; its CA in `${dir}/sandbox-ca.pem`. */
function withEnv(fn: (env: FleetEnv) => Promise<void>): Promise<void> {
  return withFleetEnv({
    prefix: "fluxfleet-tls-",
    git: { users: { git: CANARY }, tls: true },
    repos: ["fleet"],
    // The system trust store stays as it is: only git.caFile may make the sandbox CA trusted.
    cliEnv: { GIT_PASSWORD: CANARY },
  }, async (env) => {
    await Deno.writeTextFile(`${env.dir}/sandbox-ca.pem`, env.git.caPem!);
    await fn(env);
  });
}

/** One cluster, token auth over the https:// URL; `gitExtra` lines go under `defaults.git`. */
async function writeManifest(
  env: FleetEnv,
  gitExtra: string[] = [],
  url = env.git.repoUrl("fleet"),
) {
  await Deno.writeTextFile(
    env.manifest,
    manifestYaml({
      timeout: "20s",
      git: [
        `url: ${url}`,
        ...gitExtra,
        `author: { name: ${author.name}, email: ${author.email} }`,
        "auth: { type: token, username: git, token: { env: GIT_PASSWORD } }",
      ],
      clusters: [{ name: "c0" }],
    }),
  );
  return env.manifest;
}

async function cli(env: FleetEnv, args: string[]): Promise<CommandResult> {
  const r = await env.cli(args);
  assert.ok(!r.stdout.includes(CANARY), `token leaked to stdout:\n${r.stdout}`);
  assert.ok(!r.stderr.includes(CANARY), `token leaked to stderr:\n${r.stderr}`);
  return r;
}

/** A CA of its own, unrelated to the sandbox's: trusting it must not make the server trusted. */
async function otherCaPem(dir: string): Promise<string> {
  const out = await new Deno.Command("openssl", {
    args: [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      `${dir}/other-ca.key`,
      "-subj",
      "/CN=not-the-sandbox-ca",
      "-days",
      "1",
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
      "-out",
      `${dir}/other-ca.pem`,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  await Deno.remove(`${dir}/other-ca.key`);
  return `${dir}/other-ca.pem`;
}

/** What fluxfleet says when no trusted CA signed the server's certificate. */
const UNTRUSTED =
  /TLS verification failed for https:\/\/127\.0\.0\.1:\d+\/fleet\.git \(the server's certificate is not trusted: unknown issuer, /;

Deno.test("sandbox git server over HTTPS: the real git and lib/git fetch and push with its CA", async () => {
  await withEnv(async ({ git, dir }) => {
    assert.match(git.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.match(git.caPem ?? "", /^-----BEGIN CERTIFICATE-----/);
    const repo = git.repoUrl("fleet");
    // The system git (curl, OpenSSL) with the CA: the server is a plain HTTPS git server to it.
    const lsRemote = (caInfo: string) =>
      new Deno.Command("git", {
        args: ["ls-remote", repo],
        clearEnv: true,
        // The token travels in the environment, not argv (visible to every local user).
        env: {
          GIT_CONFIG_COUNT: "1",
          GIT_CONFIG_KEY_0: "http.extraHeader",
          GIT_CONFIG_VALUE_0: `Authorization: Basic ${btoa(`git:${CANARY}`)}`,
          PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
          HOME: dir,
          GIT_CONFIG_NOSYSTEM: "1",
          GIT_CONFIG_GLOBAL: "/dev/null",
          GIT_TERMINAL_PROMPT: "0",
          GIT_SSL_CAINFO: caInfo,
        },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
    const trusted = await lsRemote(`${dir}/sandbox-ca.pem`);
    assert.equal(trusted.code, 0, new TextDecoder().decode(trusted.stderr));
    const untrusted = await lsRemote(await otherCaPem(dir));
    assert.notEqual(untrusted.code, 0);
    assert.match(new TextDecoder().decode(untrusted.stderr), /certificate/i);

    // lib/git over Deno's fetch with the CA: clone, commit and push land on the server.
    const h = makeGitHttp({ caPem: git.caPem, allowInsecureHttp: false, timeoutMs: 20_000 });
    try {
      const remote = httpsRemote({ url: repo, username: "git", password: CANARY }, h);
      const co = await checkoutRepo(remote, "main", `${dir}/clone`);
      const r = await commitAndPush(
        co,
        remote,
        [{ path: "a.yaml", content: "a: 1\n" }],
        "Add",
        author,
      );
      assert.equal(r.pushed, true);
      assert.equal(await git.headSha("fleet", "main"), r.head);
      assert.equal(await git.readFile("fleet", "main", "a.yaml"), "a: 1\n");
    } finally {
      h.close();
    }
  });
});

Deno.test("lib/git without the CA: refused as an untrusted certificate, not retried, nothing pushed", async () => {
  await withEnv(async ({ git, dir }) => {
    const h = makeGitHttp({ allowInsecureHttp: false, timeoutMs: 20_000 });
    try {
      const remote = httpsRemote(
        { url: git.repoUrl("fleet"), username: "git", password: CANARY },
        h,
      );
      await assert.rejects(
        checkoutRepo(remote, "main", `${dir}/clone`),
        (e: Error) => {
          assert.match(e.message, UNTRUSTED);
          assert.match(e.message, /set git\.caFile/);
          return true;
        },
      );
      assert.equal(h.requests, 1, "a certificate failure is permanent: no retry");
      // The TLS handshake failed: the server never saw a request, let alone the token.
      assert.equal(git.requests.length, 0);
    } finally {
      h.close();
    }
  });
});

Deno.test("plan and apply over https:// with git.caFile: verified against the sandbox CA, commit lands", async () => {
  await withEnv(async (env) => {
    // No allowInsecureHttp: https:// needs no opt-in, only the CA.
    const manifest = await writeManifest(env, ["caFile: ./sandbox-ca.pem"]);
    const plan = await cli(env, ["plan", "--detailed-exitcode", manifest]);
    assert.equal(plan.code, 2, plan.stdout + plan.stderr);
    assert.match(plan.stdout, /cluster c0 {2}\(https:\/\/127\.0\.0\.1:\d+\/fleet\.git main/);
    assert.ok(plan.stdout.includes("+ commit clusters/c0/flux-system/gotk-sync.yaml"), plan.stdout);
    assert.equal(env.git.pushCount(), 0, "plan must not push");

    const apply = await cli(env, ["apply", "--auto-approve", manifest]);
    assert.doesNotMatch(apply.stdout + apply.stderr, /TLS verification failed/);
    assert.equal(env.git.pushCount(), 1, apply.stdout + apply.stderr);
    const [commit] = await env.git.log("fleet", "main");
    assert.match(commit.message, /^Add Flux v2\.4\.0 manifests for cluster c0/);
    assert.match(commit.author, /fluxfleet-test/);
    const sync = await env.git.readFile("fleet", "main", "clusters/c0/flux-system/gotk-sync.yaml");
    assert.match(sync ?? "", /url: https:\/\/127\.0\.0\.1:\d+\/fleet\.git/);
    assert.ok(env.kube.getObject("v1", "Secret", "flux-system", "flux-system"));
    // Flux reads the same private-CA server: the source secret carries the CA as `caFile`.
    assert.equal(apply.code, 0, apply.stdout + apply.stderr);
    assert.match(apply.stdout, /c0: changed \(\d+ steps\), synced main@sha1:[0-9a-f]{40}/);
    const secret = env.kube.getObject("v1", "Secret", "flux-system", "flux-system") as {
      data: Record<string, string>;
    };
    assert.equal(atob(secret.data.caFile), env.git.caPem);
    const again = await cli(env, ["plan", "--detailed-exitcode", manifest]);
    assert.equal(again.code, 0, again.stdout + again.stderr);
    await assertTempClean(env.tmp);
  });
});

Deno.test("https:// without git.caFile: plan and apply fail in words (unknown issuer), suggest git.caFile", async () => {
  await withEnv(async (env) => {
    const manifest = await writeManifest(env);
    const plan = await cli(env, ["plan", manifest]);
    assert.equal(plan.code, 1, plan.stdout + plan.stderr);
    assert.match(plan.stdout, UNTRUSTED);
    assert.match(
      plan.stdout,
      /no CA of the system trust store signed it; for a private CA, set git\.caFile to the CA's PEM file\)/,
    );
    assert.doesNotMatch(plan.stdout + plan.stderr, /\n\s+at |fetch failed|error sending request/);

    const apply = await cli(env, ["apply", "--auto-approve", manifest]);
    assert.equal(apply.code, 1, apply.stdout + apply.stderr);
    assert.match(apply.stdout, UNTRUSTED);
    assert.equal(env.git.requests.length, 0, "the handshake fails: no request reaches the server");
    assert.equal(env.git.pushCount(), 0);
    assert.deepEqual(env.kube.mutatingRequests(), [], "the cluster is left alone");
    await assertTempClean(env.tmp);
  });
});

Deno.test("git.caFile holding another CA: the same untrusted-certificate error, naming git.caFile", async () => {
  await withEnv(async (env) => {
    const other = await otherCaPem(env.dir);
    const manifest = await writeManifest(env, [`caFile: ${other}`]);
    const r = await cli(env, ["plan", manifest]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, UNTRUSTED);
    assert.match(
      r.stdout,
      /neither the CA in git\.caFile nor a system CA signed it; check that git\.caFile holds the CA that issued the server's certificate\)/,
    );
    assert.equal(env.git.requests.length, 0);
  });
});

Deno.test("git.caFile without a PEM certificate is an error, not silently ignored", async () => {
  await withEnv(async (env) => {
    await Deno.writeTextFile(`${env.dir}/not-a-ca.pem`, "this is not a certificate\n");
    const manifest = await writeManifest(env, ["caFile: ./not-a-ca.pem"]);
    const r = await cli(env, ["plan", manifest]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout + r.stderr, /git\.caFile holds no PEM certificate/);
    assert.equal(env.git.requests.length, 0);
  });
});

Deno.test("allowInsecureHttp is only for http://: the same server as http:// is refused without it", async () => {
  await withEnv(async (env) => {
    const https = await writeManifest(env, ["caFile: ./sandbox-ca.pem"]);
    const ok = await cli(env, ["validate", https]);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    const http = await writeManifest(env, [], env.git.repoUrl("fleet").replace("https:", "http:"));
    const refused = await cli(env, ["validate", http]);
    assert.equal(refused.code, 1, refused.stdout + refused.stderr);
    assert.match(
      refused.stdout + refused.stderr,
      /use https:\/\/ or set git\.allowInsecureHttp: true/,
    );
  });
});
