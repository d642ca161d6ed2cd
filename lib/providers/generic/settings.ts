/**
 * `provider: generic` (flux bootstrap git): any git server by its URL. The URL must be a network
 * git URL that fits the auth mode; the SSH options must fit each other.
 */
import { nonNetworkUrlProblem } from "../../git/url.ts";
import type { GitAuth, SshKeySpec } from "../../config/types.ts";
import type { ProviderInput, ProviderProblem, ResolvedProvider } from "../types.ts";

/** The `git` settings the SSH checks read. */
export interface SshOptions {
  transport?: "builtin" | "system";
  auth?: GitAuth;
  sshHostname?: string;
  sshKey?: SshKeySpec;
}

/** scp-like `user@host:path`, as git and flux accept for SSH. */
const SCP_LIKE = /^([^@/:\s]+@)?([^/:\s]+):(?!\/\/)(.+)$/;

export function checkGitUrl(
  url: string,
  allowInsecureHttp: boolean,
  auth: "token" | "ssh",
): string | undefined {
  const notNetwork = nonNetworkUrlProblem(url);
  if (notNetwork) return notNetwork;
  if (auth === "ssh") {
    if (SCP_LIKE.test(url) && !url.includes("://")) return checkCodeCommitUser(url);
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      return `"${url}" is not a valid URL`;
    }
    if (u.protocol !== "ssh:") return "SSH auth needs an ssh:// (or user@host:path) URL";
    if (u.password) return "must not contain a password";
    return checkCodeCommitUser(url);
  }
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return `"${url}" is not a valid URL`;
  }
  if (u.protocol === "ssh:") {
    return "ssh:// URLs need SSH auth (git.auth.type: ssh); token auth works over https://";
  }
  if (u.username || u.password) {
    return "must not contain credentials; use git.auth with a secret reference";
  }
  if (u.protocol === "https:") return undefined;
  if (u.protocol === "http:") {
    return allowInsecureHttp
      ? undefined
      : "plain http:// sends the token unencrypted; use https:// or set git.allowInsecureHttp: true";
  }
  return `unsupported URL scheme "${u.protocol}" (use https://)`;
}

/** AWS CodeCommit identifies the key by the URL's user name (the SSHPublicKeyId), never `git`. */
function checkCodeCommitUser(url: string): string | undefined {
  const m = url.match(
    /^(?:ssh:\/\/)?(?:([^@/:]+)@)?(git-codecommit\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?)[:/]/,
  );
  if (!m) return undefined;
  if (!m[1] || m[1] === "git") {
    return "AWS CodeCommit needs the SSH key ID (SSHPublicKeyId, e.g. APKAEIBAERJR2EXAMPLE) as the URL's user, not git";
  }
  return undefined;
}

export function checkSshOptions(git: SshOptions): string | undefined {
  if (git.transport === "system" && (git.auth?.type !== "ssh" || git.sshHostname || git.sshKey)) {
    return "transport: system carries SSH only: it needs git.auth.type ssh and an ssh:// or user@host:path URL";
  }
  if (git.sshHostname && git.auth?.type === "ssh") {
    return "sshHostname is for token auth (the cluster then reads over SSH with a generated key); with SSH auth the URL is already SSH";
  }
  if (git.sshKey && !git.sshHostname) return "sshKey needs sshHostname (the cluster's SSH host)";
  if (
    git.sshKey?.ecdsaCurve && git.sshKey.algorithm !== undefined && git.sshKey.algorithm !== "ecdsa"
  ) {
    return `sshKey.ecdsaCurve is only for algorithm ecdsa, not ${git.sshKey.algorithm}`;
  }
  if (git.sshKey?.rsaBits && git.sshKey.algorithm !== "rsa") {
    return "sshKey.rsaBits is only for algorithm rsa";
  }
  return undefined;
}

/** flux --ssh-hostname: the cluster's URL is the HTTPS URL's path on ssh://<user>@<host[:port]>. */
export function clusterSshUrl(httpsUrl: string, sshHostname: string, user: string): string {
  const path = new URL(httpsUrl).pathname;
  return `ssh://${user}@${sshHostname}${path}`;
}

export function validate(input: ProviderInput): ProviderProblem[] {
  const url = input.git("url") as string | undefined;
  if (url === undefined) {
    return [{ key: "url", message: "is required, here or in defaults.git", missing: "git" }];
  }
  const git: SshOptions = {
    transport: input.git("transport") as SshOptions["transport"],
    auth: input.git("auth") as GitAuth | undefined,
    sshHostname: input.git("sshHostname") as string | undefined,
    sshKey: input.git("sshKey") as SshKeySpec | undefined,
  };
  const problem = checkGitUrl(
    url,
    input.git("allowInsecureHttp") === true,
    git.auth?.type === "ssh" ? "ssh" : "token",
  ) ?? checkSshOptions(git);
  return problem ? [{ key: "url", message: problem }] : [];
}

export function resolve(input: ProviderInput): ResolvedProvider {
  const url = input.git("url") as string;
  const sshHostname = input.git("sshHostname") as string | undefined;
  const user = (input.git("sshUser") as string | undefined) ?? "git";
  return {
    settings: { url },
    url,
    ...(sshHostname ? { clusterUrl: clusterSshUrl(url, sshHostname, user) } : {}),
  };
}
