/**
 * Keeps the private key of a system-git operation in memory, and cleans up after the operation
 * even when fluxfleet is killed with SIGKILL.
 *
 * `ssh-agent -a <dir>/agent sh -c <guard> … <dir>`: ssh-agent listens on a socket in the
 * operation's 0700 dir, forks the agent (in a session of its own) and execs the guard script in
 * its own place, so the agent is the guard's child. The key reaches the agent through ssh-add's
 * stdin and is added with a lifetime, renewed before each network command: it is never in a file,
 * and ssh signs through the agent (`IdentityAgent`).
 *
 * The guard's stdin is a pipe from fluxfleet, on which fluxfleet names the process groups of the
 * git commands running. However fluxfleet ends — SIGKILL included — the pipe closes: the guard
 * kills those groups (git and ssh), then the agent, and removes the dir. Should the guard be
 * killed too, the agent sees that its parent is gone (ssh-agent checks every 10 s when it runs a
 * command) and exits, removing its socket; what is left of the dir (known_hosts, the public key)
 * goes at the next run's sweep (session_dir.ts).
 */
import { join } from "node:path";
import { GitError } from "../../types.ts";
import { MAX_SOCKET_PATH } from "./session_dir.ts";
import { spawnDetached } from "./spawn.ts";

export const SOCKET_NAME = "agent";

/** $1: the operation's dir. stdin: one line per change, the process groups to kill. */
const GUARD_SCRIPT = `exec 2>/dev/null
echo "\${SSH_AGENT_PID:-0}"
groups=
while IFS= read -r line; do groups=$line; done
for g in $groups; do
  case $g in ''|*[!0-9]*) ;; *) kill -s KILL -- "-$g" ;; esac
done
[ -z "$SSH_AGENT_PID" ] || kill "$SSH_AGENT_PID"
rm -rf -- "$1"
`;

export interface SessionGuard {
  /** The private agent's socket, for IdentityAgent; null when started without an agent. */
  readonly socket: string | null;
  /** Adds (or re-adds, renewing its lifetime) an unencrypted private key, through a pipe. */
  loadKey(keyText: string, lifetimeSeconds: number): Promise<void>;
  /** The process groups (git with its ssh) to kill should fluxfleet die: those running now. */
  watch(groups: number[]): void;
  /** The normal end: the guard stops the agent, removes the dir and exits; waits for that. */
  close(): Promise<void>;
  /** For SIGINT and exit, synchronous: kills the agent and the guard at once. */
  killNow(): void;
}

function firstLine(text: string): string {
  return text.split("\n").map((l) => l.trim()).find((l) => l !== "") ?? "";
}

function path(): string {
  return Deno.env.get("PATH") ?? "/usr/local/bin:/usr/bin:/bin";
}

/** Starts the guard in `dir` (an empty 0700 dir), with a private ssh-agent if `withAgent`. */
export async function startSessionGuard(dir: string, withAgent: boolean): Promise<SessionGuard> {
  const socket = withAgent ? join(dir, SOCKET_NAME) : null;
  if (socket && socket.length > MAX_SOCKET_PATH) {
    throw new GitError(
      `the temp directory ${dir} is too long a path for an ssh-agent socket: set TMPDIR to a ` +
        `shorter directory`,
      false,
    );
  }
  const guardArgs = ["-c", GUARD_SCRIPT, "fluxfleet-ssh-guard", dir];
  // Own session: a Ctrl-C at the terminal reaches fluxfleet, which decides what to stop.
  const child = spawnDetached(
    socket ? "ssh-agent" : "sh",
    {
      args: socket ? ["-a", socket, "sh", ...guardArgs] : guardArgs,
      env: { PATH: path() },
      stdin: "piped",
    },
    "git.transport system needs OpenSSH's ssh-agent and ssh-add on PATH (the key is only " +
      "ever held by a private ssh-agent): install the OpenSSH client",
  );
  // The first line says the guard runs (and the agent listens): the agent's pid, 0 without one.
  let out = "";
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  while (!out.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    out += value;
  }
  await reader.cancel().catch(() => {});
  const agentPid = Number(out.split("\n")[0]);
  if (!out.includes("\n") || !Number.isSafeInteger(agentPid)) {
    const err = await new Response(child.stderr).text().catch(() => "");
    child.stdin.close().catch(() => {});
    const status = await child.status;
    throw new GitError(
      `ssh-agent did not start: ${firstLine(err) || `exit code ${status.code}`}`,
      false,
    );
  }
  await child.stderr.cancel().catch(() => {});
  const writer = child.stdin.getWriter();
  const encoder = new TextEncoder();
  let writing: Promise<void> = Promise.resolve();
  let ended = false;

  return {
    socket,
    async loadKey(keyText: string, lifetimeSeconds: number): Promise<void> {
      if (!socket) throw new Error("loadKey: this guard has no agent");
      let add: Deno.ChildProcess;
      try {
        add = new Deno.Command("ssh-add", {
          args: ["-q", "-t", String(Math.max(1, Math.ceil(lifetimeSeconds))), "-"],
          clearEnv: true,
          env: { PATH: path(), SSH_AUTH_SOCK: socket },
          stdin: "piped",
          stdout: "null",
          stderr: "piped",
        }).spawn();
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) {
          throw new GitError(
            "git.transport system needs OpenSSH's ssh-add on PATH: install the OpenSSH client",
            false,
          );
        }
        throw e;
      }
      const w = add.stdin.getWriter();
      await w.write(encoder.encode(keyText)).catch(() => {});
      await w.close().catch(() => {});
      const res = await add.output();
      if (res.code !== 0) {
        // ssh-add names "(stdin)" and the problem ("invalid format"), never key bytes.
        const said = firstLine(new TextDecoder().decode(res.stderr));
        throw new GitError(
          `ssh-add could not give the key to fluxfleet's private ssh-agent: ${
            said || `exit code ${res.code}`
          }`,
          false,
        );
      }
    },
    watch(groups: number[]): void {
      if (ended) return;
      const line = encoder.encode(`${groups.join(" ")}\n`);
      writing = writing.then(() => writer.write(line)).catch(() => {});
    },
    async close(): Promise<void> {
      if (!ended) {
        ended = true;
        await writing;
        await writer.close().catch(() => {});
      }
      await child.status;
    },
    killNow(): void {
      ended = true;
      if (agentPid > 0) {
        try {
          Deno.kill(agentPid, "SIGKILL");
        } catch { /* already gone */ }
      }
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
    },
  };
}
