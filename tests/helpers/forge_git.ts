/**
 * The system git and ssh as a user of a forge sandbox drives them: clone and push over HTTPS with
 * a token (Basic authentication), or over SSH with a deploy key against the sandbox sshd, the
 * user's and system's git and ssh configuration ignored.
 */
import { join } from "node:path";
import {
  branchHead,
  type GitResult,
  runGit,
  SAFE_DIRECTORY_ENV,
} from "../../sandbox/git/system_git.ts";

export type GitRun = GitResult;

const AUTHOR = {
  GIT_AUTHOR_NAME: "Fleet Bot",
  GIT_AUTHOR_EMAIL: "bot@example.com",
  GIT_COMMITTER_NAME: "Fleet Bot",
  GIT_COMMITTER_EMAIL: "bot@example.com",
};

/** git in `cwd` (also its HOME), never prompting; the exit code is the caller's to judge. */
export function git(
  args: string[],
  cwd: string,
  env: Record<string, string> = {},
): Promise<GitRun> {
  return runGit(args, { cwd, env: { HOME: cwd, GIT_ASKPASS: "/bin/false", ...AUTHOR, ...env } });
}

export async function mustGit(
  args: string[],
  cwd: string,
  env: Record<string, string> = {},
): Promise<string> {
  const r = await git(args, cwd, env);
  if (r.code !== 0) throw new Error(`git ${args.join(" ")} failed: ${r.stderr}`);
  return r.stdout;
}

/** `-c http.extraHeader=…` giving git Basic credentials for every request. */
export function basicAuth(user: string, password: string): string[] {
  return ["-c", `http.extraHeader=Authorization: Basic ${btoa(`${user}:${password}`)}`];
}

export interface SshKey {
  /** Private key file. */
  path: string;
  /** "ssh-ed25519 AAAA… comment" */
  publicKey: string;
}

export async function newSshKey(dir: string, name: string): Promise<SshKey> {
  const path = join(dir, name);
  const out = await new Deno.Command("ssh-keygen", {
    args: ["-q", "-t", "ed25519", "-N", "", "-C", name, "-f", path],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  if (out.code !== 0) throw new Error(`ssh-keygen failed: ${new TextDecoder().decode(out.stderr)}`);
  return { path, publicKey: (await Deno.readTextFile(`${path}.pub`)).trim() };
}

/** Environment for git over SSH with one key, the sandbox sshd's host keys trusted. */
export function sshEnv(key: SshKey, knownHostsFile: string): Record<string, string> {
  return {
    GIT_SSH_COMMAND: [
      "ssh",
      "-F",
      "/dev/null",
      "-i",
      key.path,
      "-o",
      "IdentitiesOnly=yes",
      "-o",
      "BatchMode=yes",
      "-o",
      `UserKnownHostsFile=${knownHostsFile}`,
      "-o",
      "StrictHostKeyChecking=yes",
    ].join(" "),
  };
}

/**
 * Two deploy keys of the repository at `url` felt over SSH: the read-only one clones it but its
 * push is refused as read-only, the read-write one pushes a commit that lands on main of the
 * bare repository `gitDir`. Their clones and environments, for what a test checks next.
 */
export async function deployKeysEnforced(o: {
  dir: string;
  url: string;
  ro: SshKey;
  rw: SshKey;
  knownHosts: string;
  gitDir: string;
}): Promise<
  { roClone: string; rwClone: string; roEnv: Record<string, string>; rwEnv: Record<string, string> }
> {
  const roEnv = sshEnv(o.ro, o.knownHosts);
  await mustGit(["clone", "--quiet", o.url, "ro"], o.dir, roEnv);
  const roClone = join(o.dir, "ro");
  await commitFile(roClone, "ro.txt", "ro\n", "from the read-only key");
  const refused = await git(["push", "origin", "HEAD:main"], roClone, roEnv);
  if (refused.code === 0 || !/read-only/.test(refused.stderr)) {
    throw new Error(`the read-only key pushed, or was refused otherwise: ${refused.stderr}`);
  }
  const rwEnv = sshEnv(o.rw, o.knownHosts);
  await mustGit(["clone", "--quiet", o.url, "rw"], o.dir, rwEnv);
  const rwClone = join(o.dir, "rw");
  const sha = await commitFile(rwClone, "rw.txt", "rw\n", "from the read-write key");
  await mustGit(["push", "--quiet", "origin", "HEAD:main"], rwClone, rwEnv);
  const landed = await bareHead(o.gitDir, "main");
  if (landed !== sha) throw new Error(`the read-write key's push did not land: main is ${landed}`);
  return { roClone, rwClone, roEnv, rwEnv };
}

/** Writes a file in a clone and commits it; returns the new commit. */
export async function commitFile(
  clone: string,
  path: string,
  content: string,
  message: string,
): Promise<string> {
  await Deno.writeTextFile(join(clone, path), content);
  await mustGit(["add", path], clone);
  await mustGit(["commit", "--quiet", "-m", message], clone);
  return (await mustGit(["rev-parse", "HEAD"], clone)).trim();
}

/** The commit a branch points at in a bare repository (as root, whoever pushed). */
export function bareHead(gitDir: string, branch: string): Promise<string | null> {
  return branchHead(gitDir, branch, { env: SAFE_DIRECTORY_ENV });
}

/** A well-formed public key line nobody holds the private half of (servers parse key blobs). */
export function fakeKey(comment: string): string {
  // A well-formed ssh-ed25519 blob: string "ssh-ed25519", string of 32 random bytes.
  const type = new TextEncoder().encode("ssh-ed25519");
  const blob = new Uint8Array(4 + type.length + 4 + 32);
  const view = new DataView(blob.buffer);
  view.setUint32(0, type.length);
  blob.set(type, 4);
  view.setUint32(4 + type.length, 32);
  blob.set(crypto.getRandomValues(new Uint8Array(32)), 8 + type.length);
  return `ssh-ed25519 ${btoa(String.fromCharCode(...blob))} ${comment}`;
}
