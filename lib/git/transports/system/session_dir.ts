/**
 * The private temp dirs of `git.transport: system` (see session_guard.ts): owned dirs
 * (lib/util/owned_dirs.ts), so that a later run removes those of a run killed with its guard. The
 * name is kept short: the agent's socket lives in the dir, and a socket path has at most 103
 * bytes (macOS), the temp dir included.
 */
import { tmpdir } from "node:os";
import { join } from "node:path";
import { longestOwnedName, makeOwnedDir, sweepStaleOwnedDirs } from "../../../util/owned_dirs.ts";

/** "fluxfleet ssh session", short: the agent's socket path is bounded (MAX_SOCKET_PATH). */
export const SESSION_PREFIX = "ffssh-";

/**
 * sun_path holds 108 bytes on Linux, 104 on macOS and the BSDs, the final NUL included: the agent's
 * socket path (`<root>/<session dir>/<socket name>`) may not be longer.
 */
export const MAX_SOCKET_PATH = Deno.build.os === "linux" ? 107 : 103;

/**
 * Where the session dirs go: the temp dir, unless a socket named `socketName` in a session dir
 * there could be too long a path (a deep TMPDIR, such as a test's or a CI job's): then /tmp, which
 * is short and, with its sticky bit and the dir's 0700, as private. Sweeps look in both.
 */
export function sessionRoots(socketName: string): { use: string; sweep: string[] } {
  const temp = tmpdir();
  const fits = (root: string) =>
    join(root, "x".repeat(longestOwnedName(SESSION_PREFIX)), socketName).length <=
      MAX_SOCKET_PATH;
  const use = fits(temp) || !fits("/tmp") ? temp : "/tmp";
  return { use, sweep: [...new Set([temp, use])] };
}

/** A new 0700 session dir in `root`, named after this process. */
export function makeSessionDir(root: string = tmpdir()): Promise<string> {
  return makeOwnedDir(root, SESSION_PREFIX);
}

/**
 * Removes the session dirs of runs of this user that are gone (killed with SIGKILL, or their
 * machine lost power), after killing the processes still working for them. Returns the names
 * removed.
 */
export function sweepStaleSessionDirs(root: string = tmpdir()): string[] {
  return sweepStaleOwnedDirs(root, SESSION_PREFIX);
}
