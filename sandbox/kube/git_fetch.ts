/**
 * Fetches one revision of a GitRepository and stores its tree as a tar file, the way
 * source-controller turns a checkout into an artifact (a tarball of the tree, without `.git`).
 * The fetch is shallow (`--depth 1`) into a throwaway bare repository; objects are fsck-checked
 * on the way in, so a malformed tree (`..`, `.git` or duplicate entries) is refused before
 * `git archive` writes anything. (Unlike source-controller, `git archive` honours the tree's
 * `export-ignore` and `export-subst` attributes; test repositories do not use them.)
 */

import type { GitSession } from "./git_env.ts";
import { type GitRef, refName } from "./git.ts";

/** How long one fetch may take before the stand-in reports a timeout. */
const FETCH_TIMEOUT_MS = 60_000;

export type FetchResult = { ok: true } | { ok: false; message: string };

interface GitRun {
  ok: boolean;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

async function git(
  gitDir: string,
  args: string[],
  session: GitSession,
  signal: AbortSignal,
): Promise<GitRun> {
  const timeout = AbortSignal.timeout(FETCH_TIMEOUT_MS);
  const out = await new Deno.Command("git", {
    args: ["--git-dir", gitDir, ...args],
    // No user or system configuration (url rewrites, hooks paths…) takes part.
    env: { ...session.env, GIT_CONFIG_GLOBAL: "/dev/null" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.any([signal, timeout]),
  }).output();
  return {
    ok: out.success,
    stdout: new TextDecoder().decode(out.stdout).trim(),
    stderr: new TextDecoder().decode(out.stderr),
    timedOut: timeout.aborted,
  };
}

/** `git fetch --depth 1 <url> <what>`; returns the fetched commit or why not. */
async function fetchOne(
  gitDir: string,
  url: string,
  what: string,
  session: GitSession,
  signal: AbortSignal,
): Promise<{ sha: string } | { error: string }> {
  const run = await git(
    gitDir,
    [
      "-c",
      "transfer.fsckObjects=true",
      "fetch",
      "--quiet",
      "--no-tags",
      "--depth",
      "1",
      url,
      what,
    ],
    session,
    signal,
  );
  if (!run.ok) {
    return { error: run.timedOut ? "timeout" : session.explain(run.stderr, "git fetch failed") };
  }
  const head = await git(gitDir, ["rev-parse", "FETCH_HEAD^{commit}"], session, signal);
  return head.ok ? { sha: head.stdout } : { error: session.explain(head.stderr, "no commit") };
}

/**
 * Fetches commit `sha` (which `ref` resolved to) from `url` and writes its tree to `tarPath`.
 * `workDir` is an empty directory for the throwaway repository; the caller removes it.
 */
export async function fetchTree(
  url: string,
  ref: GitRef,
  sha: string,
  session: GitSession,
  workDir: string,
  tarPath: string,
  signal: AbortSignal,
): Promise<FetchResult> {
  const prefix = `failed to checkout and determine revision: unable to clone '${url}'`;
  const gitDir = `${workDir}/repo.git`;
  try {
    const init = await git(gitDir, ["init", "--quiet", "--bare"], session, signal);
    if (!init.ok) return { ok: false, message: `${prefix}: ${init.stderr.trim()}` };
    // By name first (every server allows it); by sha when the ref moved since ls-remote.
    let got = await fetchOne(gitDir, url, refName(ref), session, signal);
    if (ref.kind !== "commit" && (!("sha" in got) || got.sha !== sha)) {
      const bySha = await fetchOne(gitDir, url, sha, session, signal);
      if ("sha" in bySha) got = bySha;
    }
    if (!("sha" in got)) return { ok: false, message: `${prefix}: ${got.error}` };
    if (got.sha !== sha) {
      return { ok: false, message: `${prefix}: commit '${sha}' not found on the remote` };
    }
    const archive = await git(
      gitDir,
      ["archive", "--format=tar", "-o", tarPath, sha],
      session,
      signal,
    );
    if (!archive.ok) return { ok: false, message: `${prefix}: ${archive.stderr.trim()}` };
    return { ok: true };
  } catch (err) {
    return { ok: false, message: `${prefix}: ${err instanceof Error ? err.message : String(err)}` };
  }
}
