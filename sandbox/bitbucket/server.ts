/**
 * A Bitbucket Server / Data Center REST API for tests, the demo and benchmarks, on Deno.serve.
 * No Bitbucket can run here, so this implements exactly the endpoints fluxfleet's client uses,
 * to the documented contract: Bearer HTTP access tokens, paged listings, status codes and
 * {"errors":[…]} bodies, X-AUSERNAME on authenticated answers. Created repositories are real
 * bare git repositories under `gitRoot`, laid out for the git HTTP sandbox
 * (sandbox/git/http_server.ts) started on the same root, so they can really be cloned.
 */
import { mkdir, realpath } from "node:fs/promises";
import { errorBody } from "./json.ts";
import { type AccessKeyHooks, type Call, type Reply, route, type RouteContext } from "./routes.ts";
import { createState, findProject, findRepo, parseKeyLine, type State } from "./state.ts";

export interface BitbucketSandboxOptions {
  /** user name -> token; admin:false gets 403 on create repo / add key / grant. */
  users: Record<string, { token: string; admin: boolean }>;
  /** Project keys that exist (personal ~user projects exist for every user). */
  projects?: string[];
  /** Groups that exist (granting an unknown group -> 404). */
  groups?: string[];
  /** Max `limit` honoured (default 25); tests use 2 to force paging. */
  pageSize?: number;
  /** Directory of bare repositories; a repo is <gitRoot>/<project dir>/<slug>.git. */
  gitRoot: string;
  /** Clone href = `${httpCloneBase}/<project dir>/<slug>.git` */
  httpCloneBase: string;
  /** Clone href = `${sshCloneBase}/<project dir>/<slug>.git`; no ssh link when absent. */
  sshCloneBase?: string;
  /** Told about access keys as they are added/removed, so a real sshd can enforce them. */
  accessKeys?: AccessKeyHooks;
  /**
   * Status for an authenticated user lacking permission: 403 (default) or 401 with an
   * AuthorisationException, which is how the REST reference documents most resources.
   */
  permissionDeniedStatus?: 401 | 403;
  /** Serve HTTPS with this leaf (e.g. sandbox/kube/tls.ts), to exercise private-CA setups. */
  tls?: { certPem: string; keyPem: string };
}

export interface SandboxRequestRecord {
  method: string;
  path: string;
  status: number;
  user: string | null;
}

export interface SandboxRepoView {
  public: boolean;
  keys: { id: number; label: string; key: string; permission: string }[];
  groups: Record<string, string>;
  defaultBranch: string;
  gitDir: string;
}

export interface BitbucketSandbox {
  url: string;
  requests: SandboxRequestRecord[];
  mutatingRequests(): { method: string; path: string; status: number }[];
  repo(project: string, slug: string): SandboxRepoView | undefined;
  /** Adds keys without calling the accessKeys hooks (for paging tests). */
  preloadAccessKeys(
    project: string,
    slug: string,
    keys: { label: string; key: string; permission: string }[],
  ): void;
  /**
   * The next `times` requests answer `status` (with Retry-After when given), before auth;
   * `message` replaces the error message of the answer's {"errors":[…]} body.
   */
  failNext(status: number, times: number, retryAfterSeconds?: number, message?: string): void;
  close(): Promise<void>;
}

interface Fault {
  status: number;
  remaining: number;
  retryAfterSeconds?: number;
  message?: string;
}

function jsonResponse(
  reply: Reply,
  user: string | null,
  extra: Record<string, string> = {},
): Response {
  const headers: Record<string, string> = { ...extra };
  // Bitbucket names the authenticated user on every answer (X-AUSERNAME).
  if (user !== null) headers["x-ausername"] = user;
  if (reply.body === undefined) return new Response(null, { status: reply.status, headers });
  headers["content-type"] = "application/json;charset=UTF-8";
  return new Response(JSON.stringify(reply.body), { status: reply.status, headers });
}

function authenticate(
  header: string | null,
  users: BitbucketSandboxOptions["users"],
): { user: string } | Reply {
  const m = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  if (!m) {
    return {
      status: 401,
      body: errorBody("Authentication required", "com.atlassian.bitbucket.AuthorisationException"),
    };
  }
  for (const [user, u] of Object.entries(users)) {
    if (u.token === m[1]) return { user };
  }
  return {
    status: 401,
    body: errorBody(
      "Authentication failed. Please check your credentials and try again.",
      "com.atlassian.bitbucket.auth.IncorrectPasswordAuthenticationException",
    ),
  };
}

function faultReply(f: Fault): { reply: Reply; headers: Record<string, string> } {
  const message = f.message ??
    (f.status === 429
      ? "You have been rate limited; retry after a short while."
      : `Simulated server fault (${f.status}).`);
  const headers: Record<string, string> = {};
  if (f.retryAfterSeconds !== undefined) headers["retry-after"] = String(f.retryAfterSeconds);
  return { reply: { status: f.status, body: errorBody(message, null) }, headers };
}

function decodeSegments(pathname: string): string[] | undefined {
  try {
    return pathname.split("/").filter((s) => s !== "").map((s) => decodeURIComponent(s));
  } catch {
    return undefined;
  }
}

function view(state: State, project: string, slug: string): SandboxRepoView | undefined {
  const p = findProject(state, project);
  const r = p ? findRepo(state, p, slug) : undefined;
  if (!r) return undefined;
  return {
    public: r.public,
    keys: r.keys.map((k) => ({ id: k.id, label: k.label, key: k.text, permission: k.permission })),
    groups: Object.fromEntries(r.groups),
    defaultBranch: r.defaultBranch,
    gitDir: r.gitDir,
  };
}

export async function startBitbucketSandbox(
  opts: BitbucketSandboxOptions,
): Promise<BitbucketSandbox> {
  // Real path, so repositories land exactly where the git sandbox (which resolves its root) looks.
  await mkdir(opts.gitRoot, { recursive: true });
  const gitRoot = await realpath(opts.gitRoot);
  const state = createState(gitRoot, opts.projects ?? [], Object.keys(opts.users));
  const requests: SandboxRequestRecord[] = [];
  const faults: Fault[] = [];
  const ctx: RouteContext = {
    state,
    links: {
      base: "",
      httpCloneBase: opts.httpCloneBase.replace(/\/+$/, ""),
      sshCloneBase: opts.sshCloneBase?.replace(/\/+$/, ""),
    },
    users: opts.users,
    groups: new Set(opts.groups ?? []),
    pageSize: opts.pageSize ?? 25,
    deniedStatus: opts.permissionDeniedStatus ?? 403,
    accessKeys: opts.accessKeys,
  };

  async function handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const record: SandboxRequestRecord = {
      method: req.method,
      path: url.pathname + url.search,
      status: 0,
      user: null,
    };
    requests.push(record);
    const res = await answer(req, url, record).catch((e: unknown) =>
      jsonResponse({
        status: 500,
        body: errorBody(e instanceof Error ? e.message : String(e), "java.lang.RuntimeException"),
      }, null)
    );
    record.status = res.status;
    return res;
  }

  async function answer(req: Request, url: URL, record: SandboxRequestRecord): Promise<Response> {
    const fault = faults[0];
    if (fault) {
      if (--fault.remaining <= 0) faults.shift();
      await req.body?.cancel();
      const { reply, headers } = faultReply(fault);
      return jsonResponse(reply, null, headers);
    }
    const auth = authenticate(req.headers.get("authorization"), opts.users);
    if (!("user" in auth)) {
      await req.body?.cancel();
      return jsonResponse(auth, null);
    }
    record.user = auth.user;
    const segments = decodeSegments(url.pathname);
    if (!segments || segments[0] !== "rest") {
      await req.body?.cancel();
      return jsonResponse({
        status: 404,
        body: errorBody("The requested resource could not be found.", null),
      }, auth.user);
    }
    const call: Call = {
      method: req.method,
      segments: segments.slice(1),
      query: url.searchParams,
      user: auth.user,
      json: () => req.json(),
    };
    const reply = await route(ctx, call);
    if (!req.bodyUsed) await req.body?.cancel();
    return jsonResponse(reply, auth.user);
  }

  const listen = { hostname: "127.0.0.1", port: 0, onListen: () => {} };
  const server = opts.tls
    ? Deno.serve({ ...listen, cert: opts.tls.certPem, key: opts.tls.keyPem }, handle)
    : Deno.serve(listen, handle);
  const url = `${opts.tls ? "https" : "http"}://127.0.0.1:${server.addr.port}`;
  ctx.links.base = url;
  let closing: Promise<void> | undefined;

  return {
    url,
    requests,
    mutatingRequests: () =>
      requests.filter((r) => r.method !== "GET").map(({ method, path, status }) => ({
        method,
        path,
        status,
      })),
    repo: (project, slug) => view(state, project, slug),
    preloadAccessKeys(project, slug, keys) {
      const p = findProject(state, project);
      const r = p ? findRepo(state, p, slug) : undefined;
      if (!r) throw new Error(`no repository ${project}/${slug} in the Bitbucket sandbox`);
      for (const k of keys) {
        if (!parseKeyLine(k.key)) throw new Error(`not an OpenSSH public key: ${k.label}`);
        r.keys.push({
          id: state.nextKeyId++,
          label: k.label,
          text: k.key.trim(),
          permission: k.permission,
        });
      }
    },
    failNext(status, times, retryAfterSeconds, message) {
      if (times > 0) faults.push({ status, remaining: times, retryAfterSeconds, message });
    },
    close() {
      closing ??= server.shutdown();
      return closing;
    },
  };
}

export type { AccessKeyHooks } from "./routes.ts";
