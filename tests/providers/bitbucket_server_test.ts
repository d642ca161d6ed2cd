/** The provider contract against the Bitbucket Server sandbox (its repositories on the git server). */
import { provider } from "../../lib/providers/bitbucket-server/mod.ts";
import { bitbucketServerProvider } from "../../lib/providers/bitbucket-server/mod.ts";
import type { BitbucketSettings } from "../../lib/providers/bitbucket-server/settings.ts";
import type { Permission, ProviderSession } from "../../lib/providers/types.ts";
import { startBitbucketSandbox } from "../../sandbox/bitbucket/server.ts";
import { startGitServer } from "../../sandbox/git/http_server.ts";
import { type ContractSandbox, providerContract } from "./contract.ts";
import { bitbucketSettings } from "../helpers/bitbucket.ts";

const ADMIN = { token: "contract-admin-token-61d0e2", admin: true };
const USER = { token: "contract-user-token-0c9a47", admin: false };
const WORDS: Record<string, Permission> = {
  REPO_READ: "read",
  REPO_WRITE: "write",
  REPO_ADMIN: "admin",
};

async function start(): Promise<ContractSandbox> {
  const git = await startGitServer({ users: { admin: ADMIN.token } });
  const bb = await startBitbucketSandbox({
    users: { admin: ADMIN, user: USER },
    projects: ["FLEET"],
    groups: ["devs"],
    pageSize: 2,
    gitRoot: git.root,
    httpCloneBase: git.url,
    sshCloneBase: "ssh://git@127.0.0.1:7999",
  });
  const sessions: ProviderSession[] = [];
  const open = (settings: Partial<BitbucketSettings>, token = ADMIN.token) => {
    const s = provider.open(
      bitbucketSettings(bb.url, { project: "FLEET", slug: "fleet", ...settings }),
      { token, allowInsecureHttp: true, attempts: 1 },
    );
    sessions.push(s);
    return s;
  };
  return {
    module: provider,
    can: { createRepository: true, grantGroups: true, registerKeys: true },
    session: (name, opts = {}) => open({ slug: name, ...opts }),
    async existing(name) {
      const client = bitbucketServerProvider({
        baseUrl: bb.url,
        token: ADMIN.token,
        project: "FLEET",
        repository: name,
        allowInsecureHttp: true,
      });
      try {
        await client.createRepository({ private: true });
      } finally {
        client.close();
      }
    },
    holds(name) {
      const repo = bb.repo("FLEET", name);
      if (!repo) return undefined;
      return {
        keys: repo.keys.map((k) => ({
          key: k.key.split(" ").slice(0, 2).join(" "),
          permission: WORDS[k.permission] as "read" | "write",
        })),
        groups: Object.fromEntries(
          Object.entries(repo.groups).map(([g, p]) => [g, WORDS[p as string]]),
        ),
      };
    },
    mutations: () => bb.mutatingRequests().length,
    group: "devs",
    failures: [
      {
        status: 401,
        run: () => open({}, "contract-wrong-token-77e1a9").observe(),
        words: /the Bitbucket token was rejected \(401\)/,
        secret: "contract-wrong-token-77e1a9",
      },
      {
        status: 403,
        run: () => open({}, USER.token).observe(),
        words: /the token for user user may not administer project FLEET \(403\)/,
        secret: USER.token,
      },
      {
        status: 404,
        run: () => open({ project: "NOPE" }).observe(),
        words: /project NOPE was not found on 127\.0\.0\.1:\d+ \(404\)/,
        secret: ADMIN.token,
      },
    ],
    async close() {
      for (const s of sessions) s.close();
      await bb.close();
      await git.close();
    },
  };
}

providerContract("bitbucket-server", start);
