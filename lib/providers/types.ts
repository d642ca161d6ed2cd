/**
 * The provider boundary: what fluxfleet needs from a Git hosting API, in the spirit of flux2's
 * pkg/bootstrap split between "plain git" and "provider" bootstrappers. A provider manages the
 * repository itself, the grants on it and the cluster's access (deploy) key; all file content goes
 * through plain git. Each provider is a folder exporting a ProviderModule (its manifest block,
 * validation, resolution) whose sessions observe, plan and apply its own steps. The words here are
 * neutral (read / write / admin); a provider maps them to its API's.
 */
import type { SecretRef } from "../config/types.ts";
import type { Permission, ProviderStep } from "../plan/types.ts";
import { stripControls } from "../util/strip_controls.ts";

export type { Permission, ProviderStep };

/** The cluster's settings of one provider, as the manifest holds them (cluster over defaults). */
export interface ProviderInput {
  /** A setting of the provider's block (`git.<block>.<key>`, or its deprecated flat form). */
  get(key: string): unknown;
  /** A core setting of `git` (url, auth, sshHostname, sshKey, allowInsecureHttp, …). */
  git(key: string): unknown;
  /** How the manifest spells a setting of the block: `git.<block>.token` or the older flat `git.token`. */
  field(key: string): string;
}

/** A problem with a cluster's settings; `key` is a setting of the block or a core `git` setting. */
export interface ProviderProblem {
  key: string;
  message: string;
  /**
   * The setting is missing: the problem points at the cluster's `git` block ("git", else its
   * name) or at the cluster's name ("cluster"); nothing else about the provider's settings is
   * checked then.
   */
  missing?: "git" | "cluster";
}

/** What the core needs from a provider's settings once they are valid. */
export interface ResolvedProvider {
  /** The provider's own settings, resolved; plain data, handed back to `open`. */
  settings: unknown;
  /** The repository's HTTP clone URL until it is observed (the provider's convention). */
  url: string;
  /** The repository as users name it ("PROJ/fleet"); also what tells repositories apart. */
  name?: string;
  /** fluxfleet pushes with this token (the provider's API token), instead of `git.auth`. */
  auth?: {
    username: string;
    token: SecretRef;
    /** The token's field, as the manifest spells it (for errors about it). */
    field: string;
  };
  /**
   * The cluster reads over SSH with a key fluxfleet generates and the provider registers; its
   * SSH URL is known once the repository is observed.
   */
  generatedKey?: boolean;
  /** The cluster reads over SSH from this URL with a key fluxfleet generates (known already). */
  clusterUrl?: string;
  /**
   * The cluster reads over HTTPS with credentials the provider issues for it at apply (a
   * project deploy token, say), never with the push token; the words say what they are.
   */
  issuesCredentials?: string;
}

/** How a session reaches the provider's API. */
export interface SessionAccess {
  /** The resolved API token (`auth.token` of ResolvedProvider). */
  token: string;
  allowInsecureHttp: boolean;
  /** Per-request timeout; unset: the provider's default. */
  timeoutMs?: number;
  /** Attempts for transient faults; unset: the provider's default. */
  attempts?: number;
  /** Told when a request waits for the API's rate limit (the progress line shows it). */
  onWait?(message: string): void;
  /**
   * The deadline of the work the session serves (`--cluster-timeout`, per stage): once aborted,
   * a request in flight or a rate-limit wait stops, saying so, and nothing is retried.
   */
  deadline?(): AbortSignal | undefined;
  /** git.caFile's PEM, trusted for the API too (a server behind a private CA). */
  caPem?: string;
  /**
   * Every branch the manifest's clusters sync from this repository (its sessions are per
   * branch): a default branch is reconciled only when they agree.
   */
  branches?: string[];
}

/** What observing the repository showed, as the core uses it. */
export interface RepositoryFacts {
  /** The repository exists (else the provider's repository step creates it before the push). */
  exists: boolean;
  /**
   * HTTP clone URL: the API's link, or its convention while the repository does not exist.
   * Absent when the provider has no API (the cluster's own `git.url` is used).
   */
  httpUrl?: string;
  /** SSH clone URL the cluster reads from in generated-key mode. */
  sshUrl?: string;
}

/** The cluster's read access to the repository, as the plan knows it. */
export interface ClusterAccess {
  /** Unique per cluster, path and namespace. */
  label: string;
  /** The cluster's public key; null when apply generates it (of the kind `generatedKey`). */
  publicKey: string | null;
  generatedKey?: string;
}

/** One repository as a provider sees it: observed once, planned from that, then applied. */
export interface ProviderSession {
  /** Checks the token's rights first (401/403 in words), then observes the repository. */
  observe(): Promise<RepositoryFacts>;
  /** The repository's own steps (create, visibility, grants) and warnings. Pure, after observe. */
  planRepository(): { steps: ProviderStep[]; warnings: string[] };
  /** Whether the provider registers the cluster's key (an access key) itself. */
  readonly registersKeys: boolean;
  /** The cluster's access key steps (none when it does not register keys). Pure, after observe. */
  planClusterAccess(want: ClusterAccess): ProviderStep[];
  /** Whether the provider already lists this public key for the repository. */
  keyRegistered(publicKey: string): boolean;
  /**
   * The ids of the access keys fluxfleet added for a cluster (titled with its label), for
   * destroy; none from a provider that does not register keys. Pure, after observe.
   */
  clusterKeys?(label: string): number[];
  /** Removes access keys (destroy); one already gone is not an error. */
  removeKeys?(ids: number[]): Promise<void>;
  /**
   * Carries out one of its steps; an access key step needs the public key (generated at apply
   * when the plan said so). A failed grant is reported through `warn`, as flux does. Returns the
   * repository's facts when the step changed them (a repository created).
   */
  apply(
    step: ProviderStep,
    ctx: { publicKey?: string; warn(message: string): void },
  ): Promise<RepositoryFacts | undefined>;
  /**
   * With `issuesCredentials`: whether the credentials the cluster's secret holds (their user
   * name) are still valid for the repository, as observed.
   */
  credentialsValid?(username: string): boolean;
  /**
   * With `issuesCredentials`: issues new credentials for the cluster (`label` names them) and
   * revokes those it issued before under the same label.
   */
  issueCredentials?(label: string): Promise<{ username: string; password: string }>;
  close(): void;
}

/** A provider: one folder under lib/providers, one entry in the registry. */
export interface ProviderModule {
  /** The value of `git.provider`. */
  kind: string;
  /** One line for the schema's description of `git.provider`. */
  summary: string;
  /** Its block under `git` (`git.<block>`); none for a provider without settings. */
  block?: {
    key: string;
    /** JSON Schema of the block; the manifest's schema is composed from these. */
    schema: Record<string, unknown>;
    /** Settings older manifests wrote flat under `git`: accepted, reported as deprecated. */
    deprecatedFlatKeys: readonly string[];
  };
  /** Problems with a cluster's settings, before anything is read or contacted. */
  validate(input: ProviderInput): ProviderProblem[];
  /** The settings resolved (called only when validate found nothing). */
  resolve(input: ProviderInput): ResolvedProvider;
  /** A session for one repository (the settings of its first cluster). */
  open(settings: unknown, access: SessionAccess): ProviderSession;
  /** The provider's word for a permission (REPO_WRITE, say), as plans show it. */
  permissionWord(p: Permission): string;
  /**
   * What the provider calls a group and the cluster's key, as plans show them; default "group"
   * and "SSH access key".
   */
  words?: { group: string; key: string };
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
