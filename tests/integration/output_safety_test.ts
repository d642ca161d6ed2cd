/**
 * Output is safe for terminals and logs: texts that come from servers (a Kubernetes Status
 * message, a Flux condition, what a git server answered, a Bitbucket error) reach the user with
 * their control characters and escape sequences removed, and the credentials a hostile or
 * careless server echoes back are redacted in every form it may echo them in: as they are,
 * base64 (alone, as Basic credentials, or inside a longer base64 blob such as a Secret's data),
 * URL-encoded, JSON-escaped. And a kubeconfig that is not valid YAML is reported without the line
 * the parser stopped at (it may hold a token).
 */
import assert from "node:assert/strict";
import {
  type CommandResult,
  type FleetEnv,
  manifestYaml,
  tokenGit,
  withFleetEnv,
} from "../helpers/harness.ts";
import { outputSchemaErrors } from "../helpers/output_schema.ts";
import { type BitbucketSandbox, startBitbucketSandbox } from "../../sandbox/bitbucket/server.ts";

const RUN = crypto.randomUUID().slice(0, 8);
/** Quotes, a backslash, a space, `/` and `+`: its JSON-escaped and URL-encoded forms differ. */
const GIT_TOKEN = `canary "git" \\tok/en+${RUN}`;
const KUBE_TOKEN = `canary+kube/token=${RUN}`;

/** A window title, a screen clear, a carriage return over a fake "ok", 8-bit CSI, a DCS. */
const ESCAPES = "\x1b]0;pwned\x07\x1b[2J\x1b[31m\rFAKE OK\x1b[0m\x9b2J\x1bP+q\x1b\\";

const utf8 = (s: string) => new TextEncoder().encode(s);
const b64 = (s: string) => btoa(String.fromCharCode(...utf8(s)));

/** Every form a server might echo `secret` in. */
function echoes(secret: string): string {
  return [
    secret,
    b64(secret),
    b64(`git:${secret}`), // Basic credentials
    b64(`{"auths":{"ghcr.io":{"password":"${secret}"}}}`), // inside a Secret's data
    b64(`x${secret}`),
    b64(`xy${secret}`),
    encodeURIComponent(secret),
    JSON.stringify(secret).slice(1, -1),
  ].join(" ");
}

const HOSTILE = `denied by policy ${ESCAPES} echo: ${echoes(GIT_TOKEN)} ${echoes(KUBE_TOKEN)}`;

/** Bytes as a binary string, to compare with what atob gives. */
const binary = (s: string) => String.fromCharCode(...utf8(s));

/**
 * Where the middle of `secret` can be read back from `text` (as it is, JSON-escaped,
 * URL-encoded, or base64-decoded at any alignment of any base64-looking run), or undefined.
 */
function leak(text: string, secret: string): string | undefined {
  const middle = secret.slice(2, -2);
  if (text.includes(middle)) return "as it is";
  if (text.includes(JSON.stringify(middle).slice(1, -1))) return "JSON-escaped";
  if (text.includes(encodeURIComponent(middle))) return "URL-encoded";
  for (const [run] of text.matchAll(/[A-Za-z0-9+/]{8,}/g)) {
    for (let shift = 0; shift < 4; shift++) {
      const part = run.slice(shift);
      const decoded = atob(part.slice(0, part.length - (part.length % 4)));
      if (decoded.includes(binary(middle))) return `base64 (${run})`;
    }
  }
  return undefined;
}

function assertSafe(r: CommandResult, what: string) {
  for (const [name, text] of [["stdout", r.stdout], ["stderr", r.stderr]]) {
    // deno-lint-ignore no-control-regex -- control characters are what is looked for
    const control = [...text].find((c) => /[\x00-\x08\x0b-\x1f\x7f-\x9f]/.test(c));
    assert.equal(
      control,
      undefined,
      `${what}: ${name} holds the control character U+${
        control?.charCodeAt(0).toString(16).padStart(4, "0")
      }:\n${JSON.stringify(text)}`,
    );
    assert.ok(!text.includes("pwned"), `${what}: ${name} holds the OSC title text`);
    assert.ok(!/\\u00(1b|07|9b)/i.test(text), `${what}: ${name} holds an escaped control`);
    for (const secret of [GIT_TOKEN, KUBE_TOKEN]) {
      const how = leak(text, secret);
      assert.equal(how, undefined, `${what}: ${name} leaks "${secret}" ${how}:\n${text}`);
    }
  }
}

function withEnv(fn: (env: FleetEnv) => Promise<void>, flux?: "fail"): Promise<void> {
  return withFleetEnv({
    prefix: "fluxfleet-output-safety-",
    git: { users: { git: GIT_TOKEN } },
    repos: ["fleet"],
    kube: { token: KUBE_TOKEN, reconcileDelayMs: 20, ...(flux ? { flux } : {}) },
    cliEnv: { GIT_PASSWORD: GIT_TOKEN },
    manifest: ({ git }) =>
      manifestYaml({ git: tokenGit(git.repoUrl("fleet")), clusters: [{ name: "c0" }] }),
  }, fn);
}

/** `plan` as text and as JSON; `fault` injects the failure before each run. */
async function planBoth(env: FleetEnv, fault: () => void): Promise<[CommandResult, CommandResult]> {
  fault();
  const text = await env.cli(["plan", env.manifest]);
  fault();
  const json = await env.cli(["plan", "--output", "json", env.manifest]);
  return [text, json];
}

Deno.test("a Status message echoing escapes and the credentials in every form is printed clean", async () => {
  await withEnv(async (env) => {
    const [text, json] = await planBoth(
      env,
      () => env.kube.failNext({ status: 403, method: "GET", message: HOSTILE }),
    );
    assert.equal(text.code, 1, text.stderr);
    assert.match(text.stdout, /x cannot plan: .*403 Forbidden.*denied by policy.*echo: \*\*\*/);
    assertSafe(text, "plan");
    assert.equal(json.code, 1, json.stderr);
    const doc = JSON.parse(json.stdout);
    assert.deepEqual(outputSchemaErrors(doc), []);
    assert.match(doc.clusters[0].error, /denied by policy/);
    assertSafe(json, "plan --output json");
  });
});

Deno.test("a git server answering with escapes and echoed credentials instead of git is printed clean", async () => {
  await withEnv(async (env) => {
    const [text, json] = await planBoth(
      env,
      () => env.git.failNext({ phase: "advertise", status: 200, body: HOSTILE }),
    );
    assert.equal(text.code, 1, text.stderr);
    assert.match(
      text.stdout,
      /x cannot plan: http:\/\/\S+ did not answer as a git server .*; it said: denied by policy/,
    );
    assertSafe(text, "plan");
    assert.equal(json.code, 1, json.stderr);
    assert.match(JSON.parse(json.stdout).clusters[0].error, /denied by policy/);
    assertSafe(json, "plan --output json");
  });
});

Deno.test("a Flux condition message with escapes and echoed credentials is printed clean by apply and plan", async () => {
  await withEnv(async (env) => {
    env.kube.setFluxBehaviour("fail", HOSTILE);
    const apply = await env.cli(["apply", "--auto-approve", env.manifest]);
    assert.equal(apply.code, 1, apply.stdout + apply.stderr);
    assert.match(apply.stdout, /c0: failed: .*denied by policy/);
    assertSafe(apply, "apply");
    const plan = await env.cli(["plan", env.manifest]);
    assert.match(plan.stdout, /! Kustomization flux-system\/flux-system not ready: .*denied by/);
    assertSafe(plan, "plan");
    const json = await env.cli(["plan", "--output", "json", env.manifest]);
    const status = JSON.parse(json.stdout).clusters[0].status;
    assert.ok(
      status.some((s: { message: string }) => /denied by policy/.test(s.message)),
      json.stdout,
    );
    assertSafe(json, "plan --output json");
  }, "fail");
});

Deno.test("a Bitbucket error message with escapes and echoed credentials is printed clean", async () => {
  await withEnv(async (env) => {
    const bb: BitbucketSandbox = await startBitbucketSandbox({
      users: { alice: { token: GIT_TOKEN, admin: true } },
      projects: ["PROJ"],
      gitRoot: env.git.root,
      httpCloneBase: env.git.url,
    });
    try {
      await Deno.writeTextFile(
        env.manifest,
        manifestYaml({
          clusters: [{
            name: "c0",
            git: [
              "provider: bitbucket-server",
              "hostname: bitbucket.example.com",
              `apiUrl: ${bb.url}`,
              "allowInsecureHttp: true",
              "owner: PROJ",
              "username: alice",
              "repository: fleet",
              "tokenAuth: true",
              "token: { env: GIT_PASSWORD }",
            ],
          }],
        }),
      );
      const [text, json] = await planBoth(env, () => bb.failNext(403, 1, undefined, HOSTILE));
      assert.equal(text.code, 1, text.stderr);
      assert.match(text.stdout + text.stderr, /Bitbucket says: denied by policy/);
      assertSafe(text, "plan");
      assert.match(json.stdout + json.stderr, /Bitbucket says: denied by policy/);
      assertSafe(json, "plan --output json");
    } finally {
      await bb.close();
    }
  });
});

Deno.test("a kubeconfig that is not valid YAML is reported by file and line, never with the line holding a token", async () => {
  await withEnv(async (env) => {
    const token = `canary-yaml-token-${RUN}`;
    await Deno.writeTextFile(
      `${env.dir}/kubeconfig`,
      [
        "apiVersion: v1",
        "kind: Config",
        "users:",
        "- name: c0",
        "  user:",
        `    token: ${token}: {`,
        "contexts: []",
        "",
      ].join("\n"),
    );
    const r = await env.cli(["plan", env.manifest]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /kube\.kubeconfig: .*\/kubeconfig is not valid YAML at line 6, column \d+/,
    );
    assert.equal(leak(r.stdout + r.stderr, token), undefined, r.stderr);
    assert.ok(!r.stderr.includes("canary-yaml"), r.stderr);
  });
});
