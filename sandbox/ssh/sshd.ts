/**
 * A real OpenSSH server for tests, the demo and benchmarks: a second /usr/sbin/sshd on 127.0.0.1
 * with its own config, host keys and authorized_keys, serving bare repos through git-shell.
 * It never reads or changes the system sshd config and never listens on port 22.
 *
 * Needs root (sshd must be root to switch to the login user). Every user name clients use must be
 * a local account: see users.ts for the accounts created (once) and why they look as they do.
 * Every authorized key is `restrict`ed to a forced command, a wrapper that execs
 * `git-shell -c "$SSH_ORIGINAL_COMMAND"`; the read-only wrapper refuses git-receive-pack.
 */
import { chmod, mkdir, realpath, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { findPublicKey, sha256Fingerprint } from "../../lib/keys/fingerprint.ts";
import { descendants, freePort, isAlive, signal, waitGone } from "./process.ts";
import {
  createBareRepo,
  headSha,
  holdPushes,
  normalizeRepoName,
  type PushHold,
  readBlob,
} from "./repos.ts";
import { ensureSandboxUsers } from "./users.ts";

export type { PushHold };

export type HostKeyType = "ed25519" | "ecdsa" | "rsa";

export interface SshdOptions {
  /** Directory with bare repos; default a temp dir removed on stop(). */
  root?: string;
  /** Default all three. */
  hostKeyTypes?: HostKeyType[];
  /** Extra local user names to serve (always: "git" and "APKAEIBAERJR2EXAMPLE"). */
  users?: string[];
}

/** A repository a scoped key may use: "team/fleet.git" (relative to the root). */
export interface RepoGrant {
  path: string;
  readOnly: boolean;
}

export interface SshdHostKey {
  type: string;
  /** "type base64" */
  publicKey: string;
  fingerprint: string;
}

export interface SshdServer {
  host: string;
  port: number;
  root: string;
  /** pid of the listening sshd (for leak checks). */
  pid: number;
  users: string[];
  hostKeys: SshdHostKey[];
  /** known_hosts lines for [127.0.0.1]:port, one per host key. */
  knownHosts(): string;
  /** ssh://<user, default git>@127.0.0.1:port/<root>/<name>.git */
  repoUrl(name: string, user?: string): string;
  /** ssh://user@127.0.0.1:port/<name>.git — the path is relative to the root, as on a hosted server. */
  hostedUrl(name: string, user?: string): string;
  createRepo(
    name: string,
    opts?: { files?: Record<string, string>; branch?: string },
  ): Promise<void>;
  /**
   * Lets the key log in. `repos`: only these repositories (relative to the root, "team/fleet.git"),
   * each read-only or not, as a hosting server's deploy key; without it, every repository.
   */
  authorize(publicKey: string, opts?: { readOnly?: boolean; repos?: RepoGrant[] }): Promise<void>;
  revoke(publicKey: string): Promise<void>;
  headSha(name: string, branch: string): Promise<string | null>;
  readFile(name: string, branch: string, path: string): Promise<string | null>;
  /** Holds the next pushes to `name` in its pre-receive hook until released (see PushHold). */
  holdPushes(name: string): Promise<PushHold>;
  /** sshd's own log (stderr, -e), for diagnosing a failing test. */
  log(): string;
  /**
   * Connections sshd accepted so far ("Connection from" lines of its log, counted as they come,
   * however many lines the bounded log keeps): a host-key scan counts as one.
   */
  connections(): number;
  stop(): Promise<void>;
}

const SSHD = "/usr/sbin/sshd";
const HOST = "127.0.0.1";
const DEFAULT_USERS = ["git", "APKAEIBAERJR2EXAMPLE"];
const START_TIMEOUT_MS = 5000;
const MAX_LOG_LINES = 400;

function sshdConfig(dir: string, port: number, hostKeyFiles: string[], users: string[]): string {
  return [
    "# fluxfleet ssh sandbox: generated, removed on stop()",
    `ListenAddress ${HOST}`,
    `Port ${port}`,
    ...hostKeyFiles.map((f) => `HostKey ${f}`),
    `PidFile ${join(dir, "sshd.pid")}`,
    `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
    "PubkeyAuthentication yes",
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    "HostbasedAuthentication no",
    "UsePAM no",
    // The key file lives in a temp dir owned by root, not in the user's ~/.ssh.
    "StrictModes no",
    "PermitRootLogin no",
    `AllowUsers ${users.join(" ")}`,
    "AcceptEnv GIT_PROTOCOL",
    "PermitTTY no",
    "X11Forwarding no",
    "AllowTcpForwarding no",
    "AllowAgentForwarding no",
    "PermitUserRC no",
    "PrintMotd no",
    // Tests open many short connections at once.
    "MaxStartups 100:30:200",
    "MaxSessions 50",
    "LogLevel VERBOSE",
    "",
  ].join("\n");
}

/**
 * Forced command for every key: $1 is "rw" or "ro"; a key scoped to repositories (a hosting
 * sandbox's deploy key) has one more argument per repository, "rw:team/fleet.git" or
 * "ro:team/other.git", and may use only those, each with its own mode.
 */
function wrapperScript(gitConfig: string, root: string): string {
  return `#!/bin/sh
# fluxfleet ssh sandbox: forced command of every authorized key ($1 = rw | ro, then for a key
# scoped to repositories: rw:<repo> | ro:<repo> ..., repo relative to the root).
# git-shell runs only git-upload-pack, git-receive-pack and git-upload-archive; read-only keys
# get git-upload-pack alone.
GIT_CONFIG_GLOBAL='${gitConfig}'
GIT_CONFIG_NOSYSTEM=1
HOME=/
export GIT_CONFIG_GLOBAL GIT_CONFIG_NOSYSTEM HOME
umask 000
# Like a hosted git server, "/team/fleet.git" names a repository under the sandbox root; an
# absolute path inside the root works too.
ROOT='${root}'
cmd="\${SSH_ORIGINAL_COMMAND%% *}"
arg="\${SSH_ORIGINAL_COMMAND#* }"
path=$(printf '%s' "$arg" | sed -e "s/^'//" -e "s/'\$//")
case "$path" in
  "$ROOT"/*) ;;
  *) path="$ROOT/\${path#/}" ;;
esac
mode="$1"
shift
if [ $# -gt 0 ]; then
  # Only the named repositories, compared as strings (no "..", no other spelling).
  mode=none
  for grant in "$@"; do
    repo="\${grant#*:}"
    if [ "$path" = "$ROOT/$repo" ] || [ "$path" = "$ROOT/\${repo%.git}" ]; then
      mode="\${grant%%:*}"
    fi
  done
  if [ "$mode" = none ]; then
    echo "fluxfleet ssh sandbox: this key has no access to this repository" >&2
    exit 1
  fi
fi
if [ "$mode" != rw ]; then
  case "$SSH_ORIGINAL_COMMAND" in
    git-upload-pack*|"git upload-pack"*) ;;
    git-receive-pack*|"git receive-pack"*)
      echo "fluxfleet ssh sandbox: this key is read-only: push (git-receive-pack) is not allowed" >&2
      exit 1 ;;
    *)
      echo "fluxfleet ssh sandbox: this key is read-only: only git-upload-pack (fetch) is allowed" >&2
      exit 1 ;;
  esac
fi
exec git-shell -c "$cmd '$path'"
`;
}

// Repos are shared between root (seeding, inspection) and the sandbox users (pushes): git must
// not refuse them for "dubious ownership". fsckObjects catches malformed pushes in tests.
const GIT_CONFIG = `[safe]
\tdirectory = *
[receive]
\tfsckObjects = true
[transfer]
\tfsckObjects = true
`;

async function run(cmd: string, args: string[]): Promise<{ code: number; err: string }> {
  const res = await new Deno.Command(cmd, { args, stdin: "null", stdout: "null", stderr: "piped" })
    .output();
  return { code: res.code, err: new TextDecoder().decode(res.stderr).trim() };
}

async function makeHostKey(
  dir: string,
  type: HostKeyType,
): Promise<{ file: string; key: SshdHostKey }> {
  const file = join(dir, `ssh_host_${type}_key`);
  const res = await run("ssh-keygen", ["-q", "-t", type, "-N", "", "-C", "", "-f", file]);
  if (res.code !== 0) throw new Error(`ssh-keygen -t ${type} failed: ${res.err}`);
  const pub = findPublicKey(await Deno.readTextFile(`${file}.pub`));
  if (!pub) throw new Error(`ssh-keygen wrote an unreadable ${type} host key`);
  return {
    file,
    key: {
      type: pub.type,
      publicKey: `${pub.type} ${pub.base64}`,
      fingerprint: sha256Fingerprint(pub.blob),
    },
  };
}

interface Started {
  child: Deno.ChildProcess;
  port: number;
}

class SandboxSshd implements SshdServer {
  readonly host = HOST;
  readonly hostKeys: SshdHostKey[];
  readonly users: string[];
  port = 0;
  pid = 0;
  #child: Deno.ChildProcess | undefined;
  #logLines: string[] = [];
  #connections = 0;
  #logDone: Promise<void> = Promise.resolve();
  #keys = new Map<string, string>();
  #writing: Promise<void> = Promise.resolve();
  #stopping: Promise<void> | undefined;

  constructor(
    readonly root: string,
    private readonly dir: string,
    private readonly ownsRoot: boolean,
    hostKeys: SshdHostKey[],
    users: string[],
  ) {
    this.hostKeys = hostKeys;
    this.users = users;
  }

  get #gitConfig(): string {
    return join(this.dir, "gitconfig");
  }

  attach(started: Started): void {
    this.#child = started.child;
    this.port = started.port;
    this.pid = started.child.pid;
  }

  /** Collects sshd's stderr; resolves when the pipe closes. */
  collectLog(child: Deno.ChildProcess): void {
    const lines = this.#logLines;
    this.#logDone = (async () => {
      let rest = "";
      for await (const text of child.stderr.pipeThrough(new TextDecoderStream())) {
        const parts = (rest + text).split("\n");
        rest = parts.pop() ?? "";
        lines.push(...parts);
        this.#connections += parts.filter((l) => l.startsWith("Connection from ")).length;
        if (lines.length > MAX_LOG_LINES) lines.splice(0, lines.length - MAX_LOG_LINES);
      }
      if (rest) lines.push(rest);
    })().catch(() => {});
  }

  log(): string {
    return this.#logLines.join("\n");
  }

  connections(): number {
    return this.#connections;
  }

  knownHosts(): string {
    return this.hostKeys.map((k) => `[${HOST}]:${this.port} ${k.publicKey}\n`).join("");
  }

  hostedUrl(name: string, user = "git"): string {
    return `ssh://${user}@${HOST}:${this.port}/${normalizeRepoName(name)}`;
  }

  repoUrl(name: string, user = "git"): string {
    return `ssh://${user}@${HOST}:${this.port}${this.root}/${normalizeRepoName(name)}`;
  }

  async createRepo(
    name: string,
    opts: { files?: Record<string, string>; branch?: string } = {},
  ): Promise<void> {
    await createBareRepo(this.#gitConfig, this.#repoDir(name), opts.branch ?? "main", opts.files);
  }

  authorize(
    publicKey: string,
    opts: { readOnly?: boolean; repos?: RepoGrant[] } = {},
  ): Promise<void> {
    const key = findPublicKey(publicKey);
    if (!key) throw new Error("authorize: not an SSH public key line");
    const wrapper = join(this.dir, "git-wrapper");
    const mode = opts.readOnly ? "ro" : "rw";
    // Grants become words of the forced command, which the login shell runs: plain path
    // characters only (normalizeRepoName also refuses "." and ".." segments).
    const grants = (opts.repos ?? []).map((g) => {
      if (!/^[A-Za-z0-9_.+\/-]+$/.test(g.path)) throw new Error(`authorize: bad repo ${g.path}`);
      return ` ${g.readOnly ? "ro" : "rw"}:${normalizeRepoName(g.path)}`;
    }).join("");
    this.#keys.set(
      `${key.type} ${key.base64}`,
      `restrict,command="${wrapper} ${mode}${grants}" ${key.type} ${key.base64}`,
    );
    return this.#writeAuthorizedKeys();
  }

  revoke(publicKey: string): Promise<void> {
    const key = findPublicKey(publicKey);
    if (!key) throw new Error("revoke: not an SSH public key line");
    this.#keys.delete(`${key.type} ${key.base64}`);
    return this.#writeAuthorizedKeys();
  }

  headSha(name: string, branch: string): Promise<string | null> {
    return headSha(this.#gitConfig, this.#repoDir(name), branch);
  }

  readFile(name: string, branch: string, path: string): Promise<string | null> {
    return readBlob(this.#gitConfig, this.#repoDir(name), branch, path);
  }

  holdPushes(name: string): Promise<PushHold> {
    return holdPushes(this.#repoDir(name));
  }

  stop(): Promise<void> {
    this.#stopping ??= this.#shutdown();
    return this.#stopping;
  }

  async #shutdown(): Promise<void> {
    const child = this.#child;
    if (child) {
      // Per-connection sshd processes outlive the listener: signal them too, by pid.
      const pids = [child.pid, ...await descendants(child.pid)];
      for (const pid of pids) signal(pid, "SIGTERM");
      if (!await waitGone(pids, 3000)) {
        for (const pid of pids.filter(isAlive)) signal(pid, "SIGKILL");
        await waitGone(pids, 2000);
      }
      await child.status;
      await Promise.race([this.#logDone, new Promise((r) => setTimeout(r, 2000))]);
    }
    await rm(this.dir, { recursive: true, force: true });
    if (this.ownsRoot) await rm(this.root, { recursive: true, force: true });
  }

  #repoDir(name: string): string {
    return join(this.root, normalizeRepoName(name));
  }

  /** Whole-file replace via rename, so sshd never reads a half-written authorized_keys. */
  #writeAuthorizedKeys(): Promise<void> {
    const text = [...this.#keys.values()].map((l) => `${l}\n`).join("");
    const file = join(this.dir, "authorized_keys");
    this.#writing = this.#writing.catch(() => {}).then(async () => {
      await writeFile(`${file}.tmp`, text, { mode: 0o644 });
      await chmod(`${file}.tmp`, 0o644);
      await rename(`${file}.tmp`, file);
    });
    return this.#writing;
  }
}

/** Starts sshd on a free port; retries with another port if the one picked got taken. */
async function launch(server: SandboxSshd, dir: string, hostKeyFiles: string[]): Promise<Started> {
  let lastError = "";
  for (let attempt = 1; attempt <= 3; attempt++) {
    const port = freePort();
    const config = join(dir, "sshd_config");
    await writeFile(config, sshdConfig(dir, port, hostKeyFiles, server.users), { mode: 0o644 });
    const check = await run(SSHD, ["-t", "-f", config]);
    if (check.code !== 0) throw new Error(`sshd rejected the sandbox config: ${check.err}`);
    const child = new Deno.Command(SSHD, {
      args: ["-D", "-e", "-f", config],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    server.collectLog(child);
    let exited = false;
    child.status.then(() => exited = true);
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (!exited && Date.now() < deadline) {
      if (server.log().includes(`Server listening on ${HOST} port ${port}`)) {
        return { child, port };
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    if (!exited) signal(child.pid, "SIGKILL");
    await child.status;
    lastError = server.log().split("\n").slice(-5).join("\n");
    if (!/Address already in use/i.test(lastError)) break;
  }
  throw new Error(`sshd did not start: ${lastError || "no output"}`);
}

export async function startSshd(opts: SshdOptions = {}): Promise<SshdServer> {
  if (Deno.uid() !== 0) {
    throw new Error("the ssh sandbox needs root: sshd switches to the login user");
  }
  const users = [...new Set([...DEFAULT_USERS, ...(opts.users ?? [])])];
  const types = opts.hostKeyTypes ?? ["ed25519", "ecdsa", "rsa"];
  if (types.length === 0) throw new Error("startSshd: hostKeyTypes must not be empty");
  const dir = await Deno.makeTempDir({ prefix: "fluxfleet-sshd-" });
  const ownsRoot = opts.root === undefined;
  let rootDir: string | undefined = opts.root;
  let server: SandboxSshd | undefined;
  try {
    // The login users must reach the wrapper, gitconfig and authorized_keys (host keys stay 0600).
    await chmod(dir, 0o755);
    rootDir ??= await Deno.makeTempDir({ prefix: "fluxfleet-sshd-repos-" });
    await mkdir(rootDir, { recursive: true });
    await chmod(rootDir, 0o755);
    const root = await realpath(rootDir);
    await ensureSandboxUsers(users);
    // sshd's privilege separation directory; Debian creates it only via systemd.
    await mkdir("/run/sshd", { recursive: true, mode: 0o755 });
    const made = await Promise.all(types.map((t) => makeHostKey(dir, t)));
    const gitConfig = join(dir, "gitconfig");
    await writeFile(gitConfig, GIT_CONFIG, { mode: 0o644 });
    await writeFile(join(dir, "git-wrapper"), wrapperScript(gitConfig, root), { mode: 0o755 });
    await chmod(join(dir, "git-wrapper"), 0o755);
    await writeFile(join(dir, "authorized_keys"), "", { mode: 0o644 });
    server = new SandboxSshd(root, dir, ownsRoot, made.map((m) => m.key), users);
    server.attach(await launch(server, dir, made.map((m) => m.file)));
    return server;
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    if (ownsRoot && rootDir) await rm(rootDir, { recursive: true, force: true });
    throw e;
  }
}
