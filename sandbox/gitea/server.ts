/**
 * A Gitea / Forgejo for tests, the demo and benchmarks: the /api/v1 endpoints `flux bootstrap
 * gitea` uses (sandbox/gitea/routes.ts), answered to Gitea's swagger description, and git over
 * HTTPS on the same host (<url>/<owner>/<repo>.git), backed by real bare repositories (git
 * http-backend) that the sandbox sshd can serve too, with deploy keys enforced by that sshd.
 *
 * Gitea itself sets no rate-limit headers; `throttle` makes the next requests answer 429 (or
 * 403) with retry-after, as a proxy in front of it would. `counts` and `requests` tell what each
 * token did (tokens appear by the name the test gave them).
 */
import { mkdir, realpath, rm } from "node:fs/promises";
import { GitFront, gitRefusal, type GitRoute, gitRoute } from "../forge/git_front.ts";
import { jsonResponse, listen, pathSegments, readJson } from "../forge/http.ts";
import {
  type ApiRequestRecord,
  Ledger,
  type RequestCounts,
  type SecondaryLimit,
} from "../forge/ledger.ts";
import { describeRepo, ForgeStore, type OrgSpec, type RepoView } from "../forge/model.ts";
import { type AccessKeyHooks, KeyGrants } from "../forge/ssh_keys.ts";
import type { Call, Ctx } from "./call.ts";
import { apiError, type Urls } from "./json.ts";
import { gitAccess } from "./git_access.ts";
import { matchRoute } from "./routes.ts";
import { type GiteaTokenSpec, requestToken, type TokenRecord, tokenRecords } from "./tokens.ts";

export type { AccessKeyHooks, GiteaTokenSpec, OrgSpec, RepoView, SecondaryLimit };

export interface GiteaSandboxOptions {
  users: string[];
  /** Users who are site administrators (full access everywhere). */
  siteAdmins?: string[];
  /** Organizations; each gets Gitea's "Owners" team (its owners, every repository, mode owner). */
  orgs?: OrgSpec[];
  tokens: GiteaTokenSpec[];
  gitRoot?: string;
  /** ssh://git@127.0.0.1:PORT of the sshd serving gitRoot; repositories' ssh_url use it. */
  sshCloneBase?: string;
  accessKeys?: AccessKeyHooks;
  /** What GET /api/v1/version says (default "1.23.1", the swagger gitea-js 1.23.0 is made from). */
  version?: string;
  /** limit default and cap (Gitea: DEFAULT_PAGING_NUM 30, MAX_RESPONSE_ITEMS 50). */
  paging?: { default?: number; max?: number };
  tls?: boolean;
}

export interface GiteaSandbox {
  url: string;
  /** <url>/api/v1 */
  apiUrl: string;
  caPem?: string;
  gitRoot: string;
  requests: ApiRequestRecord[];
  counts(token: string): RequestCounts;
  mutatingRequests(): { method: string; path: string; status: number; token: string | null }[];
  repo(owner: string, name: string): RepoView | undefined;
  /** The next requests (of one token name, or any) answer 429/403 with retry-after. */
  throttle(limit: SecondaryLimit): void;
  close(): Promise<void>;
}

const API = "/api/v1";

function notFoundPage(): Response {
  return new Response("404 page not found\n", {
    status: 404,
    headers: { "content-type": "text/plain; charset=utf-8" },
  });
}

export async function startGiteaSandbox(opts: GiteaSandboxOptions): Promise<GiteaSandbox> {
  const ownsRoot = opts.gitRoot === undefined;
  const rootDir = opts.gitRoot ?? await Deno.makeTempDir({ prefix: "fluxfleet-gitea-" });
  await mkdir(rootDir, { recursive: true });
  const gitRoot = await realpath(rootDir);
  const store = new ForgeStore(gitRoot, "write");
  const admins = new Set((opts.siteAdmins ?? []).map((a) => a.toLowerCase()));
  for (const u of opts.users) store.addUser(u, admins.has(u.toLowerCase()));
  for (const spec of opts.orgs ?? []) {
    const org = store.addOrg({ ...spec, teams: [] });
    if (!(spec.teams ?? []).some((t) => t.slug.toLowerCase() === "owners")) {
      store.addTeam(org, {
        slug: "Owners",
        permission: "owner",
        members: spec.owners ?? [],
        includesAllRepositories: true,
      });
    }
    for (const t of spec.teams ?? []) store.addTeam(org, { name: t.slug, ...t });
  }
  const tokens = tokenRecords(opts.tokens);
  for (const t of tokens.values()) {
    if (!store.user(t.user)) throw new Error(`token of unknown user ${t.user}`);
  }
  const ledger = new Ledger(() => Number.MAX_SAFE_INTEGER);
  const front = await GitFront.start(gitRoot);
  const ctx: Ctx = {
    store,
    keys: new KeyGrants(opts.accessKeys),
    ledger,
    version: opts.version ?? "1.23.1",
    paging: { size: opts.paging?.default ?? 30, max: opts.paging?.max ?? 50 },
    keyIds: new Map(),
  };
  let urls: Urls = { web: "", api: "" };

  async function handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const route = gitRoute(url);
    const res = route
      ? await gitAnswer(req, url, route).catch((e: unknown) =>
        gitRefusal(500, `internal error: ${e instanceof Error ? e.message : String(e)}`)
      )
      : await apiAnswer(req, url).catch((e: unknown) =>
        jsonResponse(500, apiError(e instanceof Error ? e.message : String(e), urls))
      );
    if (req.body && !req.bodyUsed) await req.body.cancel().catch(() => {});
    return res;
  }

  async function apiAnswer(req: Request, url: URL): Promise<Response> {
    const record = ledger.record({
      method: req.method,
      path: url.pathname + url.search,
      status: 0,
      token: null,
      user: null,
    });
    const res = await apiRoute(req, url, record);
    record.status = res.status;
    return res;
  }

  async function apiRoute(req: Request, url: URL, record: ApiRequestRecord): Promise<Response> {
    if (url.pathname !== API && !url.pathname.startsWith(`${API}/`)) return notFoundPage();
    const raw = requestToken(req.headers.get("authorization"));
    let token: TokenRecord | null = null;
    if (raw !== undefined) {
      token = raw === null ? null : tokens.get(raw) ?? null;
      if (!token) return jsonResponse(401, apiError("invalid username, password or token", urls));
    }
    record.token = token?.name ?? null;
    record.user = token?.user ?? null;
    const throttled = ledger.takeSecondary(record.token);
    if (throttled) {
      const headers: Record<string, string> = {};
      if (throttled.retryAfterSeconds !== undefined) {
        headers["retry-after"] = String(throttled.retryAfterSeconds);
      }
      return jsonResponse(throttled.status, apiError("rate limit exceeded", urls), headers);
    }
    const segs = pathSegments(url.pathname.slice(API.length)) ?? ["-"];
    const matched = matchRoute(req.method, segs);
    if (matched === undefined) return notFoundPage();
    if (matched === "method") {
      return new Response("Method Not Allowed\n", { status: 405 });
    }
    const call: Call = {
      method: req.method,
      url,
      query: url.searchParams,
      login: token?.user ?? null,
      token,
      urls,
      body: () => readJson(req),
    };
    const reply = await matched.run(ctx, call, matched.params);
    return jsonResponse(reply.status, reply.body, reply.headers);
  }

  async function gitAnswer(req: Request, url: URL, route: GitRoute): Promise<Response> {
    const decision = gitAccess(store, tokens, req.headers.get("authorization"), route);
    if (!decision.allowed) return decision.refusal;
    const { repo } = decision;
    return await front.forward(req, url, route, repo.owner.login, repo.name);
  }

  const listener = await listen(handle, opts.tls === true);
  urls = {
    web: listener.url,
    api: `${listener.url}${API}`,
    ssh: opts.sshCloneBase?.replace(/\/+$/, ""),
  };
  let closing: Promise<void> | undefined;
  return {
    url: listener.url,
    apiUrl: urls.api,
    caPem: listener.caPem,
    gitRoot,
    requests: ledger.requests,
    counts: (t) => ledger.counts(t),
    mutatingRequests: () => ledger.mutatingRequests(),
    repo(owner, name) {
      const r = store.repo(owner, name);
      return r ? describeRepo(r, (t) => t.name) : undefined;
    },
    throttle: (l) => ledger.addSecondary(l),
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
