/**
 * GitLab API calls of a no-op plan, per mode: `deno run -A bench/gitlab_calls.ts [clusters]
 * [repos] [runs]` (default 100 10 5). A fleet is bootstrapped once against the GitLab sandbox
 * through the provider sessions (projects created, a group shared, one deploy key or deploy token
 * per cluster); then each no-op plan asks the provider what the core asks during a plan — one
 * session per repository, observed, its repository and every cluster's access planned — and the
 * sandbox counts the requests. Prints calls per plan (median and spread over the runs), per
 * repository and per cluster, and asserts that nothing was planned or changed.
 */
import { join } from "node:path";
import { forgetTokens, provider } from "../lib/providers/gitlab/mod.ts";
import type { GitLabSettings } from "../lib/providers/gitlab/settings.ts";
import type { ProviderSession } from "../lib/providers/types.ts";
import { startGitServer } from "../sandbox/git/http_server.ts";
import { startGitLabSandbox } from "../sandbox/gitlab/server.ts";

const [clusters, repos, runs] = [100, 10, 5].map((d, i) => Number(Deno.args[i] ?? d));
const TOKEN = "bench-gitlab-token-a51c";

function fakeKey(): string {
  const wire = new Uint8Array(51);
  wire.set([0, 0, 0, 11, ...new TextEncoder().encode("ssh-ed25519"), 0, 0, 0, 32]);
  wire.set(crypto.getRandomValues(new Uint8Array(32)), 19);
  return `ssh-ed25519 ${btoa(String.fromCharCode(...wire))} bench`;
}

const dir = await Deno.makeTempDir({ prefix: "fluxfleet-gl-bench-" });
const git = await startGitServer({ root: join(dir, "repos") });
const gl = await startGitLabSandbox({
  users: [{ username: "bench", tokens: [{ token: TOKEN, name: "bench" }] }],
  groups: [
    { path: "fleet", members: { bench: 50 } },
    { path: "ops", members: { bench: 30 } },
  ],
  gitRoot: git.root,
  sshCloneBase: "git@127.0.0.1",
});

type Mode = "deploy keys" | "deploy tokens" | "token auth";

function settings(r: number, mode: Mode): GitLabSettings {
  return {
    apiUrl: gl.url,
    namespace: "fleet",
    project: `${mode.replace(" ", "-")}-${r}`,
    personal: false,
    visibility: "private",
    reconcile: false,
    teams: [{ group: "ops", permission: "admin" }],
    tokenAuth: mode === "token auth",
    deployTokenAuth: mode === "deploy tokens",
    readWriteKey: false,
  };
}

const open = (r: number, mode: Mode): ProviderSession =>
  provider.open(settings(r, mode), { token: TOKEN, allowInsecureHttp: true });
const label = (c: number) => `fluxfleet-c${c}-clusters-c${c}-flux-system`;
const perRepo = clusters / repos;

/** What the core asks of one repository's provider during a plan; the steps it got. */
async function plan(r: number, mode: Mode, keys: string[], users: string[]): Promise<number> {
  const s = open(r, mode);
  try {
    await s.observe();
    let steps = s.planRepository().steps.length;
    for (let i = 0; i < perRepo; i++) {
      const c = r * perRepo + i;
      steps += s.planClusterAccess({ label: label(c), publicKey: keys[c] }).length;
      if (mode === "deploy keys" && !s.keyRegistered(keys[c])) steps++;
      if (mode === "deploy tokens" && !s.credentialsValid!(users[c])) steps++;
    }
    return steps;
  } finally {
    s.close();
  }
}

function stats(xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  return `median ${s[Math.floor(s.length / 2)]}, min ${s[0]}, max ${s[s.length - 1]}`;
}

try {
  for (const mode of ["deploy keys", "deploy tokens", "token auth"] as Mode[]) {
    const keys = Array.from({ length: clusters }, fakeKey);
    const users: string[] = [];
    // The first apply, as a run carries it out.
    forgetTokens();
    for (let r = 0; r < repos; r++) {
      const s = open(r, mode);
      await s.observe();
      for (const step of s.planRepository().steps) await s.apply(step, { warn: () => {} });
      for (let i = 0; i < perRepo; i++) {
        const c = r * perRepo + i;
        if (mode === "deploy tokens") {
          users[c] = (await s.issueCredentials!(label(c))).username;
        }
        for (const step of s.planClusterAccess({ label: label(c), publicKey: keys[c] })) {
          await s.apply(step, { publicKey: keys[c], warn: () => {} });
        }
      }
      s.close();
    }
    const totals: number[] = [];
    for (let run = 0; run < runs; run++) {
      forgetTokens();
      const before = gl.requests.length;
      const steps = await Promise.all(
        Array.from({ length: repos }, (_, r) => plan(r, mode, keys, users)),
      );
      const calls = gl.requests.slice(before);
      if (steps.some((n) => n > 0)) throw new Error(`${mode}: a no-op plan planned steps`);
      if (calls.some((c) => c.mutating)) throw new Error(`${mode}: a no-op plan changed something`);
      totals.push(calls.length);
    }
    const perRepoCalls = totals.map((t) => (t - 1) / repos);
    console.log(
      `${mode}: ${clusters} clusters / ${repos} repositories, ${runs} no-op plans: ` +
        `${stats(totals)} API calls per plan (1 token check for the run + ${
          stats(perRepoCalls)
        } per repository; ${
          (totals[0] - 1 - repos * perRepoCalls[0]) / clusters
        } per cluster beyond its repository's listing); 0 that change anything`,
    );
  }
} finally {
  await gl.close();
  await git.close();
  await Deno.remove(dir, { recursive: true });
}
