/** What git and ssh print when they fail, put in words a user can act on. */
import { findHostKeys, knownHostsName } from "../../../keys/known_hosts.ts";
import { serverText } from "../../../util/redact.ts";
import { GitError } from "../../types.ts";
import { hostPort, type SshUrl } from "../../ssh_url.ts";

/** A whole git command (connect, negotiate, transfer) may take this many timeouts. */
export const COMMAND_BUDGET = 10;

export interface GitRun {
  code: number;
  stdout: string;
  stderr: string;
  /** Killed by the watchdog. */
  timedOut: boolean;
}

export interface ErrorContext {
  op: string;
  display: string;
  target: SshUrl;
  knownHosts: string;
  timeoutMs: number;
  identity: { fingerprint: string; type: string } | null;
  agent: boolean;
  dir: string;
}

/** A git command stopped by SIGINT or the process's exit (`interrupted` says which). */
export function interruptedError(s: { ctx: ErrorContext; interrupted: string | null }): GitError {
  return new GitError(`git ${s.ctx.op} with ${s.ctx.display} was ${s.interrupted}`, false);
}

/** Temp paths are noise in a message (and say where a key was). */
export function scrub(text: string, ctx: ErrorContext): string {
  return text.replaceAll(ctx.dir, "<temp>");
}

export function firstLines(text: string, n: number): string {
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
export function describeFailure(r: GitRun, ctx: ErrorContext): GitError {
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
