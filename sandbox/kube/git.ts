/**
 * Branch/tag resolution with the system git (`git ls-remote`), as source-controller does before
 * fetching. The environment and credentials come from git_env.ts.
 */

import {
  type GitAuth,
  type GitSession,
  type SshGitAuth,
  withHttpGit,
  withSshGit,
} from "./git_env.ts";

export type { GitAuth, SshGitAuth } from "./git_env.ts";

export type GitRef =
  | { kind: "branch"; name: string }
  | { kind: "tag"; name: string }
  | { kind: "commit"; sha: string };

export type Resolution = { ok: true; revision: string; sha: string } | {
  ok: false;
  message: string;
};

/** How long one ls-remote may take before the stand-in reports a timeout. */
const LS_REMOTE_TIMEOUT_MS = 15_000;

function patternsFor(ref: GitRef): string[] {
  if (ref.kind === "branch") return [`refs/heads/${ref.name}`];
  // The peeled entry (^{}) of an annotated tag is the commit the tag points at.
  if (ref.kind === "tag") return [`refs/tags/${ref.name}`, `refs/tags/${ref.name}^{}`];
  return ["HEAD"];
}

function pickSha(stdout: string, ref: GitRef): string | undefined {
  const lines = stdout.split("\n").map((l) => l.split("\t")).filter((p) => p.length === 2);
  const find = (name: string) => lines.find(([, r]) => r === name)?.[0];
  if (ref.kind === "branch") return find(`refs/heads/${ref.name}`);
  if (ref.kind === "tag") return find(`refs/tags/${ref.name}^{}`) ?? find(`refs/tags/${ref.name}`);
  return ref.sha;
}

function revisionOf(ref: GitRef, sha: string): string {
  return ref.kind === "commit" ? `sha1:${sha}` : `${ref.name}@sha1:${sha}`;
}

/** The ref as git names it on the remote (a commit is its sha). */
export function refName(ref: GitRef): string {
  if (ref.kind === "branch") return `refs/heads/${ref.name}`;
  if (ref.kind === "tag") return `refs/tags/${ref.name}`;
  return ref.sha;
}

function listPrefix(url: string): string {
  return `failed to checkout and determine revision: unable to list remote for '${url}'`;
}

/** Runs `git ls-remote` in `session`. */
async function lsRemote(
  url: string,
  ref: GitRef,
  session: GitSession,
  signal: AbortSignal,
): Promise<Resolution> {
  const prefix = listPrefix(url);
  const timeout = AbortSignal.timeout(LS_REMOTE_TIMEOUT_MS);
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command("git", {
      args: ["ls-remote", url, ...patternsFor(ref)],
      env: session.env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.any([signal, timeout]),
    }).output();
  } catch (err) {
    return { ok: false, message: `${prefix}: ${err instanceof Error ? err.message : String(err)}` };
  }
  if (!out.success) {
    const why = timeout.aborted
      ? "timeout"
      : session.explain(new TextDecoder().decode(out.stderr), "git ls-remote failed");
    return { ok: false, message: `${prefix}: ${why}` };
  }
  const sha = pickSha(new TextDecoder().decode(out.stdout), ref);
  if (!sha) {
    return { ok: false, message: `${prefix}: couldn't find remote ref "${refName(ref)}"` };
  }
  return { ok: true, sha, revision: revisionOf(ref, sha) };
}

/** `git ls-remote <url> <ref>`; url must already be checked to be http(s) or file. */
export function resolveRef(
  url: string,
  ref: GitRef,
  auth: GitAuth | undefined,
  signal: AbortSignal,
): Promise<Resolution> {
  return withHttpGit(url, auth, (session) => lsRemote(url, ref, session, signal));
}

/** `git ls-remote` over SSH with the secret's identity and known_hosts, strictly checked. */
export async function resolveRefSsh(
  url: string,
  ref: GitRef,
  auth: SshGitAuth,
  signal: AbortSignal,
): Promise<Resolution> {
  try {
    return await withSshGit(auth, (session) => lsRemote(url, ref, session, signal));
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    return { ok: false, message: `${listPrefix(url)}: ${why}` };
  }
}
