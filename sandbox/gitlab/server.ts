/**
 * A GitLab REST API v4 for tests: the contract fluxfleet's GitLab provider is tested against, as
 * `flux bootstrap gitlab` (go-git-providers' gitlab package) and @gitbeaker/rest use it. No GitLab
 * runs here, so this answers exactly the endpoints listed in routes.ts, to GitLab's documented
 * contract (doc/api/*.md) and its source where the docs are silent (lib/api/*.rb), checked
 * against the real client @gitbeaker/rest in tests/integration/gitlab_sandbox_test.ts.
 *
 * Authentication: `PRIVATE-TOKEN: <token>` or `Authorization: Bearer <token>` (lib/gitlab/auth/
 * auth_finders.rb: a personal access token is also accepted as an OAuth bearer token).
 * Projects are real bare repositories under `gitRoot` (repos.ts), served over smart HTTP on the
 * API's own origin as GitLab does (git_http.ts: /<namespace>/<project>.git/… beside /api/v4/…,
 * http_url_to_repo = <url>/<full path>.git), and by the sshd sandbox started on the same root;
 * deploy keys reach sshd through `accessKeys`.
 *
 * Rate limits as Rack::Attack answers them (doc/administration/settings/user_and_ip_rate_limits.md
 * "Response headers"): 429, text "Retry later", RateLimit-Name/-Limit/-Observed/-Remaining/
 * -Reset (Unix time)/-ResetTime and Retry-After (seconds); injected with failNext or enforced per
 * token with `rateLimit`.
 */
import { mkdir, realpath } from "node:fs/promises";
import { GitFront } from "../forge/git_front.ts";
import type { Access, GitRequestRecord } from "../git/http_server.ts";
import { type AccessKeyHooks, type Call, type Reply, type RouteContext } from "./context.ts";
import { gitAccess } from "./git_auth.ts";
import { type GitLabGitRecord, gitLabGitRoute, serveGit } from "./git_http.ts";
import { Params, readParams } from "./params.ts";
import { dispatch, findRoute } from "./routes.ts";
import {
  createState,
  findProject,
  findToken,
  fullPathOf,
  type GitLabGroupOptions,
  type GitLabUserOptions,
  type State,
  type TokenRecord,
} from "./state.ts";

export type { AccessKeyHooks } from "./context.ts";
export type { GitLabGitRecord } from "./git_http.ts";
export type { AccessLevel, GitLabGroupOptions, GitLabUserOptions, TokenScope } from "./state.ts";

export interface GitLabSandboxOptions {
  users: GitLabUserOptions[];
  /** Groups and subgroups by full path ("fleet", "fleet/platform"). */
  groups?: GitLabGroupOptions[];
  /** Directory of bare repositories: <gitRoot>/<group>/<sub>/<project>.git */
  gitRoot: string;
  /**
   * http_url_to_repo = `${httpCloneBase}/<full path>.git`; default the sandbox's own origin,
   * where it serves git as GitLab does. Another base only to test a client against a server
   * that names somewhere else (nothing serves git there).
   */
  httpCloneBase?: string;
  /** "ssh://git@127.0.0.1:<port>" (or scp-like "git@host"); no ssh_url_to_repo when absent. */
  sshCloneBase?: string;
  /** Told about deploy keys as they change, so a real sshd enforces them. */
  accessKeys?: AccessKeyHooks;
  /** Requests each token may make per period before 429 (throttle_authenticated_api). */
  rateLimit?: { limit: number; periodSeconds: number };
  /** Serve HTTPS with this leaf (e.g. sandbox/kube/tls.ts). */
  tls?: { certPem: string; keyPem: string };
}

export interface GitLabRequestRecord {
  method: string;
  /** Path and query; a private_token query parameter is redacted. */
  path: string;
  status: number;
  /** The user of the token, or null (none, unknown). */
  user: string | null;
  /** The token's name (never its value), or null. */
  token: string | null;
  mutating: boolean;
}

export interface GitLabProjectView {
  id: number;
  fullPath: string;
  visibility: string;
  defaultBranch: string;
  gitDir: string;
  deployKeys: { id: number; title: string; key: string; canPush: boolean }[];
  /** Without their values. */
  deployTokens: { id: number; name: string; username: string; scopes: string[] }[];
  /** group full path -> access level */
  sharedWith: Record<string, number>;
}

export interface FaultOptions {
  /** Retry-After seconds (and RateLimit-Reset = now + this) on a 429; default 60. */
  retryAfterSeconds?: number;
  /** The JSON `message` of a non-429 fault. */
  message?: string;
}

export interface GitLabSandbox {
  /** Base URL, e.g. http://127.0.0.1:1234 (the API is under /api/v4). */
  url: string;
  requests: GitLabRequestRecord[];
  /** Git requests on the sandbox's origin (smart HTTP), apart from the API's. */
  gitRequests: GitLabGitRecord[];
  /** What git http-backend was asked, with its push reports. */
  gitBackendRequests: GitRequestRecord[];
  mutatingRequests(): { method: string; path: string; status: number }[];
  /** Requests per token name: reading (GET, HEAD) and mutating (the rest). */
  requestCounts(): Record<string, { reading: number; mutating: number }>;
  project(fullPath: string): GitLabProjectView | undefined;
  /** Who may fetch or push ("group/sub/project.git"): tokens and deploy tokens, as GitLab decides. */
  gitAccess(user: string, password: string, repo: string): Access | null;
  /**
   * Holds the next API request unanswered until `release()` (or close): a server that takes its
   * time. `gone` resolves when the client gives up on it (its connection closed or aborted).
   */
  holdNext(): GitLabHold;
  /** The next `times` requests answer `status` (429: as Rack::Attack throttles). */
  failNext(status: number, times: number, opts?: FaultOptions): void;
  close(): Promise<void>;
}

export interface GitLabHold {
  /** Resolves with the request's path once it arrived and is held. */
  arrived: Promise<string>;
  /** Resolves when the client abandoned the held request. */
  gone: Promise<void>;
  /** Lets the held request be answered. */
  release(): void;
}

interface Fault {
  status: number;
  remaining: number;
  opts: FaultOptions;
}

function jsonResponse(r: Reply): Response {
  const headers: Record<string, string> = { ...r.headers };
  if (r.body === undefined || r.status === 204) {
    return new Response(null, { status: r.status, headers });
  }
  headers["content-type"] = "application/json";
  return new Response(JSON.stringify(r.body), { status: r.status, headers });
}

/** Rack::Attack's throttled answer (lib/gitlab/rack_attack.rb, Gitlab::RackAttack). */
function throttled(limit: number, observed: number, retryAfter: number): Response {
  const reset = Math.floor(Date.now() / 1000) + retryAfter;
  return new Response("Retry later\n", {
    status: 429,
    headers: {
      "content-type": "text/plain",
      "ratelimit-name": "throttle_authenticated_api",
      "ratelimit-limit": String(limit),
      "ratelimit-observed": String(observed),
      "ratelimit-remaining": "0",
      "ratelimit-reset": String(reset),
      "ratelimit-resettime": new Date(reset * 1000).toUTCString(),
      "retry-after": String(retryAfter),
    },
  });
}

/** The token of PRIVATE-TOKEN or a Bearer authorization; "bad" when one is given but unknown. */
function tokenOf(state: State, req: Request): TokenRecord | null | "bad" {
  const header = req.headers.get("private-token");
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.get("authorization") ?? "")?.[1];
  const value = header ?? bearer;
  if (value === undefined) return null;
  return findToken(state, value) ?? "bad";
}

function segmentsOf(pathname: string): string[] | undefined {
  try {
    return pathname.split("/").slice(1).map((s) => decodeURIComponent(s));
  } catch {
    return undefined;
  }
}

function redact(url: URL): string {
  if (!url.searchParams.has("private_token")) return url.pathname + url.search;
  const q = new URLSearchParams(url.search);
  q.set("private_token", "[REDACTED]");
  return `${url.pathname}?${q}`;
}

function view(state: State, fullPath: string): GitLabProjectView | undefined {
  const p = findProject(state, fullPath);
  if (!p) return undefined;
  return {
    id: p.id,
    fullPath: fullPathOf(p),
    visibility: p.visibility,
    defaultBranch: p.defaultBranch,
    gitDir: p.gitDir,
    deployKeys: p.deployKeys.map((d) => ({
      id: d.key.id,
      title: d.key.title,
      key: d.key.text,
      canPush: d.canPush,
    })),
    deployTokens: p.deployTokens.map((t) => ({
      id: t.id,
      name: t.name,
      username: t.username,
      scopes: t.scopes,
    })),
    sharedWith: Object.fromEntries(
      [...p.sharedWith.values()].map((l) => [l.group.fullPath, l.access]),
    ),
  };
}

export async function startGitLabSandbox(opts: GitLabSandboxOptions): Promise<GitLabSandbox> {
  // Real path, so repositories land exactly where the git and ssh sandboxes (which resolve
  // their roots) look.
  await mkdir(opts.gitRoot, { recursive: true });
  const state = createState(await realpath(opts.gitRoot), opts.users, opts.groups ?? []);
  const requests: GitLabRequestRecord[] = [];
  const faults: Fault[] = [];
  const windows = new Map<number, { start: number; count: number }>();
  const gitRequests: GitLabGitRecord[] = [];
  const holds: { arrived(path: string, signal: AbortSignal): Promise<void> }[] = [];
  const released = new Set<() => void>();
  const front = await GitFront.start(state.gitRoot);
  const ctx: RouteContext = {
    state,
    links: {
      base: "",
      httpCloneBase: opts.httpCloneBase?.replace(/\/+$/, "") ?? "",
      sshCloneBase: opts.sshCloneBase,
    },
    accessKeys: opts.accessKeys,
  };

  /** Per-token fixed window; the answer when this request is over the limit. */
  function overLimit(token: TokenRecord): Response | undefined {
    if (!opts.rateLimit) return undefined;
    const { limit, periodSeconds } = opts.rateLimit;
    const now = Date.now();
    let w = windows.get(token.id);
    if (!w || now - w.start >= periodSeconds * 1000) {
      w = { start: now, count: 0 };
      windows.set(token.id, w);
    }
    w.count++;
    if (w.count <= limit) return undefined;
    const retryAfter = Math.max(1, Math.ceil((w.start + periodSeconds * 1000 - now) / 1000));
    return throttled(limit, w.count, retryAfter);
  }

  async function answer(req: Request, url: URL, record: GitLabRequestRecord): Promise<Response> {
    const token = tokenOf(state, req);
    if (token !== null && token !== "bad") {
      record.user = token.user.username;
      record.token = token.name;
    }
    const fault = faults[0];
    if (fault) {
      if (--fault.remaining <= 0) faults.shift();
      if (fault.status === 429) {
        return throttled(600, 601, fault.opts.retryAfterSeconds ?? 60);
      }
      return jsonResponse({
        status: fault.status,
        body: { message: fault.opts.message ?? `${fault.status} Injected fault` },
      });
    }
    if (token === "bad") {
      return jsonResponse({ status: 401, body: { message: "401 Unauthorized" } });
    }
    const limited = token ? overLimit(token) : undefined;
    if (limited) return limited;
    const segments = segmentsOf(url.pathname);
    if (!segments || segments[0] !== "api" || segments[1] !== "v4") {
      return jsonResponse({ status: 404, body: { error: "404 Not Found" } });
    }
    const found = findRoute(req.method, segments.slice(2));
    if (!("route" in found)) return jsonResponse(found);
    const body = await readParams(req, url.searchParams);
    if (!("values" in body)) return jsonResponse(body);
    const call: Call = {
      method: req.method,
      url,
      segments: segments.slice(2),
      path: found.path,
      params: new Params(body.values),
      user: token?.user ?? null,
      token,
    };
    return jsonResponse(await dispatch(ctx, found.route, call));
  }

  async function handleGit(req: Request, url: URL): Promise<Response | undefined> {
    const route = gitLabGitRoute(url);
    if (!route) return undefined;
    const record: GitLabGitRecord = {
      method: req.method,
      path: url.pathname,
      status: 0,
      user: null,
      write: route.write,
    };
    gitRequests.push(record);
    const res = await serveGit(state, front, req, url, route, record).catch((e: unknown) =>
      new Response(`internal error: ${e instanceof Error ? e.message : String(e)}\n`, {
        status: 500,
      })
    );
    if (req.body && !req.bodyUsed) await req.body.cancel().catch(() => {});
    record.status = res.status;
    return res;
  }

  async function handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const git = await handleGit(req, url);
    if (git) return git;
    const record: GitLabRequestRecord = {
      method: req.method,
      path: redact(url),
      status: 0,
      user: null,
      token: null,
      mutating: req.method !== "GET" && req.method !== "HEAD",
    };
    requests.push(record);
    await holds.shift()?.arrived(record.path, req.signal);
    const res = await answer(req, url, record).catch((e: unknown) => {
      console.error("GitLab sandbox:", e);
      return jsonResponse({ status: 500, body: { message: "500 Internal Server Error" } });
    });
    if (!req.bodyUsed) await req.body?.cancel().catch(() => {});
    record.status = res.status;
    return res;
  }

  const listen = { hostname: "127.0.0.1", port: 0, onListen: () => {} };
  const server = opts.tls
    ? Deno.serve({ ...listen, cert: opts.tls.certPem, key: opts.tls.keyPem }, handle)
    : Deno.serve(listen, handle);
  const url = `${opts.tls ? "https" : "http"}://127.0.0.1:${server.addr.port}`;
  ctx.links.base = url;
  ctx.links.httpCloneBase ||= url;
  let closing: Promise<void> | undefined;

  return {
    url,
    requests,
    gitRequests,
    get gitBackendRequests() {
      return front.requests;
    },
    mutatingRequests: () =>
      requests.filter((r) => r.mutating).map(({ method, path, status }) => ({
        method,
        path,
        status,
      })),
    requestCounts() {
      const counts: Record<string, { reading: number; mutating: number }> = {};
      for (const r of requests) {
        if (r.token === null) continue;
        counts[r.token] ??= { reading: 0, mutating: 0 };
        counts[r.token][r.mutating ? "mutating" : "reading"]++;
      }
      return counts;
    },
    project: (fullPath) => view(state, fullPath),
    gitAccess: (user, password, repo) => gitAccess(state, user, password, repo),
    holdNext() {
      const arrived = Promise.withResolvers<string>();
      const gone = Promise.withResolvers<void>();
      const free = Promise.withResolvers<void>();
      released.add(free.resolve);
      holds.push({
        arrived(path, signal) {
          arrived.resolve(path);
          if (signal.aborted) gone.resolve();
          signal.addEventListener("abort", () => gone.resolve(), { once: true });
          return free.promise;
        },
      });
      return {
        arrived: arrived.promise,
        gone: gone.promise,
        release: () => {
          released.delete(free.resolve);
          free.resolve();
        },
      };
    },
    failNext(status, times, faultOpts = {}) {
      if (times > 0) faults.push({ status, remaining: times, opts: faultOpts });
    },
    close() {
      for (const free of released) free();
      closing ??= server.shutdown().then(() => front.close());
      return closing;
    },
  };
}
