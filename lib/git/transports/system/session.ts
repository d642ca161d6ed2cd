/**
 * `git.transport: system` — the same checkout / commit-and-push contract as the isomorphic transport, carried out by
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
import { join } from "node:path";
import { parsePrivateKey } from "../../../keys/parse.ts";
import { makeSessionDir, sessionRoots, sweepStaleSessionDirs } from "./session_dir.ts";
import { type SessionGuard, SOCKET_NAME, startSessionGuard } from "./session_guard.ts";
import { GitError } from "../../types.ts";
import { parseSshUrl, shellQuote, type SshUrl } from "../../ssh_url.ts";
import { type ErrorContext, interruptedError } from "./errors.ts";

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
/** The public key: ssh finds the private one in the agent (IdentityFile of a .pub file). */
const PUBLIC_KEY_FILE = "id.pub";
const KNOWN_HOSTS_FILE = "known_hosts";

// ---------------------------------------------------------------------------------------------
// One operation's private files and processes, cleaned up whatever happens.

export interface Session {
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

export function killGroup(child: Deno.ChildProcess): void {
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
export function watchChildren(s: Session): void {
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
async function identityFor(
  access: SystemSshAccess,
): Promise<{ text: string; publicKey: string; fingerprint: string; type: string } | null> {
  if (access.privateKey === undefined || access.privateKey.trim() === "") {
    if (access.useAgent) return null;
    throw new GitError(
      "git over system ssh needs a private key, or useAgent to use ssh-agent / ~/.ssh/config",
      false,
    );
  }
  let parsed: Awaited<ReturnType<typeof parsePrivateKey>>;
  try {
    // Checks the passphrase up front: ssh would only say "Permission denied" after asking.
    parsed = await parsePrivateKey(access.privateKey, access.passphrase);
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
  const identity = await identityFor(access);
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

export async function withSession<T>(
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
