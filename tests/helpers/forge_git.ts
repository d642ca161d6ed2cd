/**
 * The system git and ssh as a user of a forge sandbox drives them: clone and push over HTTPS with
 * a token (Basic authentication), or over SSH with a deploy key against the sandbox sshd, the
 * user's and system's git and ssh configuration ignored.
 */
import { join } from "node:path";

export interface GitRun {
  code: number;
  stdout: string;
  stderr: string;
}

const AUTHOR = {
  GIT_AUTHOR_NAME: "Fleet Bot",
  GIT_AUTHOR_EMAIL: "bot@example.com",
  GIT_COMMITTER_NAME: "Fleet Bot",
  GIT_COMMITTER_EMAIL: "bot@example.com",
};

/** git in `cwd`, never prompting; the exit code is the caller's to judge. */
export async function git(
  args: string[],
  cwd: string,
  env: Record<string, string> = {},
): Promise<GitRun> {
  const out = await new Deno.Command("git", {
    args,
    cwd,
    clearEnv: true,
    env: {
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      HOME: cwd,
      GIT_CONFIG_NOSYSTEM: "1",
      GIT_CONFIG_GLOBAL: "/dev/null",
      GIT_TERMINAL_PROMPT: "0",
      GIT_ASKPASS: "/bin/false",
      LANG: "C",
      ...AUTHOR,
      ...env,
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
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
export async function bareHead(gitDir: string, branch: string): Promise<string | null> {
  const r = await git(
    [
      "-c",
      "safe.directory=*",
      "--git-dir",
      gitDir,
      "rev-parse",
      "--verify",
      "--quiet",
      `refs/heads/${branch}`,
    ],
    "/",
  );
  return r.code === 0 ? r.stdout.trim() : null;
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
