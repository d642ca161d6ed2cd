/**
 * "A secret never leaks anywhere": a representative session with canary secrets (a git token,
 * and when sshd can run, a passphrase-protected SSH key), then a scan of everything it left:
 * every stdout and stderr, the plan JSON and plan file, the temp directory (which must be
 * empty), every file of a fresh clone made with system git and its whole history, every object
 * the git servers hold, and every Kubernetes API request body except the source Secret's own
 * server-side apply (the cluster secret is where Flux reads the credentials; that apply is
 * also the scan's positive control: the needles must be found there).
 *
 * Self-contained: it runs its own session on servers, a temp dir and a TMPDIR of its own, and scans
 * only what that session left, so it holds in any order of the test files, alone or beside others.
 */
import assert from "node:assert/strict";
import type { SshdServer } from "../../sandbox/ssh/sshd.ts";
import type { KubeSandbox } from "../../sandbox/kube/server.ts";
import {
  type CommandResult,
  type FleetEnv,
  manifestYaml,
  tokenGit,
  withFleetEnv,
  withSshd,
} from "../helpers/harness.ts";
import { missing } from "../helpers/tools.ts";

const RUN = crypto.randomUUID().slice(0, 8);
const TOKEN = `canary-scan-token-${RUN}`;
const WRONG_TOKEN = `canary-scan-wrong-token-${RUN}`;
const PASSPHRASE = `canary-scan-passphrase-${RUN}`;
const WRONG_PASSPHRASE = `canary-scan-wrong-passphrase-${RUN}`;
const SECRET_APPLY = "/api/v1/namespaces/flux-system/secrets/flux-system";
/** Without sshd only the token mode runs (locally; under CI=true a missing sshd fails the run). */
const SSHD_MISSING = missing("sshd");

interface Needle {
  label: string;
  value: string;
}

interface Captured {
  source: string;
  text: string;
}

const b64 = (s: string) => btoa(String.fromCharCode(...new TextEncoder().encode(s)));

/** The value, its base64 (as in a Secret's data) and, for tokens, the Basic credentials. */
function valueNeedles(what: string, value: string, basic: boolean): Needle[] {
  return [
    { label: `the ${what}`, value },
    { label: `the base64 of the ${what}`, value: b64(value) },
    ...(basic ? [{ label: `Basic credentials with the ${what}`, value: b64(`git:${value}`) }] : []),
  ];
}

/**
 * Every 40-character run of the key's body lines, but not those that are the public key (the
 * OpenSSH format carries the public blob in clear, and showing a public key is no leak); plus
 * the key as the Secret's `data` holds it (base64 of the whole file, in 40-character pieces).
 */
function keyNeedles(privateKey: string, publicKey: string): Needle[] {
  const pub = publicKey.split(" ")[1] ?? "";
  const out: Needle[] = [];
  const body = privateKey.split("\n").filter((l) => l.trim() && !l.startsWith("-----"));
  for (const line of body) {
    for (let i = 0; i + 40 <= line.length; i++) {
      const run = line.slice(i, i + 40);
      if (!pub.includes(run)) {
        out.push({ label: "a 40-character run of the private key", value: run });
      }
    }
  }
  const encoded = b64(privateKey);
  for (let i = 0; i + 40 <= encoded.length; i += 40) {
    out.push({ label: "the base64 of the private key", value: encoded.slice(i, i + 40) });
  }
  return out;
}

function hits(c: Captured, needles: Needle[]): string[] {
  const found = new Set<string>();
  for (const n of needles) if (c.text.includes(n.value)) found.add(`${n.label} in ${c.source}`);
  return [...found];
}

/** Every regular file under `dir` (symlinks are not followed), as latin1 text. */
async function filesUnder(dir: string, label: string): Promise<Captured[]> {
  const out: Captured[] = [];
  const latin1 = new TextDecoder("latin1");
  const walk = async (path: string, depth: number): Promise<void> => {
    assert.ok(depth < 64, `${path}: directories nested too deep`);
    for await (const e of Deno.readDir(path)) {
      const full = `${path}/${e.name}`;
      if (e.isDirectory) await walk(full, depth + 1);
      else if (e.isFile) {
        out.push({
          source: `${label}${full.slice(dir.length)}`,
          text: latin1.decode(await Deno.readFile(full)),
        });
      }
    }
  };
  await walk(dir, 0);
  return out;
}

async function git(args: string[], cwd?: string): Promise<string> {
  const out = await new Deno.Command("git", { args, cwd, stdout: "piped", stderr: "piped" })
    .output();
  const dec = new TextDecoder("latin1");
  assert.equal(out.code, 0, `git ${args.join(" ")}: ${dec.decode(out.stderr)}`);
  return dec.decode(out.stdout);
}

/**
 * A fresh clone made with system git (every file of it, `.git/` included, and `git log -p --all`),
 * and every object the server's bare repository holds, reachable or not.
 */
async function repository(bare: string, clone: string, label: string): Promise<Captured[]> {
  const safe = ["-c", "safe.directory=*"];
  await git([...safe, "clone", "--quiet", "--no-local", bare, clone]);
  return [
    ...await filesUnder(clone, `${label} clone`),
    {
      source: `${label} git log -p --all`,
      text: await git([...safe, "log", "-p", "--all"], clone),
    },
    {
      source: `${label} server objects`,
      text: await git([...safe, "--git-dir", bare, "cat-file", "--batch-all-objects", "--batch"]),
    },
  ];
}

/** One cluster whose `git:` settings are these lines. */
function manifest(cluster: string, git: string[]): string {
  return manifestYaml({ clusters: [{ name: cluster, git }] });
}

/**
 * Runs the session of one mode (the CLI's TMPDIR is the environment's); every run's output is
 * captured under its label.
 */
async function session(
  fleet: FleetEnv,
  mode: string,
  file: string,
  env: Record<string, string>,
  wrong: Record<string, string>,
  planFile: string,
  captured: Captured[],
): Promise<void> {
  const run = async (
    label: string,
    args: string[],
    expect: number,
    extra = env,
  ): Promise<CommandResult> => {
    const r = await fleet.cli([...args, file], extra);
    captured.push({ source: `${mode}: ${label} stdout`, text: r.stdout });
    captured.push({ source: `${mode}: ${label} stderr`, text: r.stderr });
    assert.equal(r.code, expect, `${label}: exit ${r.code}\n${r.stdout}${r.stderr}`);
    return r;
  };
  await run("plan", ["plan"], 0);
  const json = await run("plan --output json", ["plan", "--output", "json"], 0);
  assert.equal(JSON.parse(json.stdout).kind, "fluxfleet.plan");
  await run("plan --out", ["plan", "--out", planFile], 0);
  captured.push({ source: `${mode}: the plan file`, text: await Deno.readTextFile(planFile) });
  await run("apply", ["apply", "--auto-approve"], 0);
  const replan = await run("re-plan", ["plan", "--detailed-exitcode"], 0);
  assert.match(replan.stdout, /No changes\./);
  await run("apply with a wrong secret", ["apply", "--auto-approve"], 1, { ...env, ...wrong });
  const destroy = await run("destroy", [
    "destroy",
    "--auto-approve",
    "--delete-git-manifests",
  ], 0);
  assert.match(destroy.stdout, /destroyed/);
}

/**
 * API request bodies: the secret values may appear only in the source Secret's server-side
 * apply, and `expected` must appear there (proof that the needles match what is really sent).
 */
function scanRequests(
  kube: KubeSandbox,
  label: string,
  mine: Needle[],
  never: Needle[],
  expected: Needle[],
) {
  const applies = kube.requests.filter((r) => r.method === "PATCH" && r.path === SECRET_APPLY);
  assert.ok(applies.length >= 1, `${label}: the source Secret was never applied`);
  const problems: string[] = [];
  for (const [i, r] of kube.requests.entries()) {
    const c = { source: `${label} ${r.method} ${r.path} (request ${i})`, text: r.body ?? "" };
    problems.push(...hits(c, applies.includes(r) ? never : [...mine, ...never]));
  }
  assert.deepEqual(problems, [], "secret values in API requests other than the Secret's apply");
  for (const n of expected) {
    assert.ok(
      applies.some((r) => r.body?.includes(n.value)),
      `${label}: the Secret's apply should hold ${n.label} (the scan would miss it otherwise)`,
    );
  }
}

Deno.test("canary secrets never leak: outputs, plan files, temp dir, repository history, API requests", async () => {
  const scan = (sshd: SshdServer | undefined) =>
    withFleetEnv({
      prefix: "fluxfleet-canary-",
      git: { users: { git: TOKEN } },
      repos: ["fleet"],
      // s0: the SSH mode's cluster.
      contexts: sshd ? ["c0", "s0"] : ["c0"],
      kube: { reconcileDelayMs: 20, recordBodies: true },
    }, (env) => scanSession(env, sshd));
  if (!SSHD_MISSING) await withSshd(scan);
  else await scan(undefined);
});

async function scanSession(env: FleetEnv, sshd: SshdServer | undefined): Promise<void> {
  const { dir, tmp, git: gitServer } = env;
  const [tokenKube, sshKube] = env.kubes;
  const captured: Captured[] = [];
  if (sshd) await sshd.createRepo("fleet");

  // Token mode.
  const tokenFile = `${dir}/token.yaml`;
  await Deno.writeTextFile(tokenFile, manifest("c0", tokenGit(gitServer.repoUrl("fleet"))));
  await session(
    env,
    "token mode",
    tokenFile,
    // The commit cache in the work dir, scanned with it.
    { GIT_PASSWORD: TOKEN, FLUXFLEET_COMMIT_CACHE: `${dir}/commit-cache` },
    { GIT_PASSWORD: WRONG_TOKEN },
    `${dir}/token-plan.json`,
    captured,
  );
  const tokenMine = valueNeedles("token", TOKEN, true);
  const wrongToken = valueNeedles("wrong token", WRONG_TOKEN, true);
  const needles = [...tokenMine, ...wrongToken];
  scanRequests(
    tokenKube,
    "token mode",
    tokenMine,
    wrongToken,
    tokenMine.filter((n) => n.label === "the base64 of the token"),
  );
  captured.push(
    ...await repository(`${gitServer.root}/fleet.git`, `${dir}/clone-token`, "token"),
  );

  // SSH mode with a passphrase-protected key.
  if (sshd && sshKube) {
    const keyFile = `${dir}/keys/id_ed25519`;
    await Deno.mkdir(`${dir}/keys`);
    const gen = await new Deno.Command("ssh-keygen", {
      args: ["-q", "-t", "ed25519", "-N", PASSPHRASE, "-C", "", "-f", keyFile],
    }).output();
    assert.equal(gen.code, 0, new TextDecoder().decode(gen.stderr));
    await Deno.chmod(keyFile, 0o600);
    assert.equal((await Deno.stat(keyFile)).mode! & 0o777, 0o600);
    const privateKey = await Deno.readTextFile(keyFile);
    const publicKey = await Deno.readTextFile(`${keyFile}.pub`);
    await sshd.authorize(publicKey);
    const sshFile = `${dir}/ssh.yaml`;
    await Deno.writeTextFile(
      sshFile,
      manifest("s0", [
        `url: ${sshd.hostedUrl("fleet")}`,
        "author: { name: fluxfleet-test, email: test@example.com }",
        `auth: { type: ssh, privateKey: { file: ${keyFile} }, passphrase: { env: KEY_PASSPHRASE } }`,
      ]),
    );
    await session(
      env,
      "SSH mode",
      sshFile,
      { KEY_PASSPHRASE: PASSPHRASE },
      { KEY_PASSPHRASE: WRONG_PASSPHRASE },
      `${dir}/ssh-plan.json`,
      captured,
    );
    const keyRuns = keyNeedles(privateKey, publicKey);
    // The scan must recognise the key file itself, or it would not recognise a leak of it.
    assert.ok(keyRuns.length > 100, `${keyRuns.length} key needles`);
    assert.deepEqual(hits({ source: "the key file", text: privateKey }, keyRuns), [
      "a 40-character run of the private key in the key file",
    ]);
    const sshMine = [...valueNeedles("passphrase", PASSPHRASE, false), ...keyRuns];
    const wrongPassphrase = valueNeedles("wrong passphrase", WRONG_PASSPHRASE, false);
    needles.push(...sshMine, ...wrongPassphrase);
    // Neither mode's secrets may reach the other cluster either.
    scanRequests(
      sshKube,
      "SSH mode",
      sshMine,
      [...wrongPassphrase, ...tokenMine],
      sshMine.filter((n) => n.label.startsWith("the base64 of")),
    );
    captured.push(...await repository(`${sshd.root}/fleet.git`, `${dir}/clone-ssh`, "ssh"));
  }

  const leftInTmp = await filesUnder(tmp, "TMPDIR");
  captured.push(...leftInTmp);
  // Everything else fluxfleet may have written next to the manifests (the key itself aside).
  for (const c of await filesUnder(dir, "work dir")) {
    if (!/^work dir\/(keys|clone-|tmp\/)/.test(c.source)) captured.push(c);
  }
  // Plans kept what they read (lib/git/commit_cache.ts): it is scanned like the rest.
  assert.ok(
    captured.some((c) => c.source.startsWith("work dir/commit-cache/")),
    "the commit cache was not written, so not scanned",
  );
  const leaks = captured.flatMap((c) => hits(c, needles));
  assert.deepEqual(leaks, [], "canary secrets found");
  assert.ok(captured.length > 20, `only ${captured.length} things scanned`);
  assert.deepEqual(leftInTmp.map((c) => c.source), [], "temporary files left behind");
  const leftDirs: string[] = [];
  for await (const e of Deno.readDir(tmp)) leftDirs.push(e.name);
  assert.deepEqual(leftDirs, [], "temporary directories left behind");
}
