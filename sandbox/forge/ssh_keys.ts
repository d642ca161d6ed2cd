/**
 * Deploy keys as the forges take them (an OpenSSH public key line) and as the sandbox's real sshd
 * enforces them. A key line is checked the way the sites do before storing it: a known type, and
 * a base64 blob that decodes and names the same type inside (so "ssh-ed25519 <rsa blob>" and
 * truncated pastes are refused). Lines are bounded: the API body is read with a limit anyway.
 */
import type { DeployKeyRecord, RepoRecord } from "./model.ts";

/** The types GitHub lists in its "key is invalid" message, plus the FIDO ones both sites take. */
export const KEY_TYPES = [
  "ssh-ed25519",
  "ssh-rsa",
  "ssh-dss",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
  "sk-ssh-ed25519@openssh.com",
  "sk-ecdsa-sha2-nistp256@openssh.com",
];

const MAX_KEY_LINE = 16 * 1024;

export interface ParsedKey {
  type: string;
  /** "type base64", without the comment. */
  key: string;
  comment: string;
  /** "SHA256:<unpadded base64>", as ssh-keygen -l prints it. */
  fingerprint: string;
}

function encodeBase64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}

function decodeBase64(text: string): Uint8Array<ArrayBuffer> | undefined {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text) || text.length % 4 !== 0) return undefined;
  try {
    return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  } catch {
    return undefined;
  }
}

/** The first string field of an SSH wire-format key blob (its type), if well-formed. */
function blobType(blob: Uint8Array): string | undefined {
  if (blob.length < 4) return undefined;
  const len = new DataView(blob.buffer, blob.byteOffset, blob.byteLength).getUint32(0);
  if (len === 0 || len > 64 || 4 + len > blob.length) return undefined;
  return new TextDecoder().decode(blob.subarray(4, 4 + len));
}

/** Parses one public key line; undefined when the sites would refuse it. */
export async function parsePublicKey(line: string): Promise<ParsedKey | undefined> {
  if (line.length > MAX_KEY_LINE) return undefined;
  const m = /^(\S+)\s+(\S+)(?:\s+(.*))?$/.exec(line.trim());
  if (!m || !KEY_TYPES.includes(m[1])) return undefined;
  const blob = decodeBase64(m[2]);
  if (!blob || blobType(blob) !== m[1]) return undefined;
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", blob));
  return {
    type: m[1],
    key: `${m[1]} ${m[2]}`,
    comment: (m[3] ?? "").replace(/[\r\n]/g, " ").trim(),
    fingerprint: `SHA256:${encodeBase64(digest).replace(/=+$/, "")}`,
  };
}

/** A repository a deploy key reaches, relative to the git root: "acme/fleet.git". */
export interface KeyRepoGrant {
  path: string;
  readOnly: boolean;
}

/** What the sandbox sshd is told as keys come and go (sandbox/ssh/sshd.ts authorize/revoke). */
export interface AccessKeyHooks {
  /** `repos`: the only repositories the key may reach, each read-only or not. */
  authorize(publicKey: string, opts: { readOnly: boolean; repos: KeyRepoGrant[] }): Promise<void>;
  revoke(publicKey: string): Promise<void>;
}

/**
 * One sshd entry per key material, however many repositories hold the key (Gitea lets one key be
 * a deploy key of several repositories): the entry names each repository the key is a deploy key
 * of, read-only or read-write there, and goes away with the last one — so a deploy key reaches
 * only its own repositories, and pushes only where it was added with write access.
 */
export class KeyGrants {
  readonly #grants = new Map<string, Map<number, KeyRepoGrant>>();
  #queue: Promise<void> = Promise.resolve();

  constructor(private readonly hooks: AccessKeyHooks | undefined) {}

  /** `path`: the repository relative to the git root ("acme/fleet.git"). */
  grant(key: string, repoId: number, readOnly: boolean, path: string): Promise<void> {
    const repos = this.#grants.get(key) ?? new Map<number, KeyRepoGrant>();
    repos.set(repoId, { path, readOnly });
    this.#grants.set(key, repos);
    return this.#sync(key);
  }

  /**
   * Adds a deploy key to its repository and tells sshd; the key is held before sshd is told, so
   * that a concurrent add of the same key is refused, and dropped again when sshd refuses it.
   */
  async add(repo: RepoRecord, record: DeployKeyRecord): Promise<void> {
    repo.keys.push(record);
    try {
      await this.grant(
        record.key,
        repo.id,
        record.readOnly,
        `${repo.owner.login}/${repo.name}.git`,
      );
    } catch (e) {
      repo.keys.splice(repo.keys.indexOf(record), 1);
      throw e;
    }
  }

  /** Removes a deploy key from its repository, then from sshd. */
  async remove(repo: RepoRecord, record: DeployKeyRecord): Promise<void> {
    repo.keys.splice(repo.keys.indexOf(record), 1);
    await this.revoke(record.key, repo.id);
  }

  revoke(key: string, repoId: number): Promise<void> {
    const repos = this.#grants.get(key);
    if (!repos?.delete(repoId)) return Promise.resolve();
    if (repos.size === 0) this.#grants.delete(key);
    return this.#sync(key);
  }

  /** Serialized, so that sshd's view follows the order of the API calls. */
  #sync(key: string): Promise<void> {
    const hooks = this.hooks;
    if (!hooks) return Promise.resolve();
    const run = async () => {
      const repos = this.#grants.get(key);
      if (!repos) return await hooks.revoke(key);
      const grants = [...repos.values()];
      await hooks.authorize(key, {
        readOnly: grants.every((g) => g.readOnly),
        repos: grants,
      });
    };
    const next = this.#queue.catch(() => {}).then(run);
    this.#queue = next;
    return next;
  }
}
