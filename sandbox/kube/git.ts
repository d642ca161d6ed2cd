/**
 * Branch/tag resolution with the system git, as source-controller does before fetching.
 *
 * Credentials travel as an `Authorization` header injected through GIT_CONFIG_* environment
 * variables: never in the URL, and not in argv either (argv is visible to every local user).
 */

export interface GitAuth {
  username?: string;
  password?: string;
  bearerToken?: string;
  /** The secret's `ca.crt` or `caFile`: the CA source-controller trusts for this repository. */
  caPem?: string;
}

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

function authHeader(auth: GitAuth | undefined): string | undefined {
  if (auth?.bearerToken) return `Authorization: Bearer ${auth.bearerToken}`;
  if (auth?.username !== undefined || auth?.password !== undefined) {
    const raw = new TextEncoder().encode(`${auth.username ?? ""}:${auth.password ?? ""}`);
    let bin = "";
    for (const b of raw) bin += String.fromCharCode(b);
    return `Authorization: Basic ${btoa(bin)}`;
  }
  return undefined;
}

/** Environment for a non-interactive git that ignores system/user credential helpers. */
function gitEnv(header: string | undefined): Record<string, string> {
  const env: Record<string, string> = {
    GIT_TERMINAL_PROMPT: "0",
    GIT_ASKPASS: "",
    SSH_ASKPASS: "",
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_CONFIG_COUNT: "1",
    GIT_CONFIG_KEY_0: "credential.helper",
    GIT_CONFIG_VALUE_0: "",
  };
  if (header) {
    env.GIT_CONFIG_COUNT = "2";
    env.GIT_CONFIG_KEY_1 = "http.extraHeader";
    env.GIT_CONFIG_VALUE_1 = header;
  }
  return env;
}

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

function refName(ref: GitRef): string {
  if (ref.kind === "branch") return `refs/heads/${ref.name}`;
  if (ref.kind === "tag") return `refs/tags/${ref.name}`;
  return ref.sha;
}

/** git's wordings of an HTTP 401 once prompting is disabled. */
const AUTH_FAILURE = /could not read (Username|Password)|Authentication failed|HTTP 401/;

/** Strips the `fatal: ` noise and any credentials git may echo back. */
function gitError(stderr: string, header: string | undefined): string {
  // source-controller (go-git) reports every 401 this way; callers match on it.
  if (AUTH_FAILURE.test(stderr)) return "authentication required";
  let text = stderr.trim().split("\n").map((l) => l.replace(/^(fatal|error): /, "")).join("; ");
  if (header) text = text.replaceAll(header, "Authorization: <redacted>");
  return text || "git ls-remote failed";
}

function listPrefix(url: string): string {
  return `failed to checkout and determine revision: unable to list remote for '${url}'`;
}

/** Runs `git ls-remote` with `env`; `explain` words a failure from git's stderr. */
async function lsRemote(
  url: string,
  ref: GitRef,
  env: Record<string, string>,
  signal: AbortSignal,
  explain: (stderr: string) => string,
): Promise<Resolution> {
  const prefix = listPrefix(url);
  const timeout = AbortSignal.timeout(LS_REMOTE_TIMEOUT_MS);
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command("git", {
      args: ["ls-remote", url, ...patternsFor(ref)],
      env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.any([signal, timeout]),
    }).output();
  } catch (err) {
    return { ok: false, message: `${prefix}: ${err instanceof Error ? err.message : String(err)}` };
  }
  if (!out.success) {
    const why = timeout.aborted ? "timeout" : explain(new TextDecoder().decode(out.stderr));
    return { ok: false, message: `${prefix}: ${why}` };
  }
  const sha = pickSha(new TextDecoder().decode(out.stdout), ref);
  if (!sha) {
    return { ok: false, message: `${prefix}: couldn't find remote ref "${refName(ref)}"` };
  }
  return { ok: true, sha, revision: revisionOf(ref, sha) };
}

/** `git ls-remote <url> <ref>`; url must already be checked to be http(s) or file. */
export async function resolveRef(
  url: string,
  ref: GitRef,
  auth: GitAuth | undefined,
  signal: AbortSignal,
): Promise<Resolution> {
  const header = url.startsWith("http") ? authHeader(auth) : undefined;
  const env = gitEnv(header);
  // As source-controller: the secret's CA is trusted for this fetch only (GIT_SSL_CAINFO names a
  // file, which lives as long as the command).
  const caFile = auth?.caPem && url.startsWith("https:")
    ? await Deno.makeTempFile({ prefix: "standin-ca-" })
    : undefined;
  try {
    if (caFile) {
      await Deno.writeTextFile(caFile, auth!.caPem!);
      env.GIT_SSL_CAINFO = caFile;
    }
    return await lsRemote(url, ref, env, signal, (stderr) => gitError(stderr, header));
  } finally {
    if (caFile) await Deno.remove(caFile).catch(() => {});
  }
}

export interface SshGitAuth {
  identity: string;
  knownHosts: string;
  password?: string;
}

/**
 * `git ls-remote` over SSH with the secret's identity and known_hosts, strictly checked, as
 * source-controller does with the `identity`, `known_hosts` and `password` keys. Key material
 * lives in a 0600 temp dir for the duration of the call only.
 */
export async function resolveRefSsh(
  url: string,
  ref: GitRef,
  auth: SshGitAuth,
  signal: AbortSignal,
): Promise<Resolution> {
  const dir = await Deno.makeTempDir({ prefix: "fluxfleet-standin-" });
  try {
    await Deno.chmod(dir, 0o700);
    const key = `${dir}/identity`;
    const kh = `${dir}/known_hosts`;
    await Deno.writeTextFile(
      key,
      auth.identity.endsWith("\n") ? auth.identity : auth.identity + "\n",
      {
        mode: 0o600,
      },
    );
    await Deno.writeTextFile(kh, auth.knownHosts, { mode: 0o600 });
    const env: Record<string, string> = {
      ...gitEnv(undefined),
      GIT_SSH_COMMAND:
        `ssh -i ${key} -o IdentitiesOnly=yes -o UserKnownHostsFile=${kh} -o StrictHostKeyChecking=yes -o ConnectTimeout=10`,
    };
    if (auth.password) {
      const askpass = `${dir}/askpass`;
      await Deno.writeTextFile(askpass, '#!/bin/sh\nprintf "%s\\n" "$FLUXFLEET_STANDIN_PASS"\n', {
        mode: 0o700,
      });
      Object.assign(env, {
        SSH_ASKPASS: askpass,
        SSH_ASKPASS_REQUIRE: "force",
        DISPLAY: "none",
        FLUXFLEET_STANDIN_PASS: auth.password,
      });
    }
    return await lsRemote(
      url,
      ref,
      env,
      signal,
      (stderr) =>
        /Permission denied|publickey/.test(stderr)
          ? "ssh: handshake failed: ssh: unable to authenticate, attempted methods [none publickey], no supported methods remain"
          : /Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED/.test(stderr)
          ? "ssh: handshake failed: knownhosts: key mismatch"
          : gitError(stderr, undefined),
    );
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    return { ok: false, message: `${listPrefix(url)}: ${why}` };
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
