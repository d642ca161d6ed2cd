/** What both git transports work with: a checkout, the changes pushed, and their errors. */
import type { PromiseFsClient } from "isomorphic-git";
import { stripControls } from "../util/strip_controls.ts";

/**
 * A git failure in words; `transient` ones (5xx, 429, network) are worth retrying. The message
 * often quotes the server (a push refusal, what a hook or git-shell printed): its control
 * characters and escape sequences are removed here, where every such text enters.
 */
export class GitError extends Error {
  readonly transient: boolean;
  constructor(message: string, transient: boolean) {
    super(stripControls(message));
    this.name = "GitError";
    this.transient = transient;
  }
}

/** Whether a failure is worth retrying (for withRetry). */
export const classifyGitError = (e: unknown) => ({
  transient: e instanceof GitError && e.transient,
});

export interface RepoCheckout {
  dir: string;
  url: string;
  branch: string;
  /** The branch exists on the remote. */
  branchExists: boolean;
  /** Remote head of the branch (or of the default branch a new branch starts from), if any. */
  head: string | null;
  /**
   * A branch that does not exist yet: what it starts from (a branch name, or the remote's detached
   * HEAD), or null when the repository has branches but its HEAD names none, so the branch starts
   * without history. Absent when the branch exists or the repository is empty.
   */
  startsFrom?: string | null;
  /**
   * false while only the objects were fetched (a plan reads three blobs per cluster and needs no
   * work tree); `ensureWorktree` checks the files out before anything is written or built.
   */
  worktree?: boolean;
  /**
   * The checkout lives in this file system in memory (`dir` is a name in it), not on disk: a run
   * that only plans (lib/git/memory_fs.ts). It can be read, never written or checked out.
   */
  fs?: PromiseFsClient;
  /**
   * Reads the checkout's files in its own way (lib/git/transports/isomorphic/cached_checkout.ts:
   * from the commit cache, or from the commit while keeping what was read). Read only.
   */
  reader?: CheckoutReader;
}

/** Reads the files of a checkout's commit (readRepoFiles goes through it when set). */
export interface CheckoutReader {
  /** readRepoFiles's answer. */
  read(paths: string[]): Promise<Record<string, string | null>>;
  /** Called once the checkout's clusters have read: drops what is held, keeps what is kept. */
  forget(): Promise<void>;
}

export interface FileChange {
  path: string;
  /** null deletes the file. */
  content: string | null;
}

export interface Author {
  name: string;
  email: string;
}

export interface PushResult {
  /** The commit now at the head of the branch (new or unchanged). */
  head: string | null;
  /** Whether a commit was pushed. */
  pushed: boolean;
  attempts: number;
}
