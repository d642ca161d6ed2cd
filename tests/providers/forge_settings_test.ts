/**
 * git.github / git.gitea resolved as flux bootstrap github|gitea's flags: where the API is
 * (github.com, GitHub Enterprise Server by hostname, Gitea / Forgejo), teams default maintain,
 * the token's variable, and problems named before anything is contacted. GitHub Enterprise
 * Server's layout (/api/v3) is driven against the sandbox.
 */
import assert from "node:assert/strict";
import { provider as github } from "../../lib/providers/github/mod.ts";
import { provider as gitea } from "../../lib/providers/gitea/mod.ts";
import type { ForgeSettings } from "../../lib/providers/forge/types.ts";
import { blockInput, FORGE_TOKENS } from "../helpers/forge.ts";
import { startGitHubSandbox } from "../../sandbox/github/server.ts";

Deno.test("github.com, GitHub Enterprise Server and Gitea: API, clone URL, token, teams default maintain", () => {
  const dotcom = github.resolve(
    blockInput({ owner: "acme", repository: "fleet", teams: ["ops", "devs:push"] }),
  );
  const s = dotcom.settings as ForgeSettings;
  assert.equal(s.apiUrl, "https://api.github.com");
  assert.equal(dotcom.url, "https://github.com/acme/fleet.git");
  assert.deepEqual(dotcom.auth?.token, { env: "GITHUB_TOKEN" });
  assert.equal(dotcom.auth?.username, "git");
  assert.equal(dotcom.generatedKey, true);
  assert.deepEqual(s.teams, [{ group: "ops", permission: "maintain" }, {
    group: "devs",
    permission: "write",
  }]);
  assert.equal(s.private, true);

  const ghes = github.resolve(
    blockInput({
      hostname: "github.example.com",
      owner: "acme",
      repository: "fleet",
      tokenAuth: true,
    }),
  );
  assert.equal((ghes.settings as ForgeSettings).apiUrl, "https://github.example.com/api/v3");
  assert.equal(ghes.url, "https://github.example.com/acme/fleet.git");
  assert.equal(ghes.generatedKey, false);

  const forgejo = gitea.resolve(
    blockInput(
      { hostname: "codeberg.org", owner: "me", repository: "fleet", personal: true },
      {},
      "gitea",
    ),
  );
  assert.equal((forgejo.settings as ForgeSettings).apiUrl, "https://codeberg.org/api/v1");
  assert.equal(forgejo.url, "https://codeberg.org/me/fleet.git");
  assert.deepEqual(forgejo.auth?.token, { env: "GITEA_TOKEN" });
  assert.equal(forgejo.auth?.field, "git.gitea.token");
});

Deno.test("problems are named before anything is contacted", () => {
  const problems = (block: Record<string, unknown>, git: Record<string, unknown> = {}) =>
    github.validate(blockInput(block, git)).map((p) => `${p.key}: ${p.message}`);
  assert.deepEqual(problems({ repository: "fleet" }), ["owner: is required for provider: github"]);
  assert.deepEqual(problems({ owner: "me", repository: "fleet", personal: true, teams: ["ops"] }), [
    "teams: teams are granted on organization repositories only; remove them or personal: true",
  ]);
  assert.deepEqual(problems({ owner: "a", repository: "b", apiUrl: "http://127.0.0.1:1" }), [
    "apiUrl: plain http:// sends the token unencrypted; use https:// or set git.allowInsecureHttp: true",
  ]);
  assert.deepEqual(problems({ owner: "a", repository: "b" }, { url: "https://x/y.git" }), [
    "url: github takes owner and repository (and hostname) instead of url",
  ]);
});

Deno.test("GitHub Enterprise Server's layout: the API under /api/v3, clone links from it", async () => {
  const gh = await startGitHubSandbox({
    users: ["alice"],
    orgs: [{ login: "acme", owners: ["alice"] }],
    tokens: [{ token: FORGE_TOKENS.alice, user: "alice" }],
  });
  try {
    const resolved = github.resolve(
      blockInput({ apiUrl: gh.enterpriseApiUrl, owner: "acme", repository: "fleet" }, {
        allowInsecureHttp: true,
      }),
    );
    assert.equal(resolved.url, `${gh.url}/acme/fleet.git`);
    const s = github.open(resolved.settings, {
      token: FORGE_TOKENS.alice,
      allowInsecureHttp: true,
    });
    try {
      assert.equal((await s.observe()).exists, false);
      const created = await s.apply(s.planRepository().steps[0], { warn: () => {} });
      assert.equal(created?.httpUrl, `${gh.url}/acme/fleet.git`);
      assert.ok(gh.requests.every((r) => r.path.startsWith("/api/v3/")));
    } finally {
      s.close();
    }
  } finally {
    await gh.close();
  }
});

Deno.test("GitHub Enterprise Server behind a private CA: refused in words until git.caFile's CA is given", async () => {
  const gh = await startGitHubSandbox({
    users: ["alice"],
    orgs: [{ login: "acme", owners: ["alice"] }],
    tokens: [{ token: FORGE_TOKENS.alice, user: "alice" }],
    tls: true,
  });
  try {
    const settings = github.resolve(
      blockInput({ apiUrl: gh.enterpriseApiUrl, owner: "acme", repository: "fleet" }),
    ).settings;
    const untrusted = github.open(settings, {
      token: FORGE_TOKENS.alice,
      allowInsecureHttp: false,
      attempts: 1,
    });
    const trusted = github.open(settings, {
      token: FORGE_TOKENS.alice,
      allowInsecureHttp: false,
      caPem: gh.caPem,
    });
    try {
      const err = await untrusted.observe().then(() => assert.fail("accepted"), (e: Error) => e);
      assert.match(
        err.message,
        /^read repository acme\/fleet: TLS with 127\.0\.0\.1:\d+ failed .*private CA/,
      );
      assert.equal((await trusted.observe()).exists, false);
    } finally {
      untrusted.close();
      trusted.close();
    }
  } finally {
    await gh.close();
  }
});
