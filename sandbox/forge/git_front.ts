/**
 * Git over HTTPS for a forge sandbox, on the same host as its API as on GitHub Enterprise and
 * Gitea (https://HOST/<owner>/<repo>.git): the site decides who may fetch or push with its own
 * tokens and permissions, then the request goes on to the real smart-HTTP server of
 * sandbox/git/http_server.ts (git http-backend) over the same repositories, under a credential
 * of the sandbox's own. Nothing of the git protocol is imitated.
 */
import { type GitRequestRecord, type GitServer, startGitServer } from "../git/http_server.ts";
import { pathSegments } from "./http.ts";

export interface GitRoute {
  owner: string;
  /** Without ".git". */
  name: string;
  /** "info/refs", "git-upload-pack" or "git-receive-pack". */
  rest: string;
  /** A push (receive-pack), or its ref advertisement. */
  write: boolean;
}

const SERVICES = new Set(["info/refs", "git-upload-pack", "git-receive-pack"]);

/** The smart-HTTP request this URL is, if it is one: /<owner>/<name>.git/<service path>. */
export function gitRoute(url: URL): GitRoute | undefined {
  const segs = pathSegments(url.pathname);
  if (!segs || segs.length < 3 || !segs[1].endsWith(".git") || segs[1].length <= 4) {
    return undefined;
  }
  const rest = segs.slice(2).join("/");
  if (!SERVICES.has(rest)) return undefined;
  const write = rest === "git-receive-pack" ||
    (rest === "info/refs" && url.searchParams.get("service") === "git-receive-pack");
  return { owner: segs[0], name: segs[1].slice(0, -4), rest, write };
}

/** user:password of a Basic authorization header, when it is one. */
export function basicCredentials(
  header: string | null,
): { user: string; password: string } | undefined {
  const m = header ? /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header) : null;
  if (!m) return undefined;
  let text: string;
  try {
    text = new TextDecoder().decode(Uint8Array.from(atob(m[1]), (c) => c.charCodeAt(0)));
  } catch {
    return undefined;
  }
  const colon = text.indexOf(":");
  return colon < 0 ? undefined : { user: text.slice(0, colon), password: text.slice(colon + 1) };
}

const FORWARDED_HEADERS = ["content-type", "content-encoding", "git-protocol", "accept"];
const INTERNAL_USER = "fluxfleet-forge";

export class GitFront {
  private constructor(private readonly git: GitServer, private readonly secret: string) {}

  static async start(root: string): Promise<GitFront> {
    const secret = crypto.randomUUID();
    const git = await startGitServer({ root, users: { [INTERNAL_USER]: secret } });
    return new GitFront(git, secret);
  }

  /** What git http-backend was asked, with its push reports (for tests). */
  get requests(): GitRequestRecord[] {
    return this.git.requests;
  }

  /** Passes an allowed request on to git, for the repository at <owner>/<name>.git on disk. */
  forward(req: Request, url: URL, route: GitRoute, owner: string, name: string) {
    return this.forwardTo(req, url, [owner, `${name}.git`], route.rest);
  }

  /**
   * Passes an allowed request on to git, for the repository at `repo` (its directory's path
   * segments under the root, the last one ending in ".git"; GitLab nests groups), service `rest`.
   */
  async forwardTo(req: Request, url: URL, repo: string[], rest: string): Promise<Response> {
    const headers = new Headers({
      authorization: `Basic ${btoa(`${INTERNAL_USER}:${this.secret}`)}`,
    });
    for (const h of FORWARDED_HEADERS) {
      const v = req.headers.get(h);
      if (v !== null) headers.set(h, v);
    }
    const target = `${this.git.url}/${repo.map(encodeURIComponent).join("/")}/${rest}${url.search}`;
    const upstream = await fetch(target, {
      method: req.method,
      headers,
      body: req.method === "POST" ? req.body : undefined,
      redirect: "manual",
    });
    return new Response(upstream.body, { status: upstream.status, headers: upstream.headers });
  }

  close(): Promise<void> {
    return this.git.close();
  }
}

/** A git client's 401: a Basic challenge, so that git asks its credential helper. */
export function gitChallenge(realm: string, message: string): Response {
  return new Response(`${message}\n`, {
    status: 401,
    headers: { "www-authenticate": `Basic realm="${realm}"`, "content-type": "text/plain" },
  });
}

export function gitRefusal(status: 403 | 404 | 500, message: string): Response {
  return new Response(`${message}\n`, { status, headers: { "content-type": "text/plain" } });
}
