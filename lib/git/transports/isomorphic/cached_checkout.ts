/**
 * A checkout only read (a run that only plans), through the commit cache (lib/git/commit_cache.ts):
 * the ref advertisement first (the request a fetch starts with anyway); when the branch is at a
 * commit an earlier plan read, its files come from the cache and nothing more is asked of the
 * server, nor is isomorphic-git loaded. Otherwise the fetch goes on with that same advertisement
 * (no second request) and what the clusters read is kept for the next plan.
 *
 * A path the cache does not have (a cluster added since) makes the checkout fetch the commit after
 * all, once; if the branch moved in between, the read fails rather than mix two commits.
 */
import type { GitHttpRequest, GitHttpResponse, HttpClient } from "isomorphic-git";
import { readCommitFiles } from "../../checkout.ts";
import { type CommitFiles, loadCommitFiles, saveCommitFiles } from "../../commit_cache.ts";
import { GitError, type RepoCheckout } from "../../types.ts";
import { advertisedOid, collect, once } from "./advertised_head.ts";
import { describeGitError, redactUrl } from "./errors.ts";
import { debug } from "../../../util/debug.ts";
import type { GitRemote } from "./fetch.ts";

/** An answer read whole, to be given again (the advertisement, to the fetch that follows). */
export interface HeldAnswer {
  response: Omit<GitHttpResponse, "body">;
  body: Uint8Array;
}

const SERVICE = "git-upload-pack";

function advertisementUrl(remote: GitRemote): string {
  return `${remote.url}/info/refs?service=${SERVICE}`;
}

/** The upload-pack ref advertisement, as isomorphic-git asks for it (its headers, protocol v1). */
async function readAdvertisement(remote: GitRemote): Promise<HeldAnswer> {
  const res = await remote.http.request({
    method: "GET",
    url: advertisementUrl(remote),
    headers: { ...remote.headers },
  });
  const { body, ...response } = res;
  // Bounded by the client (the git-pack limit), as isomorphic-git's own read of it.
  return { response, body: body ? await collect(body) : new Uint8Array() };
}

/** `http` whose first advertisement request is answered with `held` (already read). */
export function replaying(http: HttpClient, held: HeldAnswer, url: string): HttpClient {
  let given = false;
  return {
    request(req: GitHttpRequest): Promise<GitHttpResponse> {
      if (!given && (req.method ?? "GET").toUpperCase() === "GET" && req.url === url) {
        given = true;
        return Promise.resolve({ ...held.response, body: once(held.body) });
      }
      return http.request(req);
    },
  };
}

/** The branch's commit in a smart v1 advertisement (200, its content type); else undefined. */
function advertisedHead(held: HeldAnswer, branchRef: string): string | undefined {
  const type = held.response.headers?.["content-type"];
  if (held.response.statusCode !== 200 || type !== `application/x-${SERVICE}-advertisement`) {
    return undefined;
  }
  return advertisedOid(held.body, branchRef);
}

/** One attempt of checkoutRepo for a checkout only read, through the cache in `cacheDir`. */
export async function cachedCheckoutOnce(
  remote: GitRemote,
  branch: string,
  dir: string,
  cacheDir: string,
  fetchOnce: (advertisement?: HttpClient) => Promise<RepoCheckout>,
): Promise<RepoCheckout> {
  let held: HeldAnswer;
  try {
    held = await readAdvertisement(remote);
  } catch (e) {
    throw describeGitError(e, remote.displayUrl, remote.timeoutMs);
  }
  const head = advertisedHead(held, `refs/heads/${branch}`);
  const key = remote.displayUrl;
  const cached = head ? await loadCommitFiles(cacheDir, key, branch, head) : undefined;
  const where = `git: ${redactUrl(key)} ${branch}`;
  if (head && cached) {
    debug(`${where} at ${head}: files from the commit cache, not fetched`);
    return fromCache(remote, branch, dir, head, cached, () => fetchOnce().then(keep));
  }
  if (head) debug(`${where} at ${head}: not in the commit cache, fetched`);
  // Not seen before: the fetch goes on with the advertisement just read (anything else it gave,
  // an error status too, is for the fetch to report as it always has).
  return keep(await fetchOnce(replaying(remote.http, held, advertisementUrl(remote))));

  /** A fetched checkout whose reads are kept in the cache once its clusters have read. */
  function keep(co: RepoCheckout): RepoCheckout {
    if (!co.head || !co.branchExists) return co;
    const read: CommitFiles = new Map();
    const commit = co.head;
    co.reader = {
      async read(paths) {
        const out = await readCommitFiles(co, paths);
        for (const p of paths) read.set(p, out[p]);
        return out;
      },
      forget: () => saveCommitFiles(cacheDir, key, branch, commit, read),
    };
    return co;
  }
}

function fromCache(
  remote: GitRemote,
  branch: string,
  dir: string,
  head: string,
  files: CommitFiles,
  fetchNow: () => Promise<RepoCheckout>,
): RepoCheckout {
  let fetched: Promise<RepoCheckout> | undefined;
  const fetchCommit = () => {
    fetched ??= fetchNow().then((co) => {
      if (co.head !== head) {
        throw new GitError(
          `${remote.displayUrl}: branch ${branch} moved from ${head.slice(0, 12)} to ${
            co.head?.slice(0, 12) ?? "nothing"
          } while it was read; run the plan again`,
          false,
        );
      }
      return co;
    });
    return fetched;
  };
  return {
    dir,
    url: remote.displayUrl,
    branch,
    branchExists: true,
    head,
    worktree: false,
    reader: {
      async read(paths) {
        if (paths.every((p) => files.has(p))) {
          return Object.fromEntries(paths.map((p) => [p, files.get(p)!]));
        }
        const co = await fetchCommit();
        return await co.reader!.read(paths);
      },
      async forget() {
        if (fetched) await (await fetched.catch(() => undefined))?.reader?.forget();
      },
    },
  };
}
