/**
 * What the end-to-end tests share: the real git server (sandbox/git), local Kubernetes API servers
 * (sandbox/kube) behind one kubeconfig, a temp dir holding a TMPDIR for the CLI, a manifest, and
 * the CLI itself run as a child process (`deno run -A main.ts …`). `withFleetEnv` starts them all,
 * runs the test, and always stops the servers and removes the temp dir.
 */
import assert from "node:assert/strict";
import {
  type GitServer,
  type GitServerOptions,
  startGitServer,
} from "../../sandbox/git/http_server.ts";
import {
  type KubeSandbox,
  type KubeSandboxOptions,
  startKubeSandbox,
} from "../../sandbox/kube/server.ts";
import { writeKubeconfig } from "../../sandbox/kube/kubeconfig.ts";
import { type SshdServer, startSshd } from "../../sandbox/ssh/sshd.ts";
import { ROOT } from "./fixtures.ts";
import { whyMissing } from "./tools.ts";

export { ROOT };

/** The fixture install.yaml (the default `flux.manifests` of `manifestYaml`). */
export const INSTALL_MANIFEST = `${ROOT}fixtures/flux-install.yaml`;

/**
 * The SSH end-to-end tests need root (sshd serves real accounts) and OpenSSH's sshd.
 * @deprecated Declare such tests with `ignore: missing("sshd")` (tests/helpers/tools.ts): under
 * CI=true a missing sshd must fail the run, not skip it silently.
 */
export const CAN_RUN_SSHD = whyMissing("sshd") === undefined;

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end, stdin closed; `env` is added to this process's environment. */
export async function runCommand(
  cmd: string,
  args: string[],
  opts: { env?: Record<string, string>; cwd?: string } = {},
): Promise<CommandResult> {
  const out = await new Deno.Command(cmd, { args, env: opts.env, cwd: opts.cwd, stdin: "null" })
    .output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** The CLI (`deno run -A main.ts …args`) run to its end, with NO_COLOR=1 added to `env`. */
export function runCli(args: string[], env: Record<string, string> = {}): Promise<CommandResult> {
  return runCommand(Deno.execPath(), ["run", "-A", `${ROOT}main.ts`, ...args], {
    env: { NO_COLOR: "1", ...env },
  });
}

/** The CLI started, stdin closed; stdout and stderr piped or discarded. */
export function spawnCli(
  args: string[],
  env: Record<string, string> = {},
  output: "piped" | "null" = "piped",
): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}main.ts`, ...args],
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: output,
    stderr: output,
  }).spawn();
}

export interface FleetEnvOptions {
  /** Prefix of the temp dir's name. */
  prefix: string;
  /** Options of the git server (users, root, …). */
  git?: GitServerOptions;
  /** Repositories created, empty, on the git server before the test runs. */
  repos?: string[];
  /** One kube sandbox per context, in this order, all in `${dir}/kubeconfig` (default ["c0"]). */
  contexts?: string[];
  /** Options of every kube sandbox (default { reconcileDelayMs: 20 }). */
  kube?: KubeSandboxOptions;
  /** File name of the manifest in the temp dir (default flux-bootstrap.yaml). */
  manifestName?: string;
  /** The manifest's text, written before the test runs; without it the test writes its own. */
  manifest?: (servers: { git: GitServer; kubes: KubeSandbox[] }) => string;
  /** Environment of every CLI run, besides NO_COLOR=1 and TMPDIR=`tmp`. */
  cliEnv?: Record<string, string>;
  /**
   * `tmp` right in /tmp, with a short name: system git's agent socket then stays in the run's own
   * temp dir (lib/git/transports/system/session_dir.ts: a socket path holds at most 107 bytes), for tests that look
   * at that dir.
   */
  shortTmp?: boolean;
}

export interface FleetEnv {
  git: GitServer;
  /** One per context, in the order of `contexts`. */
  kubes: KubeSandbox[];
  /** The first of `kubes`. */
  kube: KubeSandbox;
  /** The temp dir (kubeconfig, manifest, tmp/), removed afterwards. */
  dir: string;
  /** `${dir}/tmp`, the TMPDIR of every CLI run: what fluxfleet leaves in temp stays here. */
  tmp: string;
  /** Path of the manifest (`${dir}/<manifestName>`). */
  manifest: string;
  /** Runs the CLI with exactly `args`; `env` is added to (and overrides) the options' cliEnv. */
  cli(args: string[], env?: Record<string, string>): Promise<CommandResult>;
  /** Starts the CLI in the same environment; stdout and stderr piped (default) or discarded. */
  spawn(
    args: string[],
    opts?: { env?: Record<string, string>; output?: "piped" | "null" },
  ): Deno.ChildProcess;
}

/** Sandbox contexts c0 … c<n-1>. */
export function contextNames(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `c${i}`);
}

/** Starts the servers of `opts`, runs `fn`, then always stops them and removes the temp dir. */
export async function withFleetEnv(
  opts: FleetEnvOptions,
  fn: (env: FleetEnv) => Promise<void>,
): Promise<void> {
  const contexts = opts.contexts ?? ["c0"];
  const dir = await Deno.makeTempDir({ prefix: opts.prefix });
  const kubes: KubeSandbox[] = [];
  let git: GitServer | undefined;
  let tmp: string | undefined;
  try {
    git = await startGitServer(opts.git);
    while (kubes.length < contexts.length) {
      kubes.push(await startKubeSandbox(opts.kube ?? { reconcileDelayMs: 20 }));
    }
    for (const name of opts.repos ?? []) await git.createRepo(name);
    await writeKubeconfig(
      `${dir}/kubeconfig`,
      kubes.map((sandbox, i) => ({ context: contexts[i], sandbox })),
    );
    const runTmp = opts.shortTmp
      ? await Deno.makeTempDir({ dir: "/tmp", prefix: "t" })
      : `${dir}/tmp`;
    if (!opts.shortTmp) await Deno.mkdir(runTmp);
    tmp = runTmp;
    const manifest = `${dir}/${opts.manifestName ?? "flux-bootstrap.yaml"}`;
    if (opts.manifest) await Deno.writeTextFile(manifest, opts.manifest({ git, kubes }));
    const envOf = (env: Record<string, string> = {}) => ({
      ...opts.cliEnv,
      TMPDIR: runTmp,
      ...env,
    });
    await fn({
      git,
      kubes,
      kube: kubes[0],
      dir,
      tmp: runTmp,
      manifest,
      cli: (args, env) => runCli(args, envOf(env)),
      spawn: (args, o = {}) => spawnCli(args, envOf(o.env), o.output),
    });
  } finally {
    // The Flux stand-ins are git clients: they stop before the git server does.
    for (const k of kubes) await k.close();
    await git?.close();
    await Deno.remove(dir, { recursive: true });
    if (opts.shortTmp && tmp) await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

/** Starts OpenSSH's sshd (sandbox/ssh), runs `fn`, then always stops it. */
export async function withSshd(fn: (sshd: SshdServer) => Promise<void>): Promise<void> {
  const sshd = await startSshd();
  try {
    await fn(sshd);
  } finally {
    await sshd.stop();
  }
}

export interface ClusterSpec {
  name: string;
  /** Inside `kube: { … }` (default `context: <name>`). */
  kube?: string;
  /** Default clusters/<name>. */
  path?: string;
  /** More `key: value` lines of the entry, after the path (labels, flux, rotate, …). */
  lines?: string[];
  /** The cluster's own `git:` block, one line each. */
  git?: string[];
}

export interface ManifestSpec {
  /** flux.manifests (default the fixture install.yaml). */
  manifests?: string;
  /** flux.timeout (default 30s). */
  timeout?: string;
  /** defaults.git, one line each; none when omitted. */
  git?: string[];
  /** defaults.kube.kubeconfig (default ./kubeconfig); null: no defaults.kube. */
  kubeconfig?: string | null;
  clusters: ClusterSpec[];
}

/** A flux-bootstrap.yaml for flux v2.4.0. */
export function manifestYaml(m: ManifestSpec): string {
  const lines = [
    "defaults:",
    `  flux: { version: v2.4.0, manifests: ${m.manifests ?? INSTALL_MANIFEST}, timeout: ${
      m.timeout ?? "30s"
    } }`,
  ];
  if (m.git) lines.push("  git:", ...m.git.map((l) => `    ${l}`));
  if (m.kubeconfig !== null) {
    lines.push(`  kube: { kubeconfig: ${m.kubeconfig ?? "./kubeconfig"} }`);
  }
  lines.push("clusters:");
  for (const c of m.clusters) {
    lines.push(
      `  - name: ${c.name}`,
      `    kube: { ${c.kube ?? `context: ${c.name}`} }`,
      `    path: ${c.path ?? `clusters/${c.name}`}`,
      ...(c.lines ?? []).map((l) => `    ${l}`),
    );
    if (c.git) lines.push("    git:", ...c.git.map((l) => `      ${l}`));
  }
  return `${lines.join("\n")}\n`;
}

/**
 * `git:` lines for a repository of the sandbox git server over plain HTTP, user `git` with the
 * token in GIT_PASSWORD; the author fluxfleet-test <authorEmail>, or none with null.
 */
export function tokenGit(url: string, authorEmail: string | null = "test@example.com"): string[] {
  return [
    `url: ${url}`,
    "allowInsecureHttp: true",
    ...(authorEmail === null ? [] : [`author: { name: fluxfleet-test, email: ${authorEmail} }`]),
    "auth: { type: token, username: git, token: { env: GIT_PASSWORD } }",
  ];
}

/** The flux-system GitRepository or Kustomization as a sandbox stores it; undefined when absent. */
export function fluxObject(
  kube: KubeSandbox,
  kind: "GitRepository" | "Kustomization",
): Record<string, unknown> | undefined {
  const apiVersion = kind === "GitRepository"
    ? "source.toolkit.fluxcd.io/v1"
    : "kustomize.toolkit.fluxcd.io/v1";
  return kube.getObject(apiVersion, kind, "flux-system", "flux-system");
}

/** The flux-system source Secret's data, decoded. */
export function sourceSecret(kube: KubeSandbox): Record<string, string> {
  const s = kube.getObject("v1", "Secret", "flux-system", "flux-system") as {
    data: Record<string, string>;
  };
  return Object.fromEntries(Object.entries(s.data).map(([k, v]) => [k, atob(v)]));
}

/** Nothing may be left in `tmp` (the CLI's TMPDIR). */
export async function assertTempClean(tmp: string, message = "temporary files left behind") {
  const left: string[] = [];
  for await (const e of Deno.readDir(tmp)) left.push(e.name);
  assert.deepEqual(left, [], message);
}

/** `git rev-list --merges <branch>` on a bare repository of the git server: "" when linear. */
export async function mergeCommits(git: GitServer, repo: string, branch = "main") {
  const out = await new Deno.Command("git", {
    args: ["--git-dir", `${git.root}/${repo}.git`, "rev-list", "--merges", branch],
  }).output();
  return new TextDecoder().decode(out.stdout);
}
