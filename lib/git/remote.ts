/**
 * The git seam: one repository reached over git, whatever carries it. It takes a git-level access
 * value — URL, credentials, known hosts, transport, commit signer — and hides which transport runs
 * (isomorphic-git over HTTPS or over ssh2, or the system git binary with OpenSSH).
 */
import { isoGit } from "./iso.ts";
import { DEFAULT_RETRY, type RetryPolicy } from "../util/retry.ts";
import type { CommitSigner } from "./sign.ts";
import { setRemoteUrl } from "./checkout.ts";
import { commitCacheDir } from "./commit_cache.ts";
import type { Author, FileChange, PushResult, RepoCheckout } from "./types.ts";
import {
  checkoutRepo,
  commitAndPush,
  type GitRemote,
  httpsRemote,
  makeGitHttp,
  sshGitTransport,
} from "./transports/isomorphic/mod.ts";
import {
  systemCheckoutRepo,
  systemCommitAndPush,
  systemRemoteHead,
  type SystemSshAccess,
} from "./transports/system/mod.ts";

/** What fluxfleet pushes with. */
export type GitCredentials =
  | {
    kind: "token";
    username: string;
    token: string;
    /** A private CA (PEM) trusted for the server. */
    caPem?: string;
  }
  | { kind: "ssh"; privateKey: string; passphrase?: string };

/** Everything needed to reach one repository over git. */
export interface RemoteAccess {
  url: string;
  credentials: GitCredentials;
  /** SSH: the known_hosts text trusted for the server (required with SSH credentials). */
  knownHosts?: string;
  hostKeyAlgorithms?: string[];
  /** builtin: isomorphic-git (+ ssh2); system: the git binary with OpenSSH (SSH only). */
  transport: "builtin" | "system";
  /** A plain http:// URL is allowed. */
  allowInsecureHttp: boolean;
  /** Signs the commits pushed (not with the system transport). */
  signer?: CommitSigner;
}

export interface RemoteOptions {
  /** Per-request timeout. */
  timeoutMs: number;
  retry?: RetryPolicy;
  /** Aborted when the repository's work ran out of time: no retry starts after it. */
  deadline?: () => AbortSignal | undefined;
  /** Bytes one git answer may have (the git-pack limit). */
  maxResponseBytes?: number;
}

/** The git side of one repository. */
export interface RepoRemote {
  /**
   * Fetches `branch` into `dir`. `inMemory`: for a run that only reads the commit, the checkout
   * is kept in memory instead (RepoCheckout.fs) by the built-in transport; the system transport
   * always fetches to disk (the git binary writes there).
   */
  checkout(branch: string, dir: string, opts?: { inMemory?: boolean }): Promise<RepoCheckout>;
  /** Points a checkout made elsewhere (before the repository existed) at this remote. */
  adopt(co: RepoCheckout): Promise<void>;
  push(
    co: RepoCheckout,
    changes: FileChange[],
    message: string,
    author: Author,
  ): Promise<PushResult>;
  /** The branch's current head on the server. */
  remoteHead(branch: string): Promise<string | null>;
  close(): Promise<void>;
}

function isomorphicRemote(
  remote: GitRemote,
  close: () => Promise<void>,
  retry: RetryPolicy,
  signer?: CommitSigner,
): RepoRemote {
  return {
    // Only read (a run that only plans): through the commit cache, when there is one.
    checkout: (branch, dir, o) =>
      o?.inMemory
        ? checkoutRepo(remote, branch, dir, retry, true, commitCacheDir())
        : checkoutRepo(remote, branch, dir, retry),
    adopt: (co) => setRemoteUrl(co, remote.url),
    push: (co, changes, message, author) =>
      commitAndPush(co, remote, changes, message, author, 3, retry, signer),
    async remoteHead(branch) {
      const git = await isoGit();
      const info = await git.getRemoteInfo2({
        http: remote.http,
        url: remote.url,
        headers: remote.headers,
        protocolVersion: 1,
      });
      return info.refs?.find((r) => r.ref === `refs/heads/${branch}`)?.oid ?? null;
    },
    close,
  };
}

export function openRemote(access: RemoteAccess, opts: RemoteOptions): RepoRemote {
  const retry = opts.retry ?? DEFAULT_RETRY;
  const creds = access.credentials;
  if (creds.kind === "token") {
    const http = makeGitHttp({
      caPem: creds.caPem,
      allowInsecureHttp: access.allowInsecureHttp,
      timeoutMs: opts.timeoutMs,
      deadline: opts.deadline,
      maxResponseBytes: opts.maxResponseBytes,
    });
    const basic = { url: access.url, username: creds.username, password: creds.token };
    return isomorphicRemote(
      httpsRemote(basic, http, opts.timeoutMs),
      () => Promise.resolve(http.close()),
      retry,
      access.signer,
    );
  }
  if (access.knownHosts === undefined) {
    throw new Error(`no known_hosts for ${access.url}: SSH needs the server's host key`);
  }
  // The same key, known_hosts and limits, whichever transport carries them.
  const ssh: SystemSshAccess = {
    url: access.url,
    privateKey: creds.privateKey,
    passphrase: creds.passphrase,
    knownHosts: access.knownHosts,
    hostKeyAlgorithms: access.hostKeyAlgorithms,
    timeoutMs: opts.timeoutMs,
  };
  if (access.transport === "system") {
    // The manifest validation refuses git.signing with this transport; never push unsigned.
    if (access.signer) throw new Error("git.signing is not supported with transport: system");
    return {
      checkout: (branch, dir) => systemCheckoutRepo(ssh, branch, dir, retry),
      adopt: (co) => setRemoteUrl(co, access.url),
      push: (co, changes, message, author) =>
        systemCommitAndPush(co, ssh, changes, message, author, 3, retry),
      remoteHead: (branch) => systemRemoteHead(ssh, branch),
      close: () => Promise.resolve(),
    };
  }
  const transport = sshGitTransport({
    ...ssh,
    privateKey: creds.privateKey,
    knownHosts: access.knownHosts,
    maxResponseBytes: opts.maxResponseBytes,
  });
  return isomorphicRemote(
    {
      displayUrl: access.url,
      url: transport.url,
      headers: {},
      http: transport.http,
      timeoutMs: opts.timeoutMs,
    },
    () => transport.close(),
    retry,
    access.signer,
  );
}

/**
 * Whether the repository accepts `privateKey` over SSH (an ls-remote through the ssh2 transport,
 * read-only): used for generated keys before the cluster is pointed at them.
 */
export async function sshKeyAccepted(
  url: string,
  privateKey: string,
  knownHosts: string,
  hostKeyAlgorithms: string[] | undefined,
  timeoutMs = 20_000,
): Promise<{ ok: true } | { ok: false; reason: string }> {
  const transport = sshGitTransport({
    url,
    privateKey,
    knownHosts,
    hostKeyAlgorithms,
    timeoutMs,
  });
  try {
    const git = await isoGit();
    await git.getRemoteInfo2({ http: transport.http, url: transport.url, protocolVersion: 1 });
    return { ok: true };
  } catch (e) {
    const data = (e as { data?: { statusMessage?: string } }).data;
    return { ok: false, reason: data?.statusMessage ?? (e as Error).message };
  } finally {
    await transport.close();
  }
}
