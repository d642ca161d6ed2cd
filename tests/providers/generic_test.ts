/**
 * The provider contract against the generic provider: a git server and nothing else. It has no
 * API, so it creates, grants and registers nothing (the contract checks it plans nothing); its
 * failures are git's, said in words by the git seam (lib/git/remote.ts).
 */
import { provider } from "../../lib/providers/generic/mod.ts";
import { openRemote, type RemoteAccess } from "../../lib/git/remote.ts";
import { startGitServer } from "../../sandbox/git/http_server.ts";
import { type ContractSandbox, providerContract } from "./contract.ts";

const TOKEN = "contract-git-token-3b7f10";
const READER = "contract-reader-token-9e2d44";
const WRONG = "contract-wrong-git-token-51c3";

async function start(): Promise<ContractSandbox> {
  const git = await startGitServer({ users: { git: TOKEN }, readOnlyUsers: { reader: READER } });
  const dir = await Deno.makeTempDir({ prefix: "fluxfleet-contract-" });
  await git.createRepo("fleet");
  const access = (url: string, username: string, token: string): RemoteAccess => ({
    url,
    credentials: { kind: "token", username, token },
    transport: "builtin",
    allowInsecureHttp: true,
  });
  /** A fetch (or, with `push`, a commit pushed) as a run makes it. */
  async function reach(url: string, username: string, token: string, push = false) {
    const remote = openRemote(access(url, username, token), {
      timeoutMs: 10_000,
      retry: { attempts: 1, initialDelayMs: 1, maxDelayMs: 1 },
    });
    try {
      const co = await remote.checkout("main", await Deno.makeTempDir({ dir }));
      if (push) {
        const change = [{ path: "clusters/c0/flux-system/x.yaml", content: "x: 1\n" }];
        await remote.push(co, change, "test", { name: "t", email: "t@example.com" });
      }
    } finally {
      await remote.close();
    }
  }
  return {
    module: provider,
    can: { createRepository: false, grantGroups: false, registerKeys: false },
    session: (name) =>
      provider.open({ url: git.repoUrl(name) }, { token: TOKEN, allowInsecureHttp: true }),
    existing: (name) => git.createRepo(name),
    holds: () => ({ keys: [], groups: {} }),
    mutations: () => git.pushCount(),
    group: "devs",
    failures: [
      {
        status: 401,
        run: () => reach(git.repoUrl("fleet"), "git", WRONG),
        words: /git server rejected the credentials for .* \(HTTP 401\)/,
        secret: WRONG,
      },
      {
        status: 403,
        run: () => reach(git.repoUrl("fleet"), "reader", READER, true),
        words: /git server refused access to .* \(HTTP 403\)/,
        secret: READER,
      },
      {
        status: 404,
        run: () => reach(git.repoUrl("missing"), "git", TOKEN),
        words: /repository .* not found \(HTTP 404\)/,
        secret: TOKEN,
      },
    ],
    async close() {
      await git.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

providerContract("generic", start);
