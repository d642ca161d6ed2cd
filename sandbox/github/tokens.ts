/**
 * GitHub personal access tokens as the API tells them apart (docs.github.com "Authenticating to
 * the REST API", "Scopes for OAuth apps", "Permissions required for fine-grained personal access
 * tokens", changelog 2023-08-10 "X-Accepted-GitHub-Permissions header"):
 *   - classic tokens carry scopes; every answer names them in `x-oauth-scopes`, and the scopes the
 *     endpoint accepts in `x-accepted-oauth-scopes`;
 *   - fine-grained tokens carry permissions; the answer names what the endpoint needs in
 *     `x-accepted-github-permissions` (sets separated by ";"), and a missing permission is a 403
 *     "Resource not accessible by personal access token".
 * Tokens are sent as `Authorization: token <t>` or `Bearer <t>` to the API, and as the password
 * of Basic authentication (any user name, e.g. x-access-token) to git over HTTPS.
 */
import { basicCredentials } from "../forge/git_front.ts";

export type PermissionLevel = "read" | "write" | "admin";

export interface GitHubTokenSpec {
  token: string;
  /** Login of the user the token acts as. */
  user: string;
  /** How requests made with it are counted and recorded (default: the user's login). */
  name?: string;
  /** Default "classic". */
  kind?: "classic" | "fine-grained";
  /** Classic scopes; default ["repo", "read:org"]. */
  scopes?: string[];
  /** Fine-grained permissions; default administration and contents write, metadata read. */
  permissions?: Record<string, PermissionLevel>;
}

export interface TokenRecord {
  name: string;
  user: string;
  kind: "classic" | "fine-grained";
  scopes: string[];
  permissions: Record<string, PermissionLevel>;
}

/** What an endpoint needs of a token: one of `scopes` (classic), `permission` (fine-grained). */
export interface TokenNeed {
  scopes?: string[];
  permission?: [string, PermissionLevel];
}

const DEFAULT_SCOPES = ["repo", "read:org"];
const DEFAULT_PERMISSIONS: Record<string, PermissionLevel> = {
  metadata: "read",
  administration: "write",
  contents: "write",
};

/** Scopes that include others (docs "Available scopes"). */
const IMPLIED: Record<string, string[]> = {
  repo: ["public_repo", "repo:status", "repo_deployment", "repo:invite", "security_events"],
  "admin:org": ["write:org", "read:org"],
  "write:org": ["read:org"],
  user: ["read:user", "user:email", "user:follow"],
};

const LEVELS: PermissionLevel[] = ["read", "write", "admin"];

export function tokenRecords(specs: GitHubTokenSpec[]): Map<string, TokenRecord> {
  const map = new Map<string, TokenRecord>();
  for (const s of specs) {
    if (s.token.length < 8 || /\s/.test(s.token)) throw new Error(`unusable token for ${s.user}`);
    map.set(s.token, {
      name: s.name ?? s.user,
      user: s.user,
      kind: s.kind ?? "classic",
      scopes: s.scopes ?? DEFAULT_SCOPES,
      permissions: s.permissions ?? DEFAULT_PERMISSIONS,
    });
  }
  return map;
}

/** The token an API request carries: undefined when none, null when the header is unreadable. */
export function apiToken(header: string | null): string | undefined | null {
  if (header === null) return undefined;
  const m = /^(?:token|bearer)\s+(\S+)\s*$/i.exec(header);
  if (m) return m[1];
  const basic = basicCredentials(header);
  return basic ? basic.password : null;
}

/** The token of a git request: the password of Basic authentication. */
export function gitToken(header: string | null): string | undefined {
  return basicCredentials(header)?.password || undefined;
}

function hasScope(granted: string[], wanted: string): boolean {
  return granted.some((g) => g === wanted || (IMPLIED[g] ?? []).includes(wanted));
}

/** Whether the token may call an endpoint that needs `need`. */
export function tokenAllows(t: TokenRecord, need: TokenNeed): boolean {
  if (t.kind === "classic") {
    return !need.scopes || need.scopes.some((s) => hasScope(t.scopes, s));
  }
  if (!need.permission) return true;
  const [name, level] = need.permission;
  const has = t.permissions[name];
  return has !== undefined && LEVELS.indexOf(has) >= LEVELS.indexOf(level);
}

/** The headers GitHub adds for the token kind on every answer to it. */
export function tokenHeaders(t: TokenRecord, need: TokenNeed): Record<string, string> {
  if (t.kind === "classic") {
    return {
      "x-oauth-scopes": t.scopes.join(", "),
      "x-accepted-oauth-scopes": (need.scopes ?? []).join(", "),
    };
  }
  return need.permission
    ? { "x-accepted-github-permissions": `${need.permission[0]}=${need.permission[1]}` }
    : {};
}
