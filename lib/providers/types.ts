/**
 * The small provider interface fluxfleet needs from a Git hosting API, in the spirit of
 * flux2's pkg/bootstrap split between "plain git" and "provider" bootstrappers: a provider
 * only manages the repository itself, its access (deploy) keys and group grants; all file
 * content goes through plain git.
 */
import { stripControls } from "../util/strip_controls.ts";

/** A repository as the provider reports it. */
export interface ProviderRepo {
  /** Project key as the server spells it (Bitbucket: "FLEET", or "~ALICE" for personal ones). */
  project: string;
  slug: string;
  private: boolean;
  httpCloneUrl: string;
  sshCloneUrl?: string;
  defaultBranch?: string;
}

export type AccessKeyPermission = "REPO_READ" | "REPO_WRITE";

/** A repository access (deploy) key. */
export interface AccessKey {
  id: number;
  label: string;
  /** "<type> <base64>" without the comment, so keys compare by their material. */
  publicKey: string;
  permission: AccessKeyPermission;
}

export type GroupPermission = "REPO_READ" | "REPO_WRITE" | "REPO_ADMIN";

export interface GroupGrant {
  group: string;
  permission: GroupPermission;
}

export interface CreateRepositoryOptions {
  private: boolean;
  defaultBranch?: string;
}

export interface NewAccessKey {
  label: string;
  publicKey: string;
  permission: AccessKeyPermission;
}

export interface GitProvider {
  /** e.g. "bitbucket-server" */
  kind: string;
  /** undefined when the repository (or its project) does not exist. */
  getRepository(): Promise<ProviderRepo | undefined>;
  createRepository(opts: CreateRepositoryOptions): Promise<ProviderRepo>;
  setVisibility(isPrivate: boolean): Promise<void>;
  /** Every key, across all pages. */
  listAccessKeys(): Promise<AccessKey[]>;
  addAccessKey(key: NewAccessKey): Promise<AccessKey>;
  deleteAccessKey(id: number): Promise<void>;
  /** Every group grant, across all pages. */
  listGroupGrants(): Promise<GroupGrant[]>;
  grantGroup(grant: GroupGrant): Promise<void>;
  /** Early check that the token may create repositories / manage keys; throws ProviderError in words. */
  checkAccess(): Promise<void>;
}

/**
 * A provider call that failed, in words a user can act on. `status` is the HTTP status
 * (0 when no response arrived); `transient` marks faults worth retrying later (429, 5xx,
 * network). Messages never contain the token.
 */
export class ProviderError extends Error {
  readonly status: number;
  readonly transient: boolean;
  /** Server-requested wait (Retry-After), when the server sent one. */
  readonly retryAfterMs?: number;

  constructor(
    message: string,
    opts: { status: number; transient: boolean; retryAfterMs?: number },
  ) {
    // Messages quote the hosting API: its control characters and escapes stop here.
    super(stripControls(message));
    this.name = "ProviderError";
    this.status = opts.status;
    this.transient = opts.transient;
    if (opts.retryAfterMs !== undefined) this.retryAfterMs = opts.retryAfterMs;
  }
}

/**
 * "<type> <base64>" of an OpenSSH public key line; the comment and surrounding blanks are
 * dropped because servers keep or drop comments as they like, and only the material matters.
 */
export function publicKeyMaterial(text: string): string {
  return text.trim().split(/\s+/).slice(0, 2).join(" ");
}
