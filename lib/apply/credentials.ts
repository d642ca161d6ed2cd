/**
 * Credentials and remotes: resolves a cluster's secret references (before anything is contacted),
 * learns SSH host keys (pinned file/lines, or a scan shown in the plan), and builds the
 * isomorphic-git remote (HTTPS with a token header, or SSH through the ssh2 transport).
 */
import type { ClusterConfig, SecretRef } from "../config/types.ts";
import { resolveSecret, type SecretSource } from "../config/secrets.ts";
import { type ParsedPrivateKey, parsePrivateKey } from "../keys/parse.ts";
import { findHostKeys, type HostKey, knownHostsLine, scanHostKey } from "../keys/known_hosts.ts";
import { parseSshUrl } from "../git/ssh_url.ts";
import { type SshAccess, sshGitTransport } from "../git/ssh.ts";
import {
  type Author,
  checkoutRepo,
  commitAndPush,
  type FileChange,
  type GitRemote,
  httpsRemote,
  type PushResult,
  type RepoCheckout,
} from "../git/repo.ts";
import {
  systemCheckoutRepo,
  systemCommitAndPush,
  systemRemoteHead,
  type SystemSshAccess,
} from "../git/system.ts";
import { makeGitHttp } from "../git/http.ts";
import {
  type CommitSigner,
  createCommitSigner,
  SigningKeyError,
  type SigningKeys,
} from "../git/sign.ts";
import { createHash } from "node:crypto";
import { registerSecret } from "../util/redact.ts";
import git from "isomorphic-git";
import { DEFAULT_RETRY, type RetryPolicy } from "../util/retry.ts";

export type Credentials =
  & (
    | {
      kind: "token";
      username: string;
      token: string;
      /** git.caFile's PEM: trusted by fluxfleet and stored in the source secret for Flux. */
      caPem?: string;
    }
    | { kind: "ssh"; keyText: string; passphrase?: string; parsed: ParsedPrivateKey }
  )
  & {
    /** git.signing: signs the commits pushed with these credentials. */
    signer?: CommitSigner;
    /** flux.registryCredentials, resolved: the image pull secret's login. */
    registry?: { username: string; password: string };
  };

async function readCaFile(path: string, field: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    throw new Error(`${field}: cannot read ${path}: ${(e as Error).name}`);
  }
}

/**
 * Names a setting of the cluster in errors: `cluster "dev": git.auth.token`, or with the place in
 * the manifest (Manifest.describe: `fleet.yaml:12:30: cluster "dev": git.auth.token`).
 */
export type FieldNamer = (field: string) => string;

/**
 * Reads and checks a cluster's credentials; errors name the cluster and the field as the manifest
 * spells it (a Bitbucket Server token is `git.token`, not the `git.auth.token` it becomes).
 */
export async function resolveCredentials(
  c: ClusterConfig,
  baseDir: string,
  secrets: SecretSource,
  name: FieldNamer = (field) => `cluster "${c.name}": ${field}`,
): Promise<Credentials> {
  const auth = c.git.auth;
  const at = (field: string) =>
    name(c.git.bitbucket && field === "token" ? "git.token" : `git.auth.${field}`);
  const signer = await resolveSigner(c, baseDir, secrets, name);
  const registry = await resolveRegistry(c, baseDir, secrets, name);
  const extra = { ...(signer ? { signer } : {}), ...(registry ? { registry } : {}) };
  if (auth.type === "token") {
    const token = await resolveSecret(auth.token, at("token"), baseDir, secrets);
    const caPem = c.git.caFile ? await readCaFile(c.git.caFile, name("git.caFile")) : undefined;
    return {
      kind: "token",
      username: auth.username,
      token,
      ...(caPem ? { caPem } : {}),
      ...extra,
    };
  }
  const keyText = await resolveSecret(auth.privateKey, at("privateKey"), baseDir, secrets);
  const passphrase = auth.passphrase
    ? await resolveSecret(auth.passphrase, at("passphrase"), baseDir, secrets)
    : undefined;
  let parsed: ParsedPrivateKey;
  try {
    parsed = parsePrivateKey(keyText, passphrase);
  } catch (e) {
    // parsePrivateKey's messages are fixed sentences without key material.
    throw new Error(`${at("privateKey")}: ${(e as Error).message}`);
  }
  // The unencrypted forms are secrets too.
  registerSecret(parsed.openssh.trim());
  registerSecret(parsed.ssh2Key.trim());
  return {
    kind: "ssh",
    keyText: keyText + (keyText.endsWith("\n") ? "" : "\n"),
    passphrase,
    parsed,
    ...extra,
  };
}

/**
 * `flux.registryCredentials` (flux bootstrap --registry-creds): the password is read with the
 * other secrets, before anything is contacted, and registered for redaction (resolveSecret) with
 * the forms the pull secret carries it in: Basic `user:password` and its base64.
 */
async function resolveRegistry(
  c: ClusterConfig,
  baseDir: string,
  secrets: SecretSource,
  name: FieldNamer,
): Promise<{ username: string; password: string } | undefined> {
  const rc = c.flux.registryCredentials;
  if (!rc) return undefined;
  const password = await resolveSecret(
    rc.password,
    name("flux.registryCredentials.password"),
    baseDir,
    secrets,
  );
  registerSecret(`${rc.username}:${password}`);
  registerSecret(
    btoa(String.fromCharCode(...new TextEncoder().encode(`${rc.username}:${password}`))),
  );
  return { username: rc.username, password };
}

const signers = new Map<string, Promise<CommitSigner>>();

/** Reads `git.signing`'s secrets and makes the signer; errors name the cluster and the field. */
async function resolveSigner(
  c: ClusterConfig,
  baseDir: string,
  secrets: SecretSource,
  name: FieldNamer,
): Promise<CommitSigner | undefined> {
  const spec = c.git.signing;
  if (!spec) return undefined;
  const at = (field: string) => name(`git.signing.${"gpg" in spec ? "gpg" : "ssh"}.${field}`);
  const read = (ref: SecretRef | undefined, field: string) =>
    ref ? resolveSecret(ref, at(field), baseDir, secrets) : Promise.resolve(undefined);
  const keys: SigningKeys = "gpg" in spec
    ? {
      format: "openpgp",
      keyRing: (await read(spec.gpg.keyRing, "keyRing"))!,
      passphrase: await read(spec.gpg.passphrase, "passphrase"),
      keyId: spec.gpg.keyId,
    }
    : {
      format: "ssh",
      privateKey: (await read(spec.ssh.key, "key"))!,
      passphrase: await read(spec.ssh.passphrase, "passphrase"),
    };
  // A fleet usually shares one signing key: decrypt it once (a KDF may take a second).
  const id = createHash("sha256").update(JSON.stringify(keys)).digest("hex");
  let signer = signers.get(id);
  if (!signer) signers.set(id, signer = createCommitSigner(keys));
  try {
    return await signer;
  } catch (e) {
    // SigningKeyError messages are fixed sentences without key material.
    if (e instanceof SigningKeyError) throw new Error(`${at(e.field)}: ${e.message}`);
    throw e;
  }
}

export interface KnownHosts {
  /** known_hosts lines for the host (what the cluster stores). */
  text: string;
  /** Set when the key was scanned (trust on first use): shown in the plan. */
  scanned?: { name: string; key: HostKey };
}

/** The host key of `host:port`: pinned in the manifest, or scanned like ssh-keyscan. */
export async function learnHostKeys(
  c: ClusterConfig,
  host: string,
  port: number,
  timeoutMs = 30_000,
): Promise<KnownHosts> {
  const source = c.git.knownHosts;
  const name = port === 22 ? host : `[${host}]:${port}`;
  const algorithms = c.git.hostKeyAlgorithms;
  if ("scan" in source) {
    let key: HostKey;
    try {
      key = await scanHostKey(host, port, { algorithms, timeoutMs });
    } catch (e) {
      throw new Error(`cannot scan the SSH host key of ${name}: ${(e as Error).message}`);
    }
    return { text: knownHostsLine(host, port, key) + "\n", scanned: { name, key } };
  }
  let text: string;
  if ("file" in source) {
    try {
      text = await Deno.readTextFile(source.file);
    } catch (e) {
      throw new Error(`git.knownHosts: cannot read ${source.file}: ${(e as Error).name}`);
    }
  } else text = source.lines;
  const keys = findHostKeys(text, host, port);
  if (keys.length === 0) {
    throw new Error(`git.knownHosts has no entry for ${name}; add the server's host key line`);
  }
  // The system transport's OpenSSH enforces pinned keys itself, and may reach the host only
  // through a jump host that a direct check would not pass.
  if (c.git.transport === "system") {
    return { text: keys.map((k) => knownHostsLine(host, port, k)).join("\n") + "\n" };
  }
  // A pinned key that the server does not present is a hard error, with both fingerprints.
  const presented = await scanHostKey(host, port, {
    algorithms: algorithms ?? keys.flatMap((k) => hostKeyAlgorithms(k.type)),
    timeoutMs,
  }).catch((e) => {
    throw new Error(`cannot reach ${name} to check its host key: ${(e as Error).message}`);
  });
  if (!keys.some((k) => k.base64 === presented.base64)) {
    throw new Error(
      `host key mismatch for ${name}: known_hosts pins ${
        keys.map((k) => k.fingerprint).join(", ")
      }, ` +
        `the server presents ${presented.type} ${presented.fingerprint}; possible man-in-the-middle, or the server's key changed`,
    );
  }
  return { text: keys.map((k) => knownHostsLine(host, port, k)).join("\n") + "\n" };
}

function hostKeyAlgorithms(type: string): string[] {
  return type === "ssh-rsa" ? ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"] : [type];
}

/** The git side of one repository, whatever carries it (isomorphic-git or the git binary). */
export interface RepoRemote {
  /** isomorphic-git remote (HTTPS or ssh2); absent for the system-git transport. */
  remote?: GitRemote;
  knownHosts?: KnownHosts;
  checkout(branch: string, dir: string): Promise<RepoCheckout>;
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
  knownHosts?: KnownHosts,
  signer?: CommitSigner,
): RepoRemote {
  return {
    remote,
    knownHosts,
    checkout: (branch, dir) => checkoutRepo(remote, branch, dir, retry),
    push: (co, changes, message, author) =>
      commitAndPush(co, remote, changes, message, author, 3, retry, signer),
    async remoteHead(branch) {
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

export async function openRemote(
  c: ClusterConfig,
  creds: Credentials,
  opts: {
    timeoutMs: number;
    retry?: RetryPolicy;
    deadline?: () => AbortSignal | undefined;
    maxResponseBytes?: number;
  },
): Promise<RepoRemote> {
  const retry = opts.retry ?? DEFAULT_RETRY;
  if (creds.kind === "token") {
    const http = makeGitHttp({
      caPem: creds.caPem,
      allowInsecureHttp: c.git.allowInsecureHttp,
      timeoutMs: opts.timeoutMs,
      deadline: opts.deadline,
      maxResponseBytes: opts.maxResponseBytes,
    });
    const access = { url: c.git.url, username: creds.username, password: creds.token };
    return isomorphicRemote(
      httpsRemote(access, http, opts.timeoutMs),
      () => Promise.resolve(http.close()),
      retry,
      undefined,
      creds.signer,
    );
  }
  const target = parseSshUrl(c.git.url);
  const knownHosts = await learnHostKeys(c, target.host, target.port, opts.timeoutMs);
  // The same key, known_hosts and limits, whichever transport carries them.
  const access: SystemSshAccess & SshAccess = {
    url: c.git.url,
    privateKey: creds.keyText,
    passphrase: creds.passphrase,
    knownHosts: knownHosts.text,
    hostKeyAlgorithms: c.git.hostKeyAlgorithms,
    timeoutMs: opts.timeoutMs,
    maxResponseBytes: opts.maxResponseBytes,
  };
  if (c.git.transport === "system") {
    // The manifest validation refuses git.signing with this transport; never push unsigned.
    if (creds.signer) throw new Error("git.signing is not supported with transport: system");
    return {
      knownHosts,
      checkout: (branch, dir) => systemCheckoutRepo(access, branch, dir, retry),
      push: (co, changes, message, author) =>
        systemCommitAndPush(co, access, changes, message, author, 3, retry),
      remoteHead: (branch) => systemRemoteHead(access, branch),
      close: () => Promise.resolve(),
    };
  }
  const transport = sshGitTransport(access);
  return isomorphicRemote(
    {
      displayUrl: c.git.url,
      url: transport.url,
      headers: {},
      http: transport.http,
      timeoutMs: opts.timeoutMs,
    },
    () => transport.close(),
    retry,
    knownHosts,
    creds.signer,
  );
}

/**
 * Whether the repository accepts `privateKey` over SSH (an ls-remote through the ssh2 transport):
 * used for generated keys before the cluster is pointed at them.
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
    await git.getRemoteInfo2({ http: transport.http, url: transport.url, protocolVersion: 1 });
    return { ok: true };
  } catch (e) {
    const data = (e as { data?: { statusMessage?: string } }).data;
    return { ok: false, reason: data?.statusMessage ?? (e as Error).message };
  } finally {
    await transport.close();
  }
}
