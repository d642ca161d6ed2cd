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
import { GitFront, gitRefusal, type GitRoute, gitRoute } from "../forge/git_front.ts";
import { jsonResponse, listen, pathSegments, readJson } from "../forge/http.ts";
import {
  type ApiRequestRecord,
  Ledger,
  type PrimaryState,
  type RequestCounts,
  type SecondaryLimit,
} from "../forge/ledger.ts";
import { describeRepo, ForgeStore, type OrgSpec, type RepoView } from "../forge/model.ts";
import { type AccessKeyHooks, KeyGrants } from "../forge/ssh_keys.ts";
import type { Call, Ctx, Reply } from "./call.ts";
import { basicError, type Urls } from "./json.ts";
import { gitAccess } from "./git_access.ts";
import { primaryLimited, rateHeaders, secondaryLimited } from "./limits.ts";
import { matchRoute } from "./routes.ts";
import {
  apiToken,
  type GitHubTokenSpec,
  tokenHeaders,
  type TokenRecord,
  tokenRecords,
} from "./tokens.ts";

export type { AccessKeyHooks, GitHubTokenSpec, OrgSpec, RepoView, SecondaryLimit };

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
  repo(owner: string, name: string): RepoView | undefined;
  /** The user's primary limit runs out: 403 (or 429) with x-ratelimit-remaining: 0 until reset. */
  exhaustRateLimit(user: string, opts?: { resetInSeconds?: number; status?: 403 | 429 }): void;
  /** The next requests (of one token name, or any) are refused as a secondary rate limit. */
  secondaryRateLimit(limit: SecondaryLimit): void;
  rateLimitOf(user: string): PrimaryState;
  close(): Promise<void>;
}

const API_VERSION = "2022-11-28";

function requestId(): string {
  return crypto.randomUUID().replace(/-/g, "").slice(0, 20).toUpperCase();
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
      const a = secondaryLimited(secondary, ledger.primary(login), rid);
      return jsonResponse(a.status, a.body, { ...base, ...a.headers });
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
      const a = primaryLimited(status, who, ledger.primary(login), rid);
      return jsonResponse(a.status, a.body, { ...base, ...a.headers });
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
    const decision = gitAccess(store, tokens, req.headers.get("authorization"), route);
    view.token = decision.token?.name ?? null;
    const res = decision.allowed
      ? await front.forward(req, url, route, decision.repo.owner.login, decision.repo.name)
        .catch((e: unknown) =>
          gitRefusal(500, `internal error: ${e instanceof Error ? e.message : String(e)}`)
        )
      : decision.refusal;
    if (req.body && !req.bodyUsed) await req.body.cancel().catch(() => {});
    view.status = res.status;
    return res;
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
      return r ? describeRepo(r, (t) => t.slug) : undefined;
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
