/**
 * How the Flux stand-in runs the system git against a GitRepository's URL: a non-interactive
 * environment carrying the source secret's credentials, and how git's failures read once
 * source-controller (go-git) would have reported them.
 *
 * Credentials travel as an `Authorization` header injected through GIT_CONFIG_* environment
 * variables: never in the URL, and not in argv either (argv is visible to every local user). SSH
 * key material lives in a 0700 temp dir for the duration of one call only.
 */

export interface GitAuth {
  username?: string;
  password?: string;
  bearerToken?: string;
  /** The secret's `ca.crt` or `caFile`: the CA source-controller trusts for this repository. */
  caPem?: string;
}

export interface SshGitAuth {
  identity: string;
  knownHosts: string;
  password?: string;
}

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
function baseEnv(header: string | undefined): Record<string, string> {
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

/** git's wordings of an HTTP 401 once prompting is disabled. */
const AUTH_FAILURE = /could not read (Username|Password)|Authentication failed|HTTP 401/;

/** Strips the `fatal: ` noise and any credentials git may echo back. */
export function gitError(stderr: string, header: string | undefined, fallback: string): string {
  // source-controller (go-git) reports every 401 this way; callers match on it.
  if (AUTH_FAILURE.test(stderr)) return "authentication required";
  let text = stderr.trim().split("\n").map((l) => l.replace(/^(fatal|error): /, "")).join("; ");
  if (header) text = text.replaceAll(header, "Authorization: <redacted>");
  return text || fallback;
}

/** go-git's wording of the SSH failures source-controller reports. */
export function sshGitError(stderr: string, fallback: string): string {
  if (/Permission denied|publickey/.test(stderr)) {
    return "ssh: handshake failed: ssh: unable to authenticate, attempted methods [none publickey], no supported methods remain";
  }
  if (/Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED/.test(stderr)) {
    return "ssh: handshake failed: knownhosts: key mismatch";
  }
  return gitError(stderr, undefined, fallback);
}

/** What a git command run for a source gets: its environment and how to word its stderr. */
export interface GitSession {
  env: Record<string, string>;
  explain(stderr: string, fallback: string): string;
}

/**
 * Runs `fn` with an environment for an http(s)/file URL. As source-controller: the secret's CA
 * is trusted for this call only (GIT_SSL_CAINFO names a file, which lives as long as `fn`).
 */
export async function withHttpGit<T>(
  url: string,
  auth: GitAuth | undefined,
  fn: (session: GitSession) => Promise<T>,
): Promise<T> {
  const header = url.startsWith("http") ? authHeader(auth) : undefined;
  const env = baseEnv(header);
  const caFile = auth?.caPem && url.startsWith("https:")
    ? await Deno.makeTempFile({ prefix: "standin-ca-" })
    : undefined;
  try {
    if (caFile) {
      await Deno.writeTextFile(caFile, auth!.caPem!);
      env.GIT_SSL_CAINFO = caFile;
    }
    return await fn({ env, explain: (stderr, fallback) => gitError(stderr, header, fallback) });
  } finally {
    if (caFile) await Deno.remove(caFile).catch(() => {});
  }
}

/**
 * Runs `fn` with an environment for an SSH URL: the secret's identity and known_hosts, strictly
 * checked, as source-controller does with the `identity`, `known_hosts` and `password` keys.
 * Throws when the key material cannot be written.
 */
export async function withSshGit<T>(
  auth: SshGitAuth,
  fn: (session: GitSession) => Promise<T>,
): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "fluxfleet-standin-" });
  try {
    await Deno.chmod(dir, 0o700);
    const key = `${dir}/identity`;
    const kh = `${dir}/known_hosts`;
    const identity = auth.identity.endsWith("\n") ? auth.identity : auth.identity + "\n";
    await Deno.writeTextFile(key, identity, { mode: 0o600 });
    await Deno.writeTextFile(kh, auth.knownHosts, { mode: 0o600 });
    const env: Record<string, string> = {
      ...baseEnv(undefined),
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
    return await fn({ env, explain: sshGitError });
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
