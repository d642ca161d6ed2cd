/**
 * Gitea / Forgejo access tokens (Gitea routers/api/v1/api.go tokenRequiresScopes and
 * models/auth/access_token_scope.go): a token has scopes "all" or "<read|write>:<category>"
 * (write includes read); each route group names its categories (repository, user, organization)
 * and the method decides the level (GET read, anything else write). A missing scope is 403
 * "token does not have at least one of required scope(s), required=[…], token scope=…".
 *
 * Gitea takes the token as `Authorization: token <t>` (its Go SDK), `Bearer <t>` (gitea-js), or
 * the password of Basic authentication with any user name (git over HTTPS, `<user>:<token>`),
 * or as the user name with an empty password or "x-oauth-basic" (services/auth/basic.go).
 */
import { basicCredentials } from "../forge/git_front.ts";

export type ScopeCategory = "repository" | "user" | "organization";

export interface GiteaTokenSpec {
  token: string;
  user: string;
  /** How requests made with it are counted and recorded (default: the user's login). */
  name?: string;
  /** Default ["all"]. */
  scopes?: string[];
}

export interface TokenRecord {
  name: string;
  user: string;
  scopes: string[];
}

export function tokenRecords(specs: GiteaTokenSpec[]): Map<string, TokenRecord> {
  const map = new Map<string, TokenRecord>();
  for (const s of specs) {
    if (s.token.length < 8 || /\s/.test(s.token)) throw new Error(`unusable token for ${s.user}`);
    map.set(s.token, { name: s.name ?? s.user, user: s.user, scopes: s.scopes ?? ["all"] });
  }
  return map;
}

/** The token a request carries: undefined when none, null when the header is unreadable. */
export function requestToken(header: string | null): string | undefined | null {
  if (header === null) return undefined;
  const m = /^(?:token|bearer)\s+(\S+)\s*$/i.exec(header);
  if (m) return m[1];
  const basic = basicCredentials(header);
  if (!basic) return null;
  return basic.password === "" || basic.password === "x-oauth-basic" ? basic.user : basic.password;
}

/** The scopes a request needs: `categories` at the level of its method. */
export function requiredScopes(method: string, categories: ScopeCategory[]): string[] {
  const level = method === "GET" || method === "HEAD" ? "read" : "write";
  return categories.map((c) => `${level}:${c}`);
}

function covers(granted: string, wanted: string): boolean {
  if (granted === "all" || granted === wanted) return true;
  const [gLevel, gCat] = granted.split(":");
  const [wLevel, wCat] = wanted.split(":");
  return gCat === wCat && gLevel === "write" && wLevel === "read";
}

/** The 403 message when the token lacks one of `required`, else undefined. */
export function scopeRefusal(t: TokenRecord, required: string[]): string | undefined {
  if (required.every((r) => t.scopes.some((g) => covers(g, r)))) return undefined;
  return `token does not have at least one of required scope(s), required=[${
    required.join(" ")
  }], token scope=${t.scopes.join(",")}`;
}
