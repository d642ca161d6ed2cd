/**
 * A real smart-HTTP git server for tests, the demo and benchmarks: the system's
 * `git http-backend` run as CGI behind `Deno.serve`, with HTTP Basic auth.
 * Clients talk to actual git, so nothing about the protocol is mocked.
 */
import { mkdir, mkdtemp, realpath, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { branchHead, initBareRepository, isolatedGitEnv, mustGit, readBlob } from "./system_git.ts";
import { dirname, join, resolve, sep } from "node:path";
import { type SandboxTls, sandboxTls } from "../kube/tls.ts";

export interface GitServerOptions {
  /** Directory holding bare repos; default: a new temp dir removed on close(). */
  root?: string;
  /** username -> password/token accepted (Basic). Default {}. */
  users?: Record<string, string>;
  /** May fetch, get 403 on push (receive-pack). */
  readOnlyUsers?: Record<string, string>;
  /**
   * Decides Basic credentials that `users` and `readOnlyUsers` do not know, per repository
   * (`repo`: its directory under the root, e.g. "team/sub/fleet.git"): a hosting sandbox's
   * tokens (sandbox/gitlab: any user name with a personal access token, a deploy token only
   * with its own user name). null: unknown here (the client is challenged again).
   */
  authorize?: (user: string, password: string, repo: string) => Access | null;
  /**
   * Serve HTTPS instead of plain http, with the sandbox CA's leaf certificate (the one the
   * sandbox Kubernetes API server uses: SAN IP:127.0.0.1, DNS:localhost). The CA is `caPem`.
   */
  tls?: boolean;
}

export interface GitRequestRecord {
  method: string;
  path: string;
  service: string | null;
  status: number;
  user: string | null;
  /** Request `Content-Encoding` (e.g. "gzip"), when the client sent one. */
  contentEncoding?: string;
  /** What git http-backend wrote to stderr, when it wrote anything. */
  stderr?: string;
  /**
   * A push's report-status as git receive-pack sent it, once the answer has been read:
   * `unpack ok`, then one line per ref, `ok refs/heads/main` or `ng refs/heads/main <reason>`.
   */
  pushReport?: string[];
}

export interface CreateRepoOptions {
  files?: Record<string, string>;
  branch?: string;
  message?: string;
}

export interface LogEntry {
  sha: string;
  message: string;
  author: string;
}

/**
 * A fault to inject, for failure tests. `phase`: the ref advertisement (GET info/refs), a fetch
 * (POST git-upload-pack) or a push (POST git-receive-pack). `after: true` lets git do the work
 * first and then answers with the error (a push that landed although the client saw a failure).
 * `body` is the text of that answer (default "injected fault"): with `status: 200` on the
 * advertisement, a server that does not speak git (an HTML page, a proxy, a hostile server).
 */
export interface GitFault {
  phase: "advertise" | "upload" | "receive" | "any";
  status?: number;
  body?: string;
  delayMs?: number;
  after?: boolean;
  times?: number;
}

/** A request held at the server by `holdNext`, before git sees it. */
export interface GitHold {
  /** Resolves once a matching request has arrived and is held. */
  arrived: Promise<GitRequestRecord>;
  /** Lets the held request go on to git (a hold released before any arrival holds nothing). */
  release(): void;
}

export interface GitServer {
  /** http://127.0.0.1:<port>, or https:// with `tls: true` */
  url: string;
  /** With `tls: true`: PEM of the CA that signed the server certificate (for git.caFile). */
  caPem?: string;
  root: string;
  repoUrl(name: string): string;
  createRepo(name: string, opts?: CreateRepoOptions): Promise<void>;
  readFile(name: string, branch: string, path: string): Promise<string | null>;
  log(name: string, branch: string): Promise<LogEntry[]>;
  headSha(name: string, branch: string): Promise<string | null>;
  requests: GitRequestRecord[];
  pushCount(): number;
  /** Injects a fault into the next matching requests (default once). */
  failNext(fault: GitFault): void;
  /**
   * Holds the next request of `phase` (e.g. "receive": a push) until `release()` or close(), so a
   * test can let another request overtake it, e.g. to make two pushes race for certain.
   */
  holdNext(phase: GitFault["phase"]): GitHold;
  close(): Promise<void>;
}

const REALM = "fluxfleet-sandbox";
const MAX_CGI_HEADER_BYTES = 64 * 1024;
const SERVICES = new Set(["git-upload-pack", "git-receive-pack"]);

export type Access = "write" | "read";

interface Principal {
  user: string;
  access: Access;
}

interface Route {
  /** Repo directory relative to the root, always ending in ".git". */
  repo: string;
  pathInfo: string;
  service: string | null;
}

// ---------------------------------------------------------------------------
// Running git (./system_git.ts)

let backendPath: Promise<string> | undefined;

/** git-http-backend lives in the exec path, which differs between distros. */
function httpBackendPath(): Promise<string> {
  backendPath ??= mustGit(["--exec-path"]).then((p) => join(p.trim(), "git-http-backend"));
  return backendPath;
}

// ---------------------------------------------------------------------------
// Names and paths

/** Accepts "fleet" or "fleet.git" (optionally nested, "team/fleet"). */
function normalizeRepoName(name: string): string {
  const withSuffix = name.endsWith(".git") ? name : `${name}.git`;
  const segments = withSuffix.split("/");
  if (!segments.every(isSafeSegment)) throw new Error(`invalid repo name: ${name}`);
  return withSuffix;
}

function isSafeSegment(segment: string): boolean {
  return segment !== "" && segment !== "." && segment !== ".." &&
    !/[\\/\0]/.test(segment);
}

function isInside(root: string, candidate: string): boolean {
  return candidate.startsWith(root.endsWith(sep) ? root : root + sep);
}

async function isBareRepo(dir: string): Promise<boolean> {
  try {
    return (await stat(join(dir, "HEAD"))).isFile();
  } catch {
    return false;
  }
}

/** Maps a URL onto repo + PATH_INFO; "forbidden" for anything that could leave the root. */
function parseRoute(url: URL): Route | "forbidden" | "not-found" {
  let segments: string[];
  try {
    segments = url.pathname.split("/").slice(1).map((s) => decodeURIComponent(s));
  } catch {
    return "forbidden";
  }
  // "." / ".." / encoded separators could walk out of the root; "" (e.g. "/") just names nothing.
  if (segments.some((s) => s !== "" && !isSafeSegment(s))) return "forbidden";
  if (segments.some((s) => s === "")) return "not-found";
  const gitIdx = segments.findIndex((s) => s.endsWith(".git"));
  if (gitIdx < 0 || gitIdx === segments.length - 1) return "not-found";
  const repo = segments.slice(0, gitIdx + 1).join("/");
  const rest = segments.slice(gitIdx + 1).join("/");
  return { repo, pathInfo: `/${repo}/${rest}`, service: serviceOf(rest, url) };
}

function serviceOf(rest: string, url: URL): string | null {
  if (rest === "info/refs") return url.searchParams.get("service");
  return SERVICES.has(rest) ? rest : null;
}

// ---------------------------------------------------------------------------
// Auth

function parseBasic(header: string | null): { user: string; password: string } | null {
  const m = header ? /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header) : null;
  if (!m) return null;
  let decoded: string;
  try {
    decoded = new TextDecoder().decode(Uint8Array.from(atob(m[1]), (c) => c.charCodeAt(0)));
  } catch {
    return null;
  }
  const colon = decoded.indexOf(":");
  if (colon < 0) return null;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

function authenticate(
  header: string | null,
  users: Record<string, string>,
  readOnly: Record<string, string>,
): Principal | null {
  const creds = parseBasic(header);
  if (!creds) return null;
  // Object.hasOwn: a user named "constructor" must not match Object.prototype.
  if (Object.hasOwn(users, creds.user) && users[creds.user] === creds.password) {
    return { user: creds.user, access: "write" };
  }
  if (Object.hasOwn(readOnly, creds.user) && readOnly[creds.user] === creds.password) {
    return { user: creds.user, access: "read" };
  }
  return null;
}

function textResponse(status: number, body: string, headers: HeadersInit = {}): Response {
  return new Response(body + "\n", {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", ...headers },
  });
}

// ---------------------------------------------------------------------------
// CGI

interface CgiHead {
  status: number;
  headers: Headers;
  rest: Uint8Array;
}

function indexOfHeaderEnd(buf: Uint8Array): { at: number; len: number } | null {
  for (let i = 0; i < buf.length - 1; i++) {
    if (buf[i] === 10 && buf[i + 1] === 10) return { at: i, len: 2 };
    if (
      i < buf.length - 3 && buf[i] === 13 && buf[i + 1] === 10 && buf[i + 2] === 13 &&
      buf[i + 3] === 10
    ) return { at: i, len: 4 };
  }
  return null;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function parseCgiHeaderBlock(text: string): { status: number; headers: Headers } {
  const headers = new Headers();
  let status = 200;
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (name.toLowerCase() === "status") status = Number.parseInt(value, 10) || 500;
    else headers.append(name, value);
  }
  return { status, headers };
}

/** Reads stdout until the blank line that ends the CGI headers. */
async function readCgiHead(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<CgiHead> {
  let buf: Uint8Array = new Uint8Array(0);
  while (buf.length <= MAX_CGI_HEADER_BYTES) {
    const end = indexOfHeaderEnd(buf);
    if (end) {
      const head = parseCgiHeaderBlock(new TextDecoder().decode(buf.subarray(0, end.at)));
      return { ...head, rest: buf.slice(end.at + end.len) };
    }
    const { done, value } = await reader.read();
    if (done) throw new Error("git http-backend ended before sending headers");
    buf = concat(buf, value);
  }
  throw new Error("git http-backend sent oversized headers");
}

/** Streams the rest of stdout as the response body; cancelling kills the child. */
function bodyStream(
  head: CgiHead,
  reader: ReadableStreamDefaultReader<Uint8Array>,
  child: Deno.ChildProcess,
): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(controller) {
      if (head.rest.length > 0) controller.enqueue(head.rest);
    },
    async pull(controller) {
      const { done, value } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    async cancel() {
      // Client went away: stop the backend instead of letting it block on a full pipe.
      killQuietly(child);
      await reader.cancel().catch(() => {});
    },
  });
}

function killQuietly(child: Deno.ChildProcess): void {
  try {
    child.kill("SIGKILL");
  } catch {
    // Already exited.
  }
}

/** The request body as the CGI will see it, plus the CONTENT_LENGTH to announce. */
interface CgiInput {
  body: ReadableStream<Uint8Array> | Uint8Array<ArrayBuffer> | null;
  contentLength: string | null;
}

/**
 * Inflates gzip bodies up front: git only gzips upload-pack requests, which
 * http-backend buffers whole anyway, and corrupt gzip then becomes a clean 400
 * instead of an empty stdin. Other bodies (pushes can be large) stay streamed.
 */
async function cgiInput(req: Request): Promise<CgiInput | Response> {
  const encoding = (req.headers.get("content-encoding") ?? "").toLowerCase();
  if (encoding === "" || !req.body) {
    return { body: req.body, contentLength: req.headers.get("content-length") };
  }
  if (encoding !== "gzip" && encoding !== "x-gzip") {
    return textResponse(415, `unsupported content-encoding: ${encoding}`);
  }
  try {
    const inflated = req.body.pipeThrough(new DecompressionStream("gzip"));
    const bytes = new Uint8Array(await new Response(inflated).arrayBuffer());
    return { body: bytes, contentLength: String(bytes.length) };
  } catch {
    return textResponse(400, "request body is not valid gzip");
  }
}

function cgiEnv(
  root: string,
  req: Request,
  url: URL,
  route: Route,
  principal: Principal,
  input: CgiInput,
): Record<string, string> {
  const env = isolatedGitEnv({
    env: {
      GIT_PROJECT_ROOT: root,
      GIT_HTTP_EXPORT_ALL: "1",
      GATEWAY_INTERFACE: "CGI/1.1",
      PATH_INFO: route.pathInfo,
      QUERY_STRING: url.search.replace(/^\?/, ""),
      REQUEST_METHOD: req.method,
      REMOTE_USER: principal.user,
      REMOTE_ADDR: "127.0.0.1",
    },
  });
  const contentType = req.headers.get("content-type");
  if (contentType) env.CONTENT_TYPE = contentType;
  // Chunked uploads have no length; http-backend then reads stdin to EOF.
  if (input.contentLength) env.CONTENT_LENGTH = input.contentLength;
  const protocol = req.headers.get("git-protocol");
  if (protocol) env.GIT_PROTOCOL = protocol;
  return env;
}

/** Copies the request body into the CGI's stdin. */
async function pumpBody(input: CgiInput, stdin: WritableStream<Uint8Array>): Promise<void> {
  const body = input.body instanceof Uint8Array ? new Blob([input.body]).stream() : input.body;
  if (!body) {
    await stdin.close();
    return;
  }
  // A backend that exits early (bad request) closes the pipe: not our error to report.
  await body.pipeTo(stdin).catch(() => {});
}

// ---------------------------------------------------------------------------
// Push reports

/** A push's answer is a few hundred bytes; more is not read into the report. */
const MAX_PUSH_REPORT_BYTES = 64 * 1024;

/** The payloads of the pkt-lines in `bytes` (flush packets skipped), up to a malformed one. */
function pktPayloads(bytes: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let at = 0;
  while (at + 4 <= bytes.length) {
    const hex = new TextDecoder().decode(bytes.subarray(at, at + 4));
    if (!/^[0-9a-f]{4}$/i.test(hex)) break;
    const len = Number.parseInt(hex, 16);
    if ((len > 0 && len < 4) || at + len > bytes.length) break;
    if (len > 0) out.push(bytes.subarray(at + 4, at + len));
    at += Math.max(len, 4);
  }
  return out;
}

/**
 * receive-pack's report-status from its answer: plain pkt-lines (`unpack ok`, `ok <ref>`,
 * `ng <ref> <reason>`), or the same carried in side-band channel 1 when the client asked for it.
 */
export function parsePushReport(answer: Uint8Array): string[] {
  let lines = pktPayloads(answer);
  const text = (b: Uint8Array) => new TextDecoder().decode(b).replace(/\n$/, "");
  if (lines.length > 0 && !text(lines[0]).startsWith("unpack ")) {
    const band1 = lines.filter((l) => l[0] === 1).map((l) => l.subarray(1));
    const joined = new Uint8Array(band1.reduce((n, l) => n + l.length, 0));
    let at = 0;
    for (const l of band1) {
      joined.set(l, at);
      at += l.length;
    }
    lines = pktPayloads(joined);
  }
  return lines.map(text).filter((l) => /^(unpack |ok |ng )/.test(l));
}

/** The body passed through unchanged; its first bytes are kept for `done` once it has ended. */
function recordingBody(
  body: ReadableStream<Uint8Array>,
  done: (firstBytes: Uint8Array) => void,
): ReadableStream<Uint8Array> {
  const kept: Uint8Array[] = [];
  let size = 0;
  return body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        if (size < MAX_PUSH_REPORT_BYTES) {
          kept.push(chunk.subarray(0, MAX_PUSH_REPORT_BYTES - size));
          size += kept[kept.length - 1].length;
        }
        controller.enqueue(chunk);
      },
      flush() {
        const all = new Uint8Array(size);
        let at = 0;
        for (const k of kept) {
          all.set(k, at);
          at += k.length;
        }
        done(all);
      },
    }),
  );
}

// ---------------------------------------------------------------------------
// Server

class SandboxGitServer implements GitServer {
  readonly requests: GitRequestRecord[] = [];
  readonly #faults: GitFault[] = [];
  readonly #holds: { phase: GitFault["phase"]; held: (r: GitRequestRecord) => Promise<void> }[] =
    [];
  readonly #releaseAll = new Set<() => void>();
  url = "";
  caPem: string | undefined;
  readonly #children = new Set<Deno.ChildProcess>();
  readonly #pending = new Set<Promise<unknown>>();
  #server: Deno.HttpServer<Deno.NetAddr> | undefined;
  #closing: Promise<void> | undefined;

  constructor(
    readonly root: string,
    private readonly ownsRoot: boolean,
    private readonly users: Record<string, string>,
    private readonly readOnlyUsers: Record<string, string>,
    private readonly authorizeHook?: GitServerOptions["authorize"],
  ) {}

  listen(tls?: SandboxTls): void {
    const where = { hostname: "127.0.0.1", port: 0, onListen: () => {} };
    this.#server = Deno.serve(
      tls ? { ...where, cert: tls.certPem, key: tls.keyPem } : where,
      (req) => this.#handle(req),
    );
    this.url = `${tls ? "https" : "http"}://127.0.0.1:${this.#server.addr.port}`;
    this.caPem = tls?.caPem;
  }

  repoUrl(name: string): string {
    return `${this.url}/${normalizeRepoName(name)}`;
  }

  pushCount(): number {
    return this.requests.filter((r) =>
      r.method === "POST" && r.service === "git-receive-pack" && r.status === 200
    ).length;
  }

  failNext(fault: GitFault): void {
    this.#faults.push({ ...fault, times: fault.times ?? 1 });
  }

  holdNext(phase: GitFault["phase"]): GitHold {
    const arrival = Promise.withResolvers<GitRequestRecord>();
    const released = Promise.withResolvers<void>();
    const release = () => released.resolve();
    const hold = {
      phase,
      held: (r: GitRequestRecord) => {
        arrival.resolve(r);
        return released.promise;
      },
    };
    this.#holds.push(hold);
    this.#releaseAll.add(release);
    return {
      arrived: arrival.promise,
      release: () => {
        const i = this.#holds.indexOf(hold);
        if (i >= 0) this.#holds.splice(i, 1);
        this.#releaseAll.delete(release);
        release();
      },
    };
  }

  #phase(req: Request, url: URL): GitFault["phase"] {
    const service = url.searchParams.get("service") ?? url.pathname.split("/").pop();
    return req.method === "GET"
      ? "advertise"
      : service === "git-receive-pack"
      ? "receive"
      : "upload";
  }

  #takeFault(req: Request, url: URL): GitFault | undefined {
    const phase = this.#phase(req, url);
    const i = this.#faults.findIndex((f) => f.phase === "any" || f.phase === phase);
    if (i < 0) return undefined;
    const fault = this.#faults[i];
    if (--fault.times! <= 0) this.#faults.splice(i, 1);
    return fault;
  }

  async createRepo(name: string, opts: CreateRepoOptions = {}): Promise<void> {
    const dir = this.#repoDir(name);
    if (await isBareRepo(dir)) throw new Error(`repo already exists: ${name}`);
    const branch = opts.branch ?? "main";
    await mkdir(dirname(dir), { recursive: true });
    await initBareRepository(dir, branch, {
      receivePack: true,
      files: opts.files,
      message: opts.message,
    });
  }

  readFile(name: string, branch: string, path: string): Promise<string | null> {
    return readBlob(this.#repoDir(name), branch, path);
  }

  headSha(name: string, branch: string): Promise<string | null> {
    return branchHead(this.#repoDir(name), branch);
  }

  async log(name: string, branch: string): Promise<LogEntry[]> {
    if (!(await this.headSha(name, branch))) return [];
    // NUL between fields, RS between commits: messages may hold newlines.
    const out = await mustGit([
      "--git-dir",
      this.#repoDir(name),
      "log",
      "--format=%H%x00%an <%ae>%x00%B%x1e",
      `refs/heads/${branch}`,
      "--",
    ]);
    return out.split("\x1e").map((r) => r.replace(/^\n/, "")).filter((r) => r !== "").map(
      (record) => {
        const [sha, author, message] = record.split("\x00");
        return { sha, author, message: message.trimEnd() };
      },
    );
  }

  close(): Promise<void> {
    // Idempotent: a test's finally may close a server the test already closed.
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    // Held requests go on, so that the in-flight responses can finish.
    for (const release of this.#releaseAll) release();
    this.#releaseAll.clear();
    this.#holds.length = 0;
    // shutdown() lets in-flight responses finish; whatever child is still
    // running afterwards has nobody left to talk to.
    await this.#server?.shutdown();
    for (const child of this.#children) killQuietly(child);
    await Promise.allSettled([...this.#pending]);
    if (this.ownsRoot) await rm(this.root, { recursive: true, force: true });
  }

  #repoDir(name: string): string {
    return join(this.root, normalizeRepoName(name));
  }

  async #handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const record: GitRequestRecord = {
      method: req.method,
      path: url.pathname,
      service: null,
      status: 0,
      user: null,
    };
    const encoding = req.headers.get("content-encoding");
    if (encoding) record.contentEncoding = encoding;
    this.requests.push(record);
    const phase = this.#phase(req, url);
    const hold = this.#holds.findIndex((h) => h.phase === "any" || h.phase === phase);
    if (hold >= 0) await this.#holds.splice(hold, 1)[0].held(record);
    const fault = this.#takeFault(req, url);
    if (fault?.delayMs) await new Promise((r) => setTimeout(r, fault.delayMs));
    if (fault?.status && !fault.after) {
      await req.body?.cancel();
      record.status = fault.status;
      return textResponse(fault.status, fault.body ?? "injected fault");
    }
    let res = await this.#route(req, url, record).catch((err: unknown) =>
      textResponse(500, `internal error: ${err instanceof Error ? err.message : String(err)}`)
    );
    if (fault?.status && fault.after) {
      await res.arrayBuffer(); // let git finish its work, then answer with the fault
      res = textResponse(fault.status, fault.body ?? "injected fault");
    }
    record.status = res.status;
    return res;
  }

  async #route(req: Request, url: URL, record: GitRequestRecord): Promise<Response> {
    const route = parseRoute(url);
    if (typeof route === "object") record.service = route.service;
    const principal = authenticate(
      req.headers.get("authorization"),
      this.users,
      this.readOnlyUsers,
    ) ?? this.#authorizeByHook(req.headers.get("authorization"), route);
    if (!principal) {
      // isomorphic-git only calls onAuth after a 401, so every request must be challenged.
      return textResponse(401, "authentication required", {
        "www-authenticate": `Basic realm="${REALM}"`,
      });
    }
    record.user = principal.user;
    if (req.method !== "GET" && req.method !== "POST") {
      return textResponse(405, "method not allowed", { allow: "GET, POST" });
    }
    if (route === "forbidden") return textResponse(403, "forbidden path");
    if (route === "not-found") return textResponse(404, "not found");
    const dir = resolve(this.root, route.repo);
    if (!isInside(this.root, dir) || !(await isBareRepo(dir))) {
      return textResponse(404, "repository not found");
    }
    // A symlinked repo could still point elsewhere: compare the real location too.
    if (!isInside(this.root, await realpath(dir))) return textResponse(403, "forbidden path");
    if (route.service === "git-receive-pack" && principal.access !== "write") {
      return textResponse(403, "read-only user may not push");
    }
    return await this.#runCgi(req, url, route, principal, record);
  }

  /** Credentials the static maps do not know, asked of the `authorize` option per repository. */
  #authorizeByHook(header: string | null, route: Route | string): Principal | null {
    if (!this.authorizeHook || typeof route !== "object") return null;
    const creds = parseBasic(header);
    if (!creds) return null;
    const access = this.authorizeHook(creds.user, creds.password, route.repo);
    return access === null ? null : { user: creds.user, access };
  }

  async #runCgi(
    req: Request,
    url: URL,
    route: Route,
    principal: Principal,
    record: GitRequestRecord,
  ): Promise<Response> {
    const input = await cgiInput(req);
    if (input instanceof Response) return input;
    const child = new Deno.Command(await httpBackendPath(), {
      env: cgiEnv(this.root, req, url, route, principal, input),
      clearEnv: true,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#track(child, record, pumpBody(input, child.stdin));
    const reader = child.stdout.getReader();
    let head: CgiHead;
    try {
      head = await readCgiHead(reader);
    } catch (err) {
      killQuietly(child);
      await reader.cancel().catch(() => {});
      throw err;
    }
    let body = bodyStream(head, reader, child);
    if (req.method === "POST" && route.service === "git-receive-pack") {
      body = recordingBody(body, (bytes) => record.pushReport = parsePushReport(bytes));
    }
    return new Response(body, { status: head.status, headers: head.headers });
  }

  /** Remembers everything a child does so close() can await it (test sanitizers). */
  #track(child: Deno.ChildProcess, record: GitRequestRecord, pump: Promise<void>): void {
    this.#children.add(child);
    const stderr = new Response(child.stderr).text().then((text) => {
      if (text.trim()) record.stderr = text.trim();
    });
    const done = Promise.allSettled([child.status, pump, stderr]).then(() => {
      this.#children.delete(child);
      this.#pending.delete(done);
    });
    this.#pending.add(done);
  }
}

/** Starts the server on 127.0.0.1 with a kernel-chosen port (HTTPS with `tls: true`). */
export async function startGitServer(opts: GitServerOptions = {}): Promise<GitServer> {
  const ownsRoot = opts.root === undefined;
  const rootDir = opts.root ?? await mkdtemp(join(tmpdir(), "fluxfleet-git-"));
  await mkdir(rootDir, { recursive: true });
  // Real path so the containment checks are not fooled by a symlinked temp dir.
  const root = await realpath(rootDir);
  await httpBackendPath();
  const tls = opts.tls ? await sandboxTls() : undefined;
  const server = new SandboxGitServer(
    root,
    ownsRoot,
    { ...opts.users },
    { ...opts.readOnlyUsers },
    opts.authorize,
  );
  server.listen(tls);
  return server;
}
