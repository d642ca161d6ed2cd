/**
 * Commits that the sandboxes' `createRepo` cannot make: symbolic links, submodules (gitlinks)
 * and HEADs pointing anywhere — the repositories an attacker or a plain git server hands over.
 * Made with the system git, the user's and system's config ignored, straight into a bare
 * repository of the git server or the sshd sandbox (both serve the same files).
 */
import { join } from "node:path";
import { openUp } from "../../sandbox/ssh/repos.ts";

/** A file's text, a symbolic link's target, or a submodule at a commit id. */
export type TreeEntry = string | { link: string } | { submodule: string };

async function git(args: string[], cwd?: string): Promise<string> {
  const out = await new Deno.Command("git", {
    args: ["-c", "safe.directory=*", ...args],
    cwd,
    clearEnv: true,
    env: {
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      HOME: cwd ?? "/nonexistent",
      GIT_CONFIG_NOSYSTEM: "1",
      GIT_CONFIG_GLOBAL: "/dev/null",
      GIT_AUTHOR_NAME: "Attacker",
      GIT_AUTHOR_EMAIL: "attacker@example.com",
      GIT_COMMITTER_NAME: "Attacker",
      GIT_COMMITTER_EMAIL: "attacker@example.com",
      LANG: "C",
    },
    stdin: "null",
  }).output();
  const dec = new TextDecoder();
  if (out.code !== 0) throw new Error(`git ${args.join(" ")}: ${dec.decode(out.stderr)}`);
  return dec.decode(out.stdout).trim();
}

/**
 * Pushes (forced) one commit holding exactly `entries` to `ref` of the bare repository `bareDir`,
 * on top of `parent` when given; returns the commit id.
 */
export async function pushTree(
  bareDir: string,
  ref: string,
  entries: Record<string, TreeEntry>,
  parent?: string,
): Promise<string> {
  const work = await Deno.makeTempDir({ prefix: "fluxfleet-tree-" });
  try {
    await git(["init", "--quiet", work]);
    // The bare repository's objects are visible, so `parent` can be one of its commits.
    await Deno.writeTextFile(join(work, ".git/objects/info/alternates"), `${bareDir}/objects\n`);
    const gitlinks: string[] = [];
    for (const [path, entry] of Object.entries(entries)) {
      const full = join(work, path);
      await Deno.mkdir(join(full, ".."), { recursive: true });
      if (typeof entry === "string") await Deno.writeTextFile(full, entry);
      else if ("link" in entry) await Deno.symlink(entry.link, full);
      else gitlinks.push(`160000,${entry.submodule},${path}`);
    }
    await git(["add", "--all"], work);
    for (const g of gitlinks) await git(["update-index", "--add", "--cacheinfo", g], work);
    const tree = await git(["write-tree"], work);
    const commit = await git(
      ["commit-tree", tree, "-m", "attack", ...(parent ? ["-p", parent] : [])],
      work,
    );
    await git(["push", "--quiet", "--force", bareDir, `${commit}:${ref}`], work);
    // The sshd sandbox's users write to these repositories too.
    await openUp(bareDir);
    return commit;
  } finally {
    await Deno.remove(work, { recursive: true });
  }
}

/** Points the bare repository's HEAD at a ref (which may not exist) or, detached, at a commit. */
export async function setHead(bareDir: string, to: { ref: string } | { commit: string }) {
  if ("ref" in to) await git(["--git-dir", bareDir, "symbolic-ref", "HEAD", to.ref]);
  else await git(["--git-dir", bareDir, "update-ref", "--no-deref", "HEAD", to.commit]);
}

/** The commit a ref of the bare repository points at, or null. */
export async function refCommit(bareDir: string, ref: string): Promise<string | null> {
  try {
    return await git(["--git-dir", bareDir, "rev-parse", "--verify", "--quiet", ref]);
  } catch {
    return null;
  }
}

/** `git log --format=%H` of a ref of the bare repository. */
export async function commitsOf(bareDir: string, ref: string): Promise<string[]> {
  return (await git(["--git-dir", bareDir, "log", "--format=%H", ref])).split("\n");
}
