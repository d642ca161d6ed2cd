/** The provider contract against the GitLab sandbox (its repositories on the git server). */
import { provider } from "../../lib/providers/gitlab/mod.ts";
import type { GitLabSettings } from "../../lib/providers/gitlab/settings.ts";
import { permissionOfLevel } from "../../lib/providers/gitlab/settings.ts";
import type { ProviderSession } from "../../lib/providers/types.ts";
import { type ContractSandbox, providerContract } from "./contract.ts";
import { gitlabSettings, GL_ADMIN, GL_DEVELOPER, startGitLabEnv } from "../helpers/gitlab.ts";

async function start(): Promise<ContractSandbox> {
  const env = await startGitLabEnv();
  const { gl } = env;
  const sessions: ProviderSession[] = [];
  const open = (settings: Partial<GitLabSettings> & { project: string }, token = GL_ADMIN) => {
    const s = provider.open(gitlabSettings(gl.url, settings), {
      token,
      allowInsecureHttp: true,
      attempts: 1,
    });
    sessions.push(s);
    return s;
  };
  return {
    module: provider,
    can: { createRepository: true, grantGroups: true, registerKeys: true },
    session: (name, opts = {}) =>
      open({
        project: name,
        ...(opts.groups ? { teams: opts.groups } : {}),
        ...(opts.readWriteKey ? { readWriteKey: true } : {}),
      }),
    async existing(name) {
      const res = await fetch(`${gl.url}/api/v4/projects`, {
        method: "POST",
        headers: { "private-token": GL_ADMIN, "content-type": "application/json" },
        body: JSON.stringify({ name, namespace_id: await groupId("fleet") }),
      });
      if (res.status !== 201) {
        throw new Error(`existing ${name}: ${res.status} ${await res.text()}`);
      }
    },
    holds(name) {
      const p = gl.project(`fleet/${name}`);
      if (!p) return undefined;
      return {
        keys: p.deployKeys.map((k) => ({
          key: k.key.split(" ").slice(0, 2).join(" "),
          permission: k.canPush ? "write" : "read",
        })),
        groups: Object.fromEntries(
          Object.entries(p.sharedWith).map(([g, level]) => [g, permissionOfLevel(level)!]),
        ),
      };
    },
    mutations: () => gl.mutatingRequests().length,
    group: "devs",
    failures: [
      {
        status: 401,
        run: () => open({ project: "fleet" }, "gl-wrong-token-9c1e55").observe(),
        words: /the GitLab token was rejected \(401\)/,
        secret: "gl-wrong-token-9c1e55",
      },
      {
        status: 403,
        run: () => open({ project: "fleet" }, GL_DEVELOPER).observe(),
        words:
          /user bob\) cannot create project fleet\/fleet and add deploy keys to it: it needs the Maintainer role in group fleet \(it has Developer\)/,
        secret: GL_DEVELOPER,
      },
      {
        status: 404,
        run: () => open({ namespace: "nope", project: "fleet" }).observe(),
        words: /group nope was not found on 127\.0\.0\.1:\d+ \(404\)/,
        secret: GL_ADMIN,
      },
    ],
    async close() {
      for (const s of sessions) s.close();
      await env.close();
    },
  };

  async function groupId(path: string): Promise<number> {
    const res = await fetch(`${gl.url}/api/v4/groups/${encodeURIComponent(path)}`, {
      headers: { "private-token": GL_ADMIN },
    });
    return ((await res.json()) as { id: number }).id;
  }
}

providerContract("gitlab", start);
