/**
 * Running the git binary for one session: a cleared environment, no system or global config, no
 * hooks; output read to its end but only its first bytes kept; killed after its time budget.
 */
import { GitError } from "../../types.ts";
import { readHead } from "../../../util/bounded_read.ts";
import { formatSize, MIB } from "../../../util/limits.ts";
import { killGroup, type Session, watchChildren } from "./session.ts";
import { spawnDetached } from "./spawn.ts";
import {
  COMMAND_BUDGET,
  describeFailure,
  firstLines,
  type GitRun,
  interruptedError,
  scrub,
} from "./errors.ts";

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

export async function git(
  s: Session,
  args: string[],
  opts: { cwd?: string; network?: boolean } = {},
): Promise<GitRun> {
  if (s.interrupted) throw interruptedError(s);
  // Own process group, no controlling terminal: ssh cannot prompt, and we can kill git and ssh
  // together.
  const child = spawnDetached(
    "git",
    { args: [...GIT_CONFIG_ARGS, ...args], cwd: opts.cwd, env: s.env, stdin: "null" },
    "git.transport system needs the git binary on PATH: install git, or use the builtin transport",
  );
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
export async function mustGit(s: Session, args: string[], cwd: string): Promise<string> {
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

export const classify = (e: unknown) => ({ transient: e instanceof GitError && e.transient });

/** The git run behind a described failure, for the decisions made on its exact output. */
const failedRuns = new WeakMap<object, GitRun>();

export function runOf(e: unknown): GitRun | undefined {
  return typeof e === "object" && e !== null ? failedRuns.get(e) : undefined;
}

/** Runs a network command; a failure becomes a described GitError. */
export async function netGit(s: Session, args: string[], cwd?: string): Promise<GitRun> {
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

export function isMissingBranch(e: unknown): boolean {
  const run = runOf(e);
  return !!run && /Remote branch .* not found in upstream/.test(run.stderr);
}

export function isNonFastForward(e: unknown): boolean {
  const run = runOf(e);
  return !!run && /\[rejected\]|non-fast-forward|\(fetch first\)/.test(run.stderr + run.stdout) &&
    !/\[remote rejected\]/.test(run.stderr + run.stdout);
}
