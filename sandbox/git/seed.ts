/**
 * The first commit of a sandbox repository, made with the system git in a temporary work tree
 * and pushed into the bare repository. Shared by the git HTTP server and the sshd sandbox; each
 * passes its own way of running git (the sshd sandbox uses its own git config).
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

export type GitRunner = (
  args: string[],
  opts?: { cwd?: string; env?: Record<string, string> },
) => Promise<unknown>;

export const SEED_AUTHOR = { name: "Someone Else", email: "else@example.com" };

/** Relative file path for a seed commit; refuses anything escaping the work tree. */
export function safeRelativePath(path: string): string {
  const segments = path.split("/");
  const safe = segments.every((s) => s !== "" && s !== "." && s !== ".." && !/[\\/\0]/.test(s));
  if (!safe) throw new Error(`invalid file path: ${path}`);
  return segments.join("/");
}

export async function seedCommit(
  git: GitRunner,
  bareDir: string,
  branch: string,
  files: Record<string, string>,
  message = "Initial commit",
): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), "fluxfleet-seed-"));
  try {
    await git(["init", "--quiet", `--initial-branch=${branch}`, work]);
    for (const [path, content] of Object.entries(files)) {
      const target = join(work, safeRelativePath(path));
      await mkdir(dirname(target), { recursive: true });
      await writeFile(target, content);
    }
    const env = {
      GIT_AUTHOR_NAME: SEED_AUTHOR.name,
      GIT_AUTHOR_EMAIL: SEED_AUTHOR.email,
      GIT_COMMITTER_NAME: SEED_AUTHOR.name,
      GIT_COMMITTER_EMAIL: SEED_AUTHOR.email,
    };
    await git(["add", "--all"], { cwd: work });
    await git(["commit", "--quiet", "--no-verify", "-m", message], { cwd: work, env });
    await git(["push", "--quiet", bareDir, `HEAD:refs/heads/${branch}`], { cwd: work });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
