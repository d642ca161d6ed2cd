/**
 * Where a Bitbucket Server / Data Center repository lives and how to reach its REST API,
 * checked once up front so every later request can trust it.
 */
import { ProviderError } from "../types.ts";
import { checkBaseUrl } from "../http/base_url.ts";

export interface RetryOptions {
  /** Total attempts, including the first. */
  attempts: number;
  initialDelayMs: number;
  maxDelayMs: number;
}

export interface BitbucketTarget {
  /** e.g. https://bitbucket.example.com (a context path such as /bitbucket is kept). */
  baseUrl: string;
  /** HTTP access token, sent as "Authorization: Bearer <token>". */
  token: string;
  /** Project key, or "~owner" for a personal repository. */
  project: string;
  /** Repository slug. */
  repository: string;
  /** http:// is refused unless this is set: the token would travel in clear text. */
  allowInsecureHttp?: boolean;
  /** Extra CA (PEM) trusted for the API, for servers behind a private CA. */
  caPem?: string;
  /** Per-request timeout; default 30 s. */
  timeoutMs?: number;
  /** `limit` asked for per page; default 100 (the server may cap it lower). */
  pageSize?: number;
  /** Retries of 429/5xx/network faults; default 4 attempts, 200 ms .. 5 s. */
  retry?: Partial<RetryOptions>;
  /** Upper bound on pages followed for one listing; default 1000. */
  maxPages?: number;
  /** Told when a request waits for the rate limit. */
  onWait?(message: string): void;
  /** The work's deadline: a request in flight or a rate-limit wait stops when it aborts. */
  deadline?(): AbortSignal | undefined;
}

export const DEFAULT_TIMEOUT_MS = 30_000;
export const DEFAULT_PAGE_SIZE = 100;
export const DEFAULT_MAX_PAGES = 1000;
export const DEFAULT_RETRY: RetryOptions = { attempts: 4, initialDelayMs: 200, maxDelayMs: 5_000 };

/** The target with everything derived that requests need. */
export interface ResolvedTarget {
  /** Origin plus context path, without a trailing slash. */
  base: string;
  host: string;
  token: string;
  project: string;
  slug: string;
  /** Personal projects are "~owner"; owner is the user name without the tilde. */
  personalOwner: string | null;
  /** URL-encoded path segments. */
  projectSegment: string;
  slugSegment: string;
  caPem?: string;
  timeoutMs: number;
  pageSize: number;
  maxPages: number;
  retry: RetryOptions;
  onWait?(message: string): void;
  deadline?(): AbortSignal | undefined;
}

function invalid(message: string): ProviderError {
  return new ProviderError(message, { status: 0, transient: false });
}

function checkName(kind: string, value: string): void {
  // A slash or dot segment would change which REST resource the path names.
  if (value === "" || value.includes("/") || value === "." || value === "..") {
    throw invalid(`Bitbucket ${kind} "${value}" is not a valid ${kind}`);
  }
}

function positive(value: number | undefined, fallback: number): number {
  return value !== undefined && Number.isFinite(value) && value > 0 ? Math.floor(value) : fallback;
}

export function resolveTarget(t: BitbucketTarget): ResolvedTarget {
  const url = checkBaseUrl("Bitbucket", t.baseUrl, t.allowInsecureHttp === true);
  if (!t.token) throw invalid("no Bitbucket token given: set BITBUCKET_TOKEN");
  checkName("project key", t.project);
  checkName("repository slug", t.repository);
  const personalOwner = t.project.startsWith("~") ? t.project.slice(1) : null;
  if (personalOwner === "") throw invalid(`Bitbucket project "~" names no user`);
  return {
    base: `${url.origin}${url.pathname.replace(/\/+$/, "")}`,
    host: url.host,
    token: t.token,
    project: t.project,
    slug: t.repository,
    personalOwner,
    projectSegment: encodeURIComponent(t.project),
    slugSegment: encodeURIComponent(t.repository),
    caPem: t.caPem,
    onWait: t.onWait,
    deadline: t.deadline,
    timeoutMs: positive(t.timeoutMs, DEFAULT_TIMEOUT_MS),
    pageSize: positive(t.pageSize, DEFAULT_PAGE_SIZE),
    maxPages: positive(t.maxPages, DEFAULT_MAX_PAGES),
    retry: {
      attempts: positive(t.retry?.attempts, DEFAULT_RETRY.attempts),
      initialDelayMs: t.retry?.initialDelayMs ?? DEFAULT_RETRY.initialDelayMs,
      maxDelayMs: t.retry?.maxDelayMs ?? DEFAULT_RETRY.maxDelayMs,
    },
  };
}

/** "FLEET/apps" or "~alice/fleet", as users write it. */
export function repoName(t: ResolvedTarget): string {
  return `${t.project}/${t.slug}`;
}

/** "project FLEET" or "personal project ~alice". */
export function projectName(t: ResolvedTarget): string {
  return t.personalOwner === null ? `project ${t.project}` : `personal project ${t.project}`;
}
