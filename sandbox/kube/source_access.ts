/**
 * What source-controller uses to reach a GitRepository: its URL (http(s), file or SSH) and the
 * credentials of its `spec.secretRef`, decoded from the Secret's keys as source-controller reads
 * them (`username`/`password`, `bearerToken`, `ca.crt`/`caFile`; `identity`, `known_hosts`,
 * `password` for SSH).
 */

import {
  type GitAuth,
  type GitSession,
  type SshGitAuth,
  withHttpGit,
  withSshGit,
} from "./git_env.ts";
import { isObject } from "./json.ts";
import type { JsonObject } from "./status.ts";
import { meta, type Store } from "./store.ts";

export type SourceAccess =
  | { ok: true; url: string; transport: "http"; auth?: GitAuth }
  | { ok: true; url: string; transport: "ssh"; auth: SshGitAuth }
  | { ok: false; message: string };

function obj(v: unknown): JsonObject {
  return isObject(v) ? v : {};
}

function decodeBase64(v: unknown): string | undefined {
  if (typeof v !== "string") return undefined;
  try {
    const bin = atob(v);
    return new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0)));
  } catch {
    return undefined;
  }
}

/** The URL and credentials of a GitRepository, or why they cannot be had. */
export function sourceAccess(store: Store, repo: JsonObject): SourceAccess {
  const spec = obj(repo.spec);
  const url = String(spec.url ?? "");
  const ssh = /^ssh:\/\//.test(url) || /^[^/:]+@[^:]+:/.test(url);
  if (!ssh && !/^(https?|file):\/\//.test(url)) {
    return { ok: false, message: `unsupported URL scheme in '${url}'` };
  }
  const secretName = obj(spec.secretRef).name;
  // Without a secret git runs with no credentials of ours (an SSH URL then uses ssh's defaults).
  if (typeof secretName !== "string" || !secretName) return { ok: true, url, transport: "http" };
  const ns = meta(repo).namespace as string | undefined;
  const secret = store.get("", "Secret", ns, secretName);
  if (!secret) {
    return {
      ok: false,
      message: `failed to get secret '${ns}/${secretName}': secrets "${secretName}" not found`,
    };
  }
  const data = obj(secret.obj.data);
  if (ssh) {
    const identity = decodeBase64(data.identity);
    const knownHosts = decodeBase64(data.known_hosts);
    if (!identity || !knownHosts) {
      return {
        ok: false,
        message: `secret '${ns}/${secretName}' has no 'identity' or 'known_hosts'`,
      };
    }
    const password = decodeBase64(data.password);
    return {
      ok: true,
      url,
      transport: "ssh",
      auth: { identity, knownHosts, ...(password ? { password } : {}) },
    };
  }
  return {
    ok: true,
    url,
    transport: "http",
    auth: {
      username: decodeBase64(data.username),
      password: decodeBase64(data.password),
      bearerToken: decodeBase64(data.bearerToken),
      caPem: decodeBase64(data["ca.crt"]) ?? decodeBase64(data.caFile),
    },
  };
}

/** Runs `fn` with the git environment for a reachable source. */
export function withSourceGit<T>(
  access: Extract<SourceAccess, { ok: true }>,
  fn: (session: GitSession) => Promise<T>,
): Promise<T> {
  return access.transport === "ssh"
    ? withSshGit(access.auth, fn)
    : withHttpGit(access.url, access.auth, fn);
}
