/**
 * A GitHub for tests, the demo and benchmarks: the REST endpoints `flux bootstrap github` uses
 * (sandbox/github/routes.ts), answered to GitHub's published OpenAPI description, and git over
 * HTTPS on the same host, backed by real bare repositories (git http-backend) that the sandbox
 * sshd can serve too, with deploy keys enforced by that sshd.
 *
 * One server is both api.github.com (the API at /) and a GitHub Enterprise Server (the API at
 * /api/v3, `enterpriseApiUrl`); repositories are cloned from <url>/<owner>/<repo>.git.
 *
 * Every API answer carries GitHub's rate-limit headers (x-ratelimit-limit, -remaining, -used,
 * -reset, -resource); tests impose limits with `exhaustRateLimit` (primary: remaining 0 until the
 * reset time, 403 or 429) and `secondaryRateLimit` (403/429 with retry-after), and read what each
 * token did with `counts` and `requests` (tokens appear by the name the test gave them).
 */
import { mkdir, realpath, rm } from "node:fs/promises";
import { gitChallenge, GitFront, gitRefusal, type GitRoute, gitRoute } from "../forge/git_front.ts";
import { jsonResponse, listen, pathSegments, readJson } from "../forge/http.ts";
import {
  type ApiRequestRecord,
  Ledger,
  type PrimaryState,
  type RequestCounts,
  type SecondaryLimit,
} from "../forge/ledger.ts";
import { ForgeStore, type OrgSpec } from "../forge/model.ts";
import { type AccessKeyHooks, KeyGrants } from "../forge/ssh_keys.ts";
import { atLeast, repoRole } from "./access.ts";
import type { Call, Ctx, Reply } from "./call.ts";
import { basicError, type Urls } from "./json.ts";
import { matchRoute } from "./routes.ts";
import {
  apiToken,
  type GitHubTokenSpec,
  gitToken,
  tokenAllows,
  tokenHeaders,
  type TokenRecord,
  tokenRecords,
} from "./tokens.ts";

export type { AccessKeyHooks, GitHubTokenSpec, OrgSpec, SecondaryLimit };

export interface GitHubSandboxOptions {
  /** Logins of the users (the owners of tokens and organization members). */
  users: string[];
  orgs?: OrgSpec[];
  tokens: GitHubTokenSpec[];
  /** Where the bare repositories live (<gitRoot>/<owner>/<repo>.git); default a temp dir. */
  gitRoot?: string;
  /** ssh://git@127.0.0.1:PORT of the sshd serving gitRoot; repositories' ssh_url use it. */
  sshCloneBase?: string;
  /** Told as deploy keys come and go, so that the sshd enforces them. */
  accessKeys?: AccessKeyHooks;
  /** Branch of new repositories (GitHub's user setting; default "main"). */
  defaultBranch?: string;
  /** per_page default and cap (GitHub: 30 and 100). */
  perPage?: { default?: number; max?: number };
  /** Primary rate limit per user and window (GitHub: 5000 an hour; 60 unauthenticated). */
  rateLimit?: number;
  /** HTTPS with the sandbox CA (sandbox/kube/tls.ts); `caPem` says which CA to trust. */
  tls?: boolean;
}

export interface GitHubRepoView {
  private: boolean;
  defaultBranch: string;
  description: string;
  gitDir: string;
  keys: { id: number; title: string; key: string; readOnly: boolean }[];
  /** team slug -> permission */
  teams: Record<string, string>;
}

export interface GitRequestView {
  method: string;
  path: string;
  status: number;
  token: string | null;
  write: boolean;
}

export interface GitHubSandbox {
  /** The host: api.github.com-style API at /, git at /<owner>/<repo>.git. */
  url: string;
  /** The same API as GitHub Enterprise Server serves it: <url>/api/v3. */
  enterpriseApiUrl: string;
  caPem?: string;
  gitRoot: string;
  requests: ApiRequestRecord[];
  gitRequests: GitRequestView[];
  counts(token: string): RequestCounts;
  mutatingRequests(): { method: string; path: string; status: number; token: string | null }[];
  repo(owner: string, name: string): GitHubRepoView | undefined;
  /** The user's primary limit runs out: 403 (or 429) with x-ratelimit-remaining: 0 until reset. */
  exhaustRateLimit(user: string, opts?: { resetInSeconds?: number; status?: 403 | 429 }): void;
  /** The next requests (of one token name, or any) are refused as a secondary rate limit. */
  secondaryRateLimit(limit: SecondaryLimit): void;
  rateLimitOf(user: string): PrimaryState;
  close(): Promise<void>;
}

const API_VERSION = "2022-11-28";
const RATE_DOCS = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api";

function requestId(): string {
  return crypto.randomUUID().replace(/-/g, "").slice(0, 20).toUpperCase();
}

function rateHeaders(s: PrimaryState): Record<string, string> {
  return {
    "x-ratelimit-limit": String(s.limit),
    "x-ratelimit-remaining": String(s.remaining),
    "x-ratelimit-reset": String(s.reset),
    "x-ratelimit-used": String(s.used),
    "x-ratelimit-resource": "core",
  };
}

export async function startGitHubSandbox(opts: GitHubSandboxOptions): Promise<GitHubSandbox> {
  const ownsRoot = opts.gitRoot === undefined;
  const rootDir = opts.gitRoot ?? await Deno.makeTempDir({ prefix: "fluxfleet-github-" });
  await mkdir(rootDir, { recursive: true });
  // The real path, as the git HTTP server resolves its root.
  const gitRoot = await realpath(rootDir);
  const store = new ForgeStore(gitRoot, "pull");
  for (const u of opts.users) store.addUser(u);
  for (const o of opts.orgs ?? []) store.addOrg(o);
  const tokens = tokenRecords(opts.tokens);
  for (const t of tokens.values()) {
    if (!store.user(t.user)) throw new Error(`token of unknown user ${t.user}`);
  }
  const limit = opts.rateLimit ?? 5000;
  const ledger = new Ledger((user) => user === null ? 60 : limit);
  const primaryStatus = new Map<string, 403 | 429>();
  const front = await GitFront.start(gitRoot);
  const ctx: Ctx = {
    store,
    keys: new KeyGrants(opts.accessKeys),
    ledger,
    defaultBranch: opts.defaultBranch ?? "main",
    paging: { size: opts.perPage?.default ?? 30, max: opts.perPage?.max ?? 100 },
  };
  const gitRequests: GitRequestView[] = [];
  let origin = "";

  function answer(r: Reply, headers: Record<string, string>): Response {
    return jsonResponse(r.status, r.body, { ...headers, ...r.headers });
  }

  async function handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const route = gitRoute(url);
    if (route) return await handleGit(req, url, route);
    const record = ledger.record({
      method: req.method,
      path: url.pathname + url.search,
      status: 0,
      token: null,
      user: null,
    });
    const res = await handleApi(req, url, record).catch((e: unknown) => {
      const message = e instanceof Error ? e.message : String(e);
      return jsonResponse(
        500,
        basicError(`Server Error: ${message}`, "https://docs.github.com/rest", 500),
      );
    });
    if (req.body && !req.bodyUsed) await req.body.cancel().catch(() => {});
    record.status = res.status;
    return res;
  }

  async function handleApi(req: Request, url: URL, record: ApiRequestRecord): Promise<Response> {
    const rid = requestId();
    const base: Record<string, string> = {
      "x-github-api-version-selected": API_VERSION,
      "x-github-media-type": "github.v3; format=json",
      "x-github-request-id": rid,
    };
    let path = url.pathname;
    let api = origin;
    if (path === "/api/v3" || path.startsWith("/api/v3/")) {
      api = `${origin}/api/v3`;
      path = path.slice("/api/v3".length);
    }
    const raw = apiToken(req.headers.get("authorization"));
    let token: TokenRecord | null = null;
    if (raw !== undefined) {
      token = raw === null ? null : tokens.get(raw) ?? null;
      if (!token) {
        return jsonResponse(
          401,
          basicError("Bad credentials", "https://docs.github.com/rest", 401),
          base,
        );
      }
    }
    record.token = token?.name ?? null;
    record.user = token?.user ?? null;
    const login = token?.user ?? null;
    const secondary = ledger.takeSecondary(record.token);
    if (secondary) {
      const headers = { ...base, ...rateHeaders(ledger.primary(login)) };
      if (secondary.retryAfterSeconds !== undefined) {
        headers["retry-after"] = String(secondary.retryAfterSeconds);
      }
      return jsonResponse(
        secondary.status,
        basicError(
          "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. " +
            `If you reach out to GitHub Support for help, please include the request ID ${rid}.`,
          `${RATE_DOCS}#about-secondary-rate-limits`,
          secondary.status,
        ),
        headers,
      );
    }
    let segs = pathSegments(path) ?? [];
    // /repositories/{id}/…: where GitHub's Link headers point.
    if (segs[0] === "repositories" && segs.length >= 2) {
      const repo = /^\d+$/.test(segs[1]) ? store.repoById(Number(segs[1])) : undefined;
      segs = repo ? ["repos", repo.owner.login, repo.name, ...segs.slice(2)] : ["-"];
    }
    const matched = matchRoute(req.method, segs);
    if (matched?.route.spends !== false && !ledger.spend(login)) {
      const status = primaryStatus.get(login?.toLowerCase() ?? "") ?? 403;
      const who = token ? `user ID ${store.user(login!)!.id}` : "127.0.0.1";
      return jsonResponse(
        status,
        basicError(
          `API rate limit exceeded for ${who}. If you reach out to GitHub Support for help, ` +
            `please include the request ID ${rid} and timestamp ${new Date().toISOString()}.`,
          RATE_DOCS,
          status,
        ),
        { ...base, ...rateHeaders(ledger.primary(login)) },
      );
    }
    const urls: Urls = { api, web: origin, ssh: opts.sshCloneBase?.replace(/\/+$/, "") };
    if (!matched) {
      return jsonResponse(404, basicError("Not Found", "https://docs.github.com/rest", 404), {
        ...base,
        ...rateHeaders(ledger.primary(login)),
      });
    }
    const call: Call = {
      method: req.method,
      segs,
      url,
      query: url.searchParams,
      accept: req.headers.get("accept") ?? "",
      login,
      token,
      urls,
      docs: matched.route.docs,
      accepted: {},
      body: () => readJson(req),
    };
    const reply = await matched.route.run(ctx, call, matched.params);
    const headers = {
      ...base,
      ...rateHeaders(ledger.primary(login)),
      ...(token ? tokenHeaders(token, call.accepted) : {}),
    };
    return answer(reply, headers);
  }

  async function handleGit(req: Request, url: URL, route: GitRoute): Promise<Response> {
    const view: GitRequestView = {
      method: req.method,
      path: url.pathname,
      status: 0,
      token: null,
      write: route.write,
    };
    gitRequests.push(view);
    const res = await gitAnswer(req, url, route, view).catch((e: unknown) =>
      gitRefusal(404, `internal error: ${e instanceof Error ? e.message : String(e)}`)
    );
    if (req.body && !req.bodyUsed) await req.body.cancel().catch(() => {});
    view.status = res.status;
    return res;
  }

  async function gitAnswer(
    req: Request,
    url: URL,
    route: GitRoute,
    view: GitRequestView,
  ): Promise<Response> {
    const raw = gitToken(req.headers.get("authorization"));
    const token = raw === undefined ? undefined : tokens.get(raw);
    if (raw !== undefined && !token) {
      return gitChallenge(
        "GitHub",
        "Invalid username or token. Password authentication is not supported for Git operations.",
      );
    }
    view.token = token?.name ?? null;
    const login = token?.user ?? null;
    const repo = store.repo(route.owner, route.name);
    const role = repo ? repoRole(repo, login) : undefined;
    if (!repo || role === undefined) {
      return login === null
        ? gitChallenge("GitHub", "Authentication required.")
        : gitRefusal(404, "Repository not found.");
    }
    if (route.write && login === null) return gitChallenge("GitHub", "Authentication required.");
    const tokenOk = !token || tokenAllows(token, {
      scopes: repo.private ? ["repo"] : route.write ? ["repo", "public_repo"] : undefined,
      permission: ["contents", route.write ? "write" : "read"],
    });
    if (!tokenOk || (route.write && !atLeast(role, "push"))) {
      return gitRefusal(
        403,
        `Permission to ${repo.owner.login}/${repo.name}.git denied to ${login}.`,
      );
    }
    return await front.forward(req, url, route, repo.owner.login, repo.name);
  }

  const listener = await listen(handle, opts.tls === true);
  origin = listener.url;
  let closing: Promise<void> | undefined;
  return {
    url: origin,
    enterpriseApiUrl: `${origin}/api/v3`,
    caPem: listener.caPem,
    gitRoot,
    requests: ledger.requests,
    gitRequests,
    counts: (token) => ledger.counts(token),
    mutatingRequests: () => ledger.mutatingRequests(),
    repo(owner, name) {
      const r = store.repo(owner, name);
      if (!r) return undefined;
      const org = r.owner.kind === "Organization" ? r.owner : undefined;
      return {
        private: r.private,
        defaultBranch: r.defaultBranch,
        description: r.description,
        gitDir: r.gitDir,
        keys: r.keys.map((k) => ({ id: k.id, title: k.title, key: k.key, readOnly: k.readOnly })),
        teams: Object.fromEntries(
          [...r.teams].map((
            [id, p],
          ) => [org?.teams.find((t) => t.id === id)?.slug ?? String(id), p]),
        ),
      };
    },
    exhaustRateLimit(user, o = {}) {
      ledger.exhaust(user, o.resetInSeconds ?? 60);
      primaryStatus.set(user.toLowerCase(), o.status ?? 403);
    },
    secondaryRateLimit: (l) => ledger.addSecondary(l),
    rateLimitOf: (user) => ({ ...ledger.primary(user) }),
    close() {
      closing ??= (async () => {
        await listener.close();
        await front.close();
        if (ownsRoot) await rm(gitRoot, { recursive: true, force: true });
      })();
      return closing;
    },
  };
}
