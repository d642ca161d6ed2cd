/** The system transport's child processes: a cleared environment, their own process group. */
import { GitError } from "../../types.ts";

/**
 * Starts `command` detached (its own process group and session, no controlling terminal: it
 * cannot prompt, and it is killed with everything it started) with exactly `env`, stdout and
 * stderr piped. A command that is not installed is a GitError saying `missing`.
 */
export function spawnDetached(
  command: string,
  opts: { args: string[]; env: Record<string, string>; cwd?: string; stdin: "null" | "piped" },
  missing: string,
): Deno.ChildProcess {
  try {
    return new Deno.Command(command, {
      ...opts,
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
      detached: true,
    }).spawn();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new GitError(missing, false);
    throw e;
  }
}
