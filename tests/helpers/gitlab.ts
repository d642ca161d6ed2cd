/**
 * A GitLab sandbox for tests (git served on its own origin beside the API, as GitLab does; deploy
 * keys optionally enforced by the real sshd) and a project's resolved settings, as a manifest
 * gives them.
 */
import { join } from "node:path";
import type { GitLabSettings } from "../../lib/providers/gitlab/settings.ts";
import { forgetTokens } from "../../lib/providers/gitlab/mod.ts";
import { makeTempDir, type TempDir } from "../../sandbox/git/testrepo.ts";
import {
  type GitLabSandbox,
  type GitLabSandboxOptions,
  startGitLabSandbox,
} from "../../sandbox/gitlab/server.ts";
import { type SshdServer, startSshd } from "../../sandbox/ssh/sshd.ts";

/** alice: owner of group fleet; bob: developer there; carol: only read_api. */
export const GL_ADMIN = "gl-provider-alice-token-5e1d0c";
export const GL_DEVELOPER = "gl-provider-bob-token-7a93f2";
export const GL_READ_API = "gl-provider-alice-readapi-c40b18";

export const GL_USERS: GitLabSandboxOptions["users"] = [
  {
    username: "alice",
    tokens: [
      { token: GL_ADMIN, name: "alice-api" },
      { token: GL_READ_API, name: "alice-read-api", scopes: ["read_api"] },
    ],
  },
  { username: "bob", tokens: [{ token: GL_DEVELOPER, name: "bob-api" }] },
];

export const GL_GROUPS: GitLabSandboxOptions["groups"] = [
  { path: "fleet", visibility: "internal", members: { alice: 50, bob: 30 } },
  { path: "fleet/platform", visibility: "internal" },
  { path: "devs", visibility: "private", members: { alice: 30 } },
  { path: "ops", visibility: "private", members: { alice: 30 } },
];

export interface GitLabEnv {
  dir: TempDir;
  gl: GitLabSandbox;
  sshd?: SshdServer;
  close(): Promise<void>;
}

export async function startGitLabEnv(
  opts: { sshd?: boolean; extra?: Partial<GitLabSandboxOptions> } = {},
): Promise<GitLabEnv> {
  // Each test is a run of its own: what a run learnt about tokens is not kept.
  forgetTokens();
  const dir = await makeTempDir("fluxfleet-glp-");
  const started: { sshd?: SshdServer; gl?: GitLabSandbox } = {};
  const close = async () => {
    await started.gl?.close();
    await started.sshd?.stop();
    await dir.remove();
  };
  try {
    const sshd = started.sshd = opts.sshd
      ? await startSshd({ hostKeyTypes: ["ed25519"] })
      : undefined;
    const gl = started.gl = await startGitLabSandbox({
      users: GL_USERS,
      groups: GL_GROUPS,
      gitRoot: sshd?.root ?? join(dir.path, "repos"),
      sshCloneBase: sshd ? `ssh://git@127.0.0.1:${sshd.port}` : "git@127.0.0.1",
      ...(sshd
        ? {
          accessKeys: {
            authorize: (key, o) => sshd.authorize(key, { repos: o.repos }),
            revoke: (key) => sshd.revoke(key),
          },
        }
        : {}),
      ...opts.extra,
    });
    return { dir, gl, sshd, close };
  } catch (e) {
    await close();
    throw e;
  }
}

export function gitlabSettings(
  apiUrl: string,
  over: Partial<GitLabSettings> & { project: string },
): GitLabSettings {
  return {
    apiUrl,
    namespace: "fleet",
    personal: false,
    visibility: "private",
    reconcile: false,
    teams: [],
    tokenAuth: false,
    deployTokenAuth: false,
    readWriteKey: false,
    ...over,
  };
}
