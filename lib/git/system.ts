/**
 * `git.transport: system` — the same checkout / commit-and-push contract as repo.ts, carried out by
 * the system `git` binary and OpenSSH. The fallback for what the built-in ssh2 transport cannot
 * do: ssh-agent, ~/.ssh/config (ProxyJump, Match, aliases), certificates.
 *
 * Per operation (one checkout, one commit-and-push) a private temp dir (0700) holds known_hosts,
 * the public key and the socket of a private ssh-agent that holds the private key in memory
 * (session_guard.ts): no private key, decrypted or not, and no passphrase is ever in a file, in
 * argv or in a child's environment. An encrypted key is decrypted in memory (lib/keys) and handed
 * to the agent unencrypted through ssh-add's stdin: the passphrase was checked up front anyway, and
 * so it never reaches a helper script or an environment variable (as SSH_ASKPASS would need), and
 * every key format the manifest accepts takes the same path (ssh reads no PKCS#8 ed25519 key).
 * The dir is removed in `finally`, and at once on SIGINT or Deno.exit() while an operation runs
 * (the git and ssh processes run in their own process group and are killed then); after a SIGKILL
 * the guard process removes it, and the next run sweeps what a killed guard left
 * (session_dir.ts). `.git/config` only ever holds the remote URL: the agent's socket lives in
 * GIT_SSH_COMMAND for the duration of one command.
 *
 * git runs with a cleared environment, no system or global config and no hooks, so the user's
 * configuration can neither inject credentials nor change what is committed; ssh still reads
 * ~/.ssh/config (that is the point of this transport), but the command line pins the identity,
 * known_hosts and strict host key checking, which take precedence over it.
 */
import { dirname, join } from "node:path";
import { findHostKeys, knownHostsName } from "../keys/known_hosts.ts";
import { parsePrivateKey } from "../keys/parse.ts";
import { makeSessionDir, sessionRoots, sweepStaleSessionDirs } from "./session_dir.ts";
import { type SessionGuard, SOCKET_NAME, startSessionGuard } from "./session_guard.ts";
import { DEFAULT_RETRY, type RetryPolicy, withRetry } from "../util/retry.ts";
import { serverText } from "../util/redact.ts";
import {
  assertPlainFiles,
  type Author,
  type FileChange,
  GitError,
  type PushResult,
  type RepoCheckout,
} from "./repo.ts";
import { hostPort, parseSshUrl, shellQuote, type SshUrl } from "./ssh_url.ts";
import { assertPlainPath, checkedRepoPath } from "./repo_paths.ts";
import { readHead } from "../util/bounded_read.ts";
import { formatSize, MIB } from "../util/limits.ts";

export interface SystemSshAccess {
  /** ssh://user@host[:port]/path or scp-like user@host:path (an ~/.ssh/config alias works). */
  url: string;
  /** Any format parsePrivateKey accepts. Optional only with `useAgent`. */
  privateKey?: string;
  passphrase?: string;
  /** known_hosts text; the only host keys trusted (StrictHostKeyChecking=yes). */
  knownHosts: string;
  /** `-o HostKeyAlgorithms=`; default: OpenSSH's own choice (it prefers the known types). */
  hostKeyAlgorithms?: string[];
  /** ssh ConnectTimeout and keep-alive budget; a git command is killed after 10×. Default 30000. */
  timeoutMs?: number;
  /** Let ssh use ssh-agent and the identities of ~/.ssh/config (with or without privateKey). */
  useAgent?: boolean;
}

const DEFAULT_TIMEOUT_MS = 30_000;
/** A whole git command (connect, negotiate, transfer) may take this many timeouts. */
const COMMAND_BUDGET = 10;
/** The public key: ssh finds the private one in the agent (IdentityFile of a .pub file). */
const PUBLIC_KEY_FILE = "id.pub";
const KNOWN_HOSTS_FILE = "known_hosts";

/** Config for every git command: no hooks, helpers, signing, filters from elsewhere, or GC. */
const GIT_CONFIG_ARGS = [
  "core.hooksPath=/dev/null",
  "core.fsmonitor=false",
  "core.attributesFile=/dev/null",
  "core.excludesFile=/dev/null",
  "core.autocrlf=false",
  "credential.helper=",
  "protocol.allow=never",
  "protocol.ssh.allow=always",
  "commit.gpgSign=false",
  "gc.auto=0",
  "maintenance.auto=false",
  "advice.detachedHead=false",
].flatMap((kv) => ["-c", kv]);

// ---------------------------------------------------------------------------------------------
// One operation's private files and processes, cleaned up whatever happens.

interface Session {
  dir: string;
  env: Record<string, string>;
  guard: SessionGuard;
  /** The unencrypted key (OpenSSH form) the agent is given before each network command. */
  key: string | null;
  children: Set<Deno.ChildProcess>;
  /** Set by SIGINT / exit: the dir is gone and no further command may start. */
  interrupted: string | null;
  ctx: ErrorContext;
}

const live = new Set<Session>();
let hooked = false;
let swept = false;

function killGroup(child: Deno.ChildProcess): void {
  try {
    // Detached: git is the leader of its own process group, ssh is in it.
    Deno.kill(-child.pid, "SIGKILL");
  } catch {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
  }
}

function abortAll(reason: string): void {
  for (const s of live) {
    s.interrupted = reason;
    for (const c of s.children) killGroup(c);
    s.guard.killNow();
    try {
      Deno.removeSync(s.dir, { recursive: true });
    } catch { /* already gone */ }
  }
}

/** Until the guard runs. */
const NO_GUARD: SessionGuard = {
  socket: null,
  loadKey: () => Promise.reject(new Error("the session has no agent yet")),
  watch: () => {},
  close: () => Promise.resolve(),
  killNow: () => {},
};

/** Tells the guard which process groups to kill should this process die. */
function watchChildren(s: Session): void {
  s.guard.watch([...s.children].map((c) => c.pid));
}

const onSigint = () => abortAll("interrupted (SIGINT)");
const onUnload = () => abortAll("interrupted (the process is exiting)");

function track(s: Session): void {
  live.add(s);
  if (hooked) return;
  hooked = true;
  Deno.addSignalListener("SIGINT", onSigint);
  globalThis.addEventListener("unload", onUnload);
}

function untrack(s: Session): void {
  live.delete(s);
  if (!hooked || live.size > 0) return;
  hooked = false;
  Deno.removeSignalListener("SIGINT", onSigint);
  globalThis.removeEventListener("unload", onUnload);
}

/** The key for the private agent; null when ssh should find its own (agent, config). */
function identityFor(
  access: SystemSshAccess,
): { text: string; publicKey: string; fingerprint: string; type: string } | null {
  if (access.privateKey === undefined || access.privateKey.trim() === "") {
    if (access.useAgent) return null;
    throw new GitError(
      "git over system ssh needs a private key, or useAgent to use ssh-agent / ~/.ssh/config",
      false,
    );
  }
  let parsed: ReturnType<typeof parsePrivateKey>;
  try {
    // Checks the passphrase up front: ssh would only say "Permission denied" after asking.
    parsed = parsePrivateKey(access.privateKey, access.passphrase);
  } catch (e) {
    // Fixed sentences without key material (see parse.ts).
    throw new GitError((e as Error).message, false);
  }
  return {
    text: parsed.openssh,
    publicKey: parsed.publicKey,
    fingerprint: parsed.fingerprint,
    type: parsed.type,
  };
}

/** ssh expands %-tokens in these paths; refuse what it would misread rather than quote it. */
function sshPath(path: string): string {
  if (/[%$]/.test(path)) {
    throw new GitError(
      `the temp directory ${path} contains "%" or "$", which ssh would expand: set TMPDIR to a ` +
        `plainer directory`,
      false,
    );
  }
  return path;
}

function sshCommand(
  access: SystemSshAccess,
  dir: string,
  agentSocket: string | null,
  timeoutMs: number,
): string {
  const seconds = Math.max(1, Math.ceil(timeoutMs / 1000));
  const opts = [
    "BatchMode=yes",
    "StrictHostKeyChecking=yes",
    `UserKnownHostsFile=${sshPath(join(dir, KNOWN_HOSTS_FILE))}`,
    "GlobalKnownHostsFile=/dev/null",
    "UpdateHostKeys=no",
    "CheckHostIP=no",
    "PasswordAuthentication=no",
    "KbdInteractiveAuthentication=no",
    "NumberOfPasswordPrompts=1",
    `ConnectTimeout=${seconds}`,
    `ServerAliveInterval=${Math.max(1, Math.ceil(seconds / 3))}`,
    "ServerAliveCountMax=3",
  ];
  if (access.hostKeyAlgorithms?.length) {
    for (const a of access.hostKeyAlgorithms) {
      if (!/^[A-Za-z0-9@.+-]+$/.test(a)) {
        throw new GitError(`invalid host key algorithm "${a}"`, false);
      }
    }
    opts.push(`HostKeyAlgorithms=${access.hostKeyAlgorithms.join(",")}`);
  }
  const args = ["ssh"];
  if (agentSocket) {
    // The key is in the private agent only; a ProxyJump hop (another ssh) still finds the user's
    // agent through SSH_AUTH_SOCK with useAgent.
    args.push("-i", sshPath(join(dir, PUBLIC_KEY_FILE)));
    opts.push(`IdentityAgent=${sshPath(agentSocket)}`);
    if (!access.useAgent) {
      // Only this key: not the agent's, not a multiplexed connection made with another one.
      opts.push("IdentitiesOnly=yes", "ControlMaster=no", "ControlPath=none");
    }
  }
  for (const o of opts) args.push("-o", o);
  return args.map((a) => (/^[A-Za-z0-9_=,./@:+-]+$/.test(a) ? a : shellQuote(a))).join(" ");
}

async function openSession(access: SystemSshAccess, op: string): Promise<Session> {
  let target: SshUrl;
  try {
    target = parseSshUrl(access.url);
  } catch (e) {
    throw new GitError((e as Error).message, false);
  }
  const timeoutMs = access.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const identity = identityFor(access);
  const roots = sessionRoots(SOCKET_NAME);
  // Once per process: what runs killed before this one left behind.
  if (!swept) {
    swept = true;
    for (const root of roots.sweep) sweepStaleSessionDirs(root);
  }
  const dir = await makeSessionDir(roots.use);
  const session: Session = {
    dir,
    env: {},
    guard: NO_GUARD,
    key: identity?.text ?? null,
    children: new Set(),
    interrupted: null,
    ctx: {
      op,
      display: access.url,
      target,
      knownHosts: access.knownHosts,
      timeoutMs,
      identity: identity ? { fingerprint: identity.fingerprint, type: identity.type } : null,
      agent: !!access.useAgent,
      dir,
    },
  };
  track(session);
  try {
    const guard = await startSessionGuard(dir, identity !== null);
    session.guard = guard;
    if (session.interrupted) {
      // SIGINT or exit while the guard started: abortAll could not stop it.
      guard.killNow();
      throw interruptedError(session);
    }
    const write = async (name: string, text: string, mode: number) => {
      const file = join(dir, name);
      await Deno.writeTextFile(file, text, { mode, createNew: true });
      await Deno.chmod(file, mode);
    };
    await write(
      KNOWN_HOSTS_FILE,
      access.knownHosts.endsWith("\n") || access.knownHosts === ""
        ? access.knownHosts
        : access.knownHosts + "\n",
      0o600,
    );
    if (identity) await write(PUBLIC_KEY_FILE, `${identity.publicKey}\n`, 0o600);
    const env: Record<string, string> = {
      PATH: Deno.env.get("PATH") ?? "/usr/local/bin:/usr/bin:/bin",
      // The user's git config (global, XDG, system) is not read; ssh takes ~ from passwd.
      HOME: dir,
      XDG_CONFIG_HOME: dir,
      GIT_CONFIG_NOSYSTEM: "1",
      GIT_CONFIG_GLOBAL: "/dev/null",
      GIT_TERMINAL_PROMPT: "0",
      GIT_LITERAL_PATHSPECS: "1",
      GIT_SSH_VARIANT: "ssh",
      GIT_SSH_COMMAND: sshCommand(access, dir, guard.socket, timeoutMs),
      LC_ALL: "C",
      LANG: "C",
    };
    for (const name of ["USER", "LOGNAME", "TMPDIR"]) {
      const v = Deno.env.get(name);
      if (v !== undefined) env[name] = v;
    }
    if (access.useAgent) {
      const sock = Deno.env.get("SSH_AUTH_SOCK");
      if (sock !== undefined) env.SSH_AUTH_SOCK = sock;
    }
    session.env = env;
    return session;
  } catch (e) {
    await closeSession(session);
    // SIGINT while the files were written: the dir vanished under us.
    throw session.interrupted ? interruptedError(session) : e;
  }
}

async function closeSession(s: Session): Promise<void> {
  for (const c of s.children) killGroup(c);
  untrack(s);
  // The guard stops the agent and removes the dir; removing it here too covers a dead guard.
  await s.guard.close();
  await Deno.remove(s.dir, { recursive: true }).catch(() => {});
}

async function withSession<T>(
  access: SystemSshAccess,
  op: string,
  fn: (s: Session) => Promise<T>,
): Promise<T> {
  const s = await openSession(access, op);
  try {
    return await fn(s);
  } finally {
    await closeSession(s);
  }
}

// ---------------------------------------------------------------------------------------------
// Running git.

interface GitRun {
  code: number;
  stdout: string;
  stderr: string;
  /** Killed by the watchdog. */
  timedOut: boolean;
}

async function git(
  s: Session,
  args: string[],
  opts: { cwd?: string; network?: boolean } = {},
): Promise<GitRun> {
  if (s.interrupted) throw interruptedError(s);
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("git", {
      args: [...GIT_CONFIG_ARGS, ...args],
      cwd: opts.cwd,
      env: s.env,
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      // Own process group, no controlling terminal: ssh cannot prompt, and we can kill git and
      // ssh together.
      detached: true,
    }).spawn();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new GitError(
        "git.transport system needs the git binary on PATH: install git, or use the builtin transport",
        false,
      );
    }
    throw e;
  }
  s.children.add(child);
  watchChildren(s);
  let timedOut = false;
  const budget = opts.network ? s.ctx.timeoutMs * COMMAND_BUDGET : 5 * 60_000;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(child);
  }, budget);
  try {
    // Both streams are read to their end (git never blocks on a full pipe) but only their first
    // bytes are kept: a server's "remote:" lines reach us through git's stderr.
    const [stdout, stderr, status] = await Promise.all([
      readHead(child.stdout, MAX_GIT_STDOUT),
      readHead(child.stderr, MAX_GIT_STDERR),
      child.status,
    ]);
    const res = { code: status.code, stdout: stdout.text, stderr: stderr.text, timedOut };
    if (s.interrupted) throw interruptedError(s);
    if (stdout.dropped > 0) {
      throw new GitError(
        `git ${args[0]} printed more than ${
          formatSize(MAX_GIT_STDOUT)
        } (${stdout.dropped} bytes more were dropped): not what fluxfleet asked for; stopped`,
        false,
      );
    }
    return res;
  } finally {
    clearTimeout(timer);
    s.children.delete(child);
    watchChildren(s);
  }
}

/** What is kept of git's output: ls-remote of one branch and rev-parse print a few lines. */
const MAX_GIT_STDOUT = 16 * MIB;
const MAX_GIT_STDERR = 1 * MIB;

/** A local git command that must succeed (no network: failures are not the server's). */
async function mustGit(s: Session, args: string[], cwd: string): Promise<string> {
  const r = await git(s, args, { cwd });
  if (r.code !== 0) {
    throw new GitError(
      `git ${args[0]} in ${cwd} failed: ${
        scrub(firstLines(r.stderr, 2), s.ctx) || `exit ${r.code}`
      }`,
      false,
    );
  }
  return r.stdout;
}

// ---------------------------------------------------------------------------------------------
// Errors in words.

interface ErrorContext {
  op: string;
  display: string;
  target: SshUrl;
  knownHosts: string;
  timeoutMs: number;
  identity: { fingerprint: string; type: string } | null;
  agent: boolean;
  dir: string;
}

function interruptedError(s: Session): GitError {
  return new GitError(`git ${s.ctx.op} with ${s.ctx.display} was ${s.interrupted}`, false);
}

/** Temp paths are noise in a message (and say where a key was). */
function scrub(text: string, ctx: ErrorContext): string {
  return text.replaceAll(ctx.dir, "<temp>");
}

function firstLines(text: string, n: number): string {
  return text.split("\n").map((l) => l.trim()).filter((l) => l !== "").slice(0, n).join(" / ");
}

/** What the server (or its hook, or git-shell) said, without git's and ssh's boilerplate. */
function serverSaid(stderr: string, ctx: ErrorContext): string {
  const boilerplate =
    /^(fatal: (Could not read from remote|the remote end hung up|Remote branch|unable to)|error: (failed to push|RPC failed)|hint:|warning:|Please make sure|and the repository exists|Cloning into|To |!|Everything up-to-date|Load key|The fingerprint|Someone could|It is also possible|Please contact|Add correct|Offending|Host key for|Host key verification|@)/;
  const lines = stderr.split("\n").map((l) => l.replace(/^remote:\s*/, "").trim())
    .filter((l) => l !== "" && !boilerplate.test(l));
  // Redacted before it is cut: a secret cut in half would no longer be recognised.
  return serverText(scrub(lines.slice(0, 3).join(" / "), ctx), 300);
}

function describeHostKeyFailure(stderr: string, ctx: ErrorContext): string {
  const t = ctx.target;
  const name = knownHostsName(t.host, t.port);
  const expected = findHostKeys(ctx.knownHosts, t.host, t.port);
  if (expected.length === 0) {
    return `no known_hosts entry for ${name}: add the server's host key to known_hosts (scan it, ` +
      `e.g. "ssh-keyscan -p ${t.port} ${t.host}", and check the fingerprint with the server's ` +
      `operator)`;
  }
  const list = (keys: typeof expected) =>
    keys.map((k) => `${k.fingerprint} (${k.type})`).join(" or ");
  const got = /(SHA256:[A-Za-z0-9+/]+)/.exec(stderr)?.[1];
  if (!got) {
    // "No ED25519 host key is known": the server offered none of the types known_hosts has.
    return `host key for ${name} does not match known_hosts: known_hosts has ${
      list(expected)
    }, and the server offered no key of those types (check git.hostKeyAlgorithms) — possible ` +
      `man-in-the-middle, or the server's keys changed`;
  }
  // "The fingerprint for the ED25519 key sent by the remote host is".
  const kind = /fingerprint for the (\S+) key/.exec(stderr)?.[1]?.toLowerCase() ?? "";
  const sameType = expected.filter((k) => kind !== "" && k.type.includes(kind));
  return `host key for ${name} does not match known_hosts: expected ${
    list(sameType.length > 0 ? sameType : expected)
  }, got ${got} — possible man-in-the-middle, or the server's key changed: if the change is ` +
    `expected, replace the known_hosts entry after checking the new fingerprint with the ` +
    `server's operator`;
}

/** git / ssh stderr → a GitError a user can act on. */
function describeFailure(r: GitRun, ctx: ErrorContext): GitError {
  const err = r.stderr;
  const t = ctx.target;
  const where = hostPort(t.host, t.port);
  const repo = `${t.path} on ${where}`;
  const said = serverSaid(err, ctx);
  const saying = said ? ` (the server said: ${said})` : "";
  if (r.timedOut) {
    return new GitError(
      `git ${ctx.op} with ${ctx.display} did not finish within ${
        ctx.timeoutMs * COMMAND_BUDGET
      } ms and was stopped`,
      true,
    );
  }
  if (/Permission denied \(/.test(err)) {
    const who = `${t.user}@${where}`;
    if (!ctx.identity) {
      return new GitError(
        `the server refused the SSH keys offered by ssh-agent / ~/.ssh/config for ${who}: ` +
          `check "ssh-add -l" and the IdentityFile for this host, and the user name in the URL`,
        false,
      );
    }
    return new GitError(
      `the server refused the SSH key for ${who}: add the public key ${ctx.identity.fingerprint} ` +
        `(${ctx.identity.type}) to the repository's deploy keys (with write access to push) or ` +
        `to that user's authorized keys, and check the user name in the URL (e.g. AWS ` +
        `CodeCommit wants the SSH key id, not "git")`,
      false,
    );
  }
  if (
    /REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed|host key is known for/
      .test(err)
  ) {
    return new GitError(describeHostKeyFailure(err, ctx), false);
  }
  if (/Connection refused/i.test(err)) {
    return new GitError(`cannot connect to git server ${where}: connection refused`, true);
  }
  const timeout = err.split("\n").find((l) => /timed out|Timeout, server/i.test(l));
  if (timeout) {
    return new GitError(
      `git server ${where} did not answer within ${ctx.timeoutMs} ms (ssh: ${
        scrub(timeout.trim(), ctx)
      })`,
      true,
    );
  }
  if (
    /Could not resolve hostname|Name or service not known|Temporary failure in name resolution/i
      .test(err)
  ) {
    return new GitError(`cannot resolve the git server's host name ${t.host}`, false);
  }
  if (/No route to host|Network is unreachable/i.test(err)) {
    return new GitError(`cannot reach git server ${where}: ${firstLines(err, 1)}`, true);
  }
  if (/(^|\n)(sh: \d+: )?ssh: (not found|command not found)|cannot run ssh/i.test(err)) {
    return new GitError(
      "git.transport system needs the OpenSSH client (ssh) on PATH: install it, or use the builtin transport",
      false,
    );
  }
  if (/Load key .*: (invalid format|error in libcrypto|incorrect passphrase)/.test(err)) {
    return new GitError(
      "ssh cannot read the private key: use an OpenSSH-format key (ssh-keygen -p -f KEY converts it)",
      false,
    );
  }
  // --porcelain reports the ref updates on stdout.
  const refs = `${err}\n${r.stdout}`;
  if (/\[remote rejected\]|pre-receive hook declined|protected branch/i.test(refs)) {
    return new GitError(`push to ${ctx.display} was rejected by the server${saying}`, false);
  }
  if (/\[rejected\]|non-fast-forward|\(fetch first\)|remote contains work that you do/.test(refs)) {
    return new GitError(
      `push to ${ctx.display} was rejected (non-fast-forward): someone else pushed to the ` +
        `branch meanwhile, more often than the attempts allowed; run again`,
      false,
    );
  }
  if (
    /does not appear to be a git repository|repository .*not found|not found|does not exist|no such/i
      .test(said)
  ) {
    return new GitError(`repository ${repo} not found: check the path in the URL${saying}`, false);
  }
  if (/Repository not found|does not appear to be a git repository/i.test(err)) {
    return new GitError(`repository ${repo} not found: check the path in the URL${saying}`, false);
  }
  if (
    /kex_exchange_identification|Connection closed by|Connection reset|Broken pipe|early EOF|unexpected disconnect/i
      .test(err)
  ) {
    return new GitError(`connection to git server ${where} was interrupted`, true);
  }
  if (/Could not read from remote repository/.test(err)) {
    if (ctx.op === "push") {
      return new GitError(
        `the server refused to accept pushes to ${repo}: the key may be read-only; give it ` +
          `write access${saying}`,
        false,
      );
    }
    return new GitError(`the server refused to serve ${repo}${saying}`, false);
  }
  const first = scrub(firstLines(err, 2), ctx) || `exit code ${r.code}`;
  return new GitError(`git ${ctx.op} with ${ctx.display} failed: ${first}`, false);
}

const classify = (e: unknown) => ({ transient: e instanceof GitError && e.transient });

/** The git run behind a described failure, for the decisions made on its exact output. */
const failedRuns = new WeakMap<object, GitRun>();

function runOf(e: unknown): GitRun | undefined {
  return typeof e === "object" && e !== null ? failedRuns.get(e) : undefined;
}

/** Runs a network command; a failure becomes a described GitError. */
async function netGit(s: Session, args: string[], cwd?: string): Promise<GitRun> {
  if (s.interrupted) throw interruptedError(s);
  // Added afresh for each command, to live as long as the command may: should everything else
  // fail, the agent forgets the key by itself.
  if (s.key !== null) {
    try {
      await s.guard.loadKey(s.key, (s.ctx.timeoutMs * COMMAND_BUDGET) / 1000);
    } catch (e) {
      // SIGINT stopped the agent meanwhile.
      throw s.interrupted ? interruptedError(s) : e;
    }
  }
  const r = await git(s, args, { cwd, network: true });
  if (r.code !== 0) {
    const e = describeFailure(r, s.ctx);
    failedRuns.set(e, r);
    throw e;
  }
  return r;
}

function isMissingBranch(e: unknown): boolean {
  const run = runOf(e);
  return !!run && /Remote branch .* not found in upstream/.test(run.stderr);
}

function isNonFastForward(e: unknown): boolean {
  const run = runOf(e);
  return !!run && /\[rejected\]|non-fast-forward|\(fetch first\)/.test(run.stderr + run.stdout) &&
    !/\[remote rejected\]/.test(run.stderr + run.stdout);
}

// ---------------------------------------------------------------------------------------------
// The contract of repo.ts.

/**
 * Brings `branch` of the remote into `dir` (shallow, single branch, no tags). Works for an empty
 * repository (no branch at all) and for a branch that does not exist yet: it then starts from the
 * remote's default branch. One SSH connection when the branch exists, two otherwise.
 */
export function systemCheckoutRepo(
  access: SystemSshAccess,
  branch: string,
  dir: string,
  retry: RetryPolicy = DEFAULT_RETRY,
): Promise<RepoCheckout> {
  return withSession(access, "fetch", (s) =>
    withRetry(retry, classify, async (attempt) => {
      if (attempt > 1) await Deno.remove(dir, { recursive: true }).catch(() => {});
      return await checkoutOnce(s, access, branch, dir);
    }, { what: "git fetch" }));
}

const CLONE = ["clone", "--quiet", "--depth=1", "--single-branch", "--no-tags"];

async function checkoutOnce(
  s: Session,
  access: SystemSshAccess,
  branch: string,
  dir: string,
): Promise<RepoCheckout> {
  try {
    await netGit(s, [...CLONE, `--branch=${branch}`, "--", access.url, dir]);
    const head = (await mustGit(s, ["rev-parse", "HEAD"], dir)).trim();
    return { dir, url: access.url, branch, branchExists: true, head };
  } catch (e) {
    if (!isMissingBranch(e)) throw e;
  }
  // No such branch: clone what the remote's HEAD points at (nothing, for an empty repository or a
  // HEAD naming no branch) and start ours there.
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  await netGit(s, [...CLONE, "--", access.url, dir]);
  const hasHead =
    (await git(s, ["rev-parse", "--verify", "--quiet", "HEAD"], { cwd: dir })).code ===
      0;
  if (!hasHead) {
    await mustGit(s, ["symbolic-ref", "HEAD", `refs/heads/${branch}`], dir);
    // The branch starts without history; say so when the repository is not empty.
    const heads = await netGit(s, ["ls-remote", "--heads", "--", access.url], dir);
    const startsFrom = heads.stdout.trim() === "" ? {} : { startsFrom: null };
    return { dir, url: access.url, branch, branchExists: false, head: null, ...startsFrom };
  }
  // git names the branch it checked out (for a detached HEAD, one at the same commit), if any.
  const named = await git(s, ["symbolic-ref", "--quiet", "--short", "HEAD"], { cwd: dir });
  await mustGit(s, ["checkout", "--quiet", "-b", branch], dir);
  const head = (await mustGit(s, ["rev-parse", "HEAD"], dir)).trim();
  const startsFrom = named.code === 0
    ? named.stdout.trim()
    : `the remote's detached HEAD (${head.slice(0, 7)})`;
  return { dir, url: access.url, branch, branchExists: false, head, startsFrom };
}

/** The remote's head of `branch` (`git ls-remote`), null when the branch does not exist. */
export function systemRemoteHead(access: SystemSshAccess, branch: string): Promise<string | null> {
  return withSession(access, "ls-remote", async (s) => {
    const r = await netGit(s, ["ls-remote", "--heads", "--", access.url, `refs/heads/${branch}`]);
    const line = r.stdout.split("\n").find((l) => l.endsWith(`\trefs/heads/${branch}`));
    return line ? line.split("\t")[0] : null;
  });
}

async function writeChanges(s: Session, dir: string, changes: FileChange[]): Promise<string[]> {
  const changed: string[] = [];
  for (const c of changes) {
    const path = checkedRepoPath(c.path);
    // No link, submodule or file on the way (also after a rejected push brought a new commit).
    await assertPlainPath(dir, path, "file");
    const full = join(dir, path);
    let current: string | null = null;
    try {
      current = await Deno.readTextFile(full);
    } catch { /* absent */ }
    if (current === c.content) continue;
    if (c.content === null) await Deno.remove(full);
    else {
      await Deno.mkdir(dirname(full), { recursive: true });
      await Deno.writeTextFile(full, c.content);
    }
    changed.push(path);
  }
  // -A stages deletions too; -f: no ignore rule may drop a file we were asked to write.
  if (changed.length > 0) await mustGit(s, ["add", "-A", "-f", "--", ...changed], dir);
  return changed;
}

/**
 * Writes the changes, commits them if anything differs, and pushes. A non-fast-forward rejection
 * (someone pushed meanwhile) fetches the new head, re-applies the changes on it and pushes again.
 */
export function systemCommitAndPush(
  co: RepoCheckout,
  access: SystemSshAccess,
  changes: FileChange[],
  message: string,
  author: Author,
  maxAttempts = 3,
  retry: RetryPolicy = DEFAULT_RETRY,
): Promise<PushResult> {
  return withSession(access, "push", async (s) => {
    const dir = co.dir;
    const identity = ["-c", `user.name=${author.name}`, "-c", `user.email=${author.email}`];
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      const changed = await writeChanges(s, dir, changes);
      if (changed.length === 0) return { head: co.head, pushed: false, attempts: attempt };
      const staged = await git(s, ["diff", "--cached", "--quiet"], { cwd: dir });
      if (staged.code === 0) return { head: co.head, pushed: false, attempts: attempt };
      await mustGit(
        s,
        [...identity, "commit", "--quiet", "--cleanup=whitespace", "-m", message],
        dir,
      );
      const sha = (await mustGit(s, ["rev-parse", "HEAD"], dir)).trim();
      try {
        // A transient failure may hide a push that landed: re-pushing the same commit is a no-op.
        await withRetry(retry, classify, () =>
          netGit(
            s,
            ["push", "--quiet", "--porcelain", "--", access.url, `HEAD:refs/heads/${co.branch}`],
            dir,
          ), { what: "git push" });
        co.head = sha;
        co.branchExists = true;
        return { head: sha, pushed: true, attempts: attempt };
      } catch (e) {
        if (!isNonFastForward(e) || attempt === maxAttempts) throw e;
        await resetToRemote(s, co, access);
        await assertPlainFiles(co, changes.map((c) => c.path));
      }
    }
    throw new Error("unreachable");
  });
}

/** After a rejected push: take the remote head as the new base, dropping our local commit. */
async function resetToRemote(s: Session, co: RepoCheckout, access: SystemSshAccess): Promise<void> {
  const dir = co.dir;
  s.ctx.op = "fetch";
  try {
    await netGit(
      s,
      ["fetch", "--quiet", "--depth=1", "--no-tags", "--", access.url, `refs/heads/${co.branch}`],
      dir,
    );
  } catch (e) {
    const run = runOf(e);
    if (run && /couldn't find remote ref/i.test(run.stderr)) {
      throw new GitError(`branch ${co.branch} vanished from ${access.url} during push`, false);
    }
    throw e;
  } finally {
    s.ctx.op = "push";
  }
  const oid = (await mustGit(s, ["rev-parse", "FETCH_HEAD"], dir)).trim();
  await mustGit(s, ["reset", "--quiet", "--hard", oid], dir);
  co.head = oid;
  co.branchExists = true;
}
