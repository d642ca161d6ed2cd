/**
 * Bare repositories for the sshd sandbox, driven by the system git with the user's and system's
 * config ignored. Repos are created shared (0666 files, 0777 dirs) because pushes arrive as the
 * sandbox's local users while the repos themselves are created by the test process (root).
 */
import { chmod, mkdir, readdir, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import {
  branchHead,
  type GitResult,
  initBareRepository,
  readBlob as readSystemBlob,
  runGit as runSystemGit,
} from "../git/system_git.ts";

export type { GitResult };

/** git with the sandbox's own global config (safe.directory=*: repos are shared between users). */
export function runGit(
  gitConfig: string,
  args: string[],
  opts: { cwd?: string; env?: Record<string, string> } = {},
): Promise<GitResult> {
  return runSystemGit(args, { ...opts, globalConfig: gitConfig });
}

function isSafeSegment(segment: string): boolean {
  return segment !== "" && segment !== "." && segment !== ".." && !/[\\/\0'"\s]/.test(segment);
}

/** "fleet" / "fleet.git" / "team/fleet" → "fleet.git" …; refuses anything leaving the root. */
export function normalizeRepoName(name: string): string {
  const withSuffix = name.endsWith(".git") ? name : `${name}.git`;
  if (!withSuffix.split("/").every(isSafeSegment)) throw new Error(`invalid repo name: ${name}`);
  return withSuffix;
}

export async function isBareRepo(dir: string): Promise<boolean> {
  try {
    return (await stat(join(dir, "HEAD"))).isFile();
  } catch {
    return false;
  }
}

/** chmod -R a+rwX: whatever git created as root must stay writable for the sandbox users. */
export async function openUp(path: string): Promise<void> {
  const s = await stat(path);
  const mode = s.mode & 0o777;
  const exec = s.isDirectory() || (mode & 0o111) !== 0 ? 0o111 : 0;
  await chmod(path, mode | 0o666 | exec);
  if (s.isDirectory()) {
    for (const entry of await readdir(path)) await openUp(join(path, entry));
  }
}

export async function createBareRepo(
  gitConfig: string,
  dir: string,
  branch: string,
  files: Record<string, string> | undefined,
): Promise<void> {
  if (await isBareRepo(dir)) throw new Error(`repo already exists: ${dir}`);
  await mkdir(dirname(dir), { recursive: true, mode: 0o755 });
  await initBareRepository(dir, branch, {
    shared: true,
    files,
    git: { globalConfig: gitConfig },
  });
  await openUp(dir);
}

export function headSha(gitConfig: string, dir: string, branch: string): Promise<string | null> {
  return branchHead(dir, branch, { globalConfig: gitConfig });
}

export function readBlob(
  gitConfig: string,
  dir: string,
  branch: string,
  path: string,
): Promise<string | null> {
  return readSystemBlob(dir, branch, path, { globalConfig: gitConfig });
}

/** A push held in a repository's pre-receive hook, for tests that act while a push is in flight. */
export interface PushHold {
  /**
   * Resolves once a push is held: the server has received the pack and runs its pre-receive hook,
   * no ref has moved yet. Rejects after `timeoutMs` (default 60000) without one.
   */
  reached(timeoutMs?: number): Promise<void>;
  /** Whether a push is being held now. */
  holding(): Promise<boolean>;
  /**
   * Ends the hold: the held push goes on, or fails in the hook with `reject`; later pushes pass.
   * Waits until the held hook has finished (if one runs).
   */
  release(opts?: { reject?: boolean }): Promise<void>;
}

// Runs as the pushing sandbox user, in the bare repository (git's cwd for hooks); the files it
// checks and writes are in the repository, which is world-writable (see openUp). Bounded: a hold
// nobody releases ends after ten minutes.
const HOLD_HOOK = `#!/bin/sh
# fluxfleet ssh sandbox: holds a push while the file "hold" exists (tests kill clients mid-push).
[ -e hold ] || exit 0
: > push-held
i=0
while [ -e hold ] && [ $i -lt 6000 ]; do sleep 0.1; i=$((i + 1)); done
if [ -e hold-reject ]; then
  rm -f hold-reject push-held
  echo "fluxfleet ssh sandbox: the held push was rejected" >&2
  exit 1
fi
rm -f push-held
exit 0
`;

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** Holds the next pushes to the bare repository `dir` in its pre-receive hook until released. */
export async function holdPushes(dir: string): Promise<PushHold> {
  if (!await isBareRepo(dir)) throw new Error(`no such repo: ${dir}`);
  const hook = join(dir, "hooks", "pre-receive");
  await mkdir(dirname(hook), { recursive: true, mode: 0o777 });
  await Deno.writeTextFile(hook, HOLD_HOOK, { mode: 0o755 });
  await chmod(hook, 0o755);
  await Deno.remove(join(dir, "hold-reject")).catch(() => {});
  await Deno.writeTextFile(join(dir, "hold"), "", { mode: 0o666 });
  const held = join(dir, "push-held");
  const waitFor = async (want: boolean, timeoutMs: number, what: string) => {
    const deadline = Date.now() + timeoutMs;
    while (await exists(held) !== want) {
      if (Date.now() > deadline) throw new Error(`push hold on ${dir}: ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  return {
    reached: (timeoutMs = 60_000) => waitFor(true, timeoutMs, "no push arrived"),
    holding: () => exists(held),
    async release(opts = {}) {
      if (opts.reject) await Deno.writeTextFile(join(dir, "hold-reject"), "", { mode: 0o666 });
      await Deno.remove(join(dir, "hold")).catch(() => {});
      await waitFor(false, 10_000, "the held hook did not end");
      await Deno.remove(join(dir, "hold-reject")).catch(() => {});
    },
  };
}
