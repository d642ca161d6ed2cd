/**
 * `git.gitlab`: bad settings are refused before anything is contacted, each named where it is
 * written; good ones resolve to flux bootstrap gitlab's defaults.
 */
import assert from "node:assert/strict";
import { parseManifest } from "../../lib/config/load.ts";
import { ConfigError } from "../../lib/config/errors.ts";
import type { GitLabSettings } from "../../lib/providers/gitlab/settings.ts";
import { ACCESS_LEVELS, ROLE_NAMES } from "../../lib/providers/gitlab/settings.ts";

const HEAD = `defaults:
  flux: { version: v2.4.0, manifests: ./install.yaml }
clusters:
  - name: dev
    path: clusters/dev
`;

function errorsOf(git: string): string[] {
  try {
    parseManifest(`${HEAD}    git: ${git}\n`, "fleet.yaml");
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e.message.split("\n");
  }
  assert.fail("manifest was accepted");
}

function settingsOf(git: string): { settings: GitLabSettings; url: string; name?: string } {
  const m = parseManifest(`${HEAD}    git: ${git}\n`, "fleet.yaml");
  const c = m.clusters[0];
  return {
    settings: c.git.provider.settings as GitLabSettings,
    url: c.git.url,
    name: c.git.provider.name,
  };
}

const cases: { name: string; git: string; error: RegExp }[] = [
  {
    name: "no repository",
    git: "{ provider: gitlab, gitlab: { owner: fleet } }",
    error: /cluster "dev": git\.gitlab\.repository: is required for provider: gitlab/,
  },
  {
    name: "token auth and deploy token auth",
    git:
      "{ provider: gitlab, gitlab: { owner: fleet, repository: apps, tokenAuth: true, deployTokenAuth: true } }",
    error:
      /fleet\.yaml:6:\d+: cluster "dev": git\.gitlab\.deployTokenAuth: tokenAuth and deployTokenAuth cannot both be set/,
  },
  {
    name: "private contradicting visibility",
    git:
      "{ provider: gitlab, gitlab: { owner: fleet, repository: apps, private: false, visibility: internal } }",
    error: /git\.gitlab\.private: contradicts visibility: internal/,
  },
  {
    name: "a personal project in a subgroup",
    git: "{ provider: gitlab, gitlab: { owner: alice/sub, repository: apps, personal: true } }",
    error: /git\.gitlab\.personal: a personal project lives in the user's namespace/,
  },
  {
    name: "a project path GitLab refuses",
    git: "{ provider: gitlab, gitlab: { owner: fleet, repository: apps.git } }",
    error: /git\.gitlab\.repository: "apps\.git" is not a valid GitLab project path/,
  },
  {
    name: "a url besides owner and repository",
    git:
      '{ provider: gitlab, url: "https://gitlab.com/fleet/apps.git", gitlab: { owner: fleet, repository: apps } }',
    error: /git\.url: gitlab takes owner and repository instead of url/,
  },
  {
    name: "an unknown team role",
    git: '{ provider: gitlab, gitlab: { owner: fleet, repository: apps, teams: ["ops:boss"] } }',
    error:
      /git\.gitlab\.teams: "ops:boss": unknown role "boss": use guest, reporter, developer, maintainer, owner, pull, triage, push, maintain, admin/,
  },
  {
    name: "plain http API without allowInsecureHttp",
    git:
      '{ provider: gitlab, gitlab: { owner: fleet, repository: apps, apiUrl: "http://gitlab.local" } }',
    error: /git\.gitlab\.apiUrl: plain http:\/\/ sends the token unencrypted/,
  },
  {
    name: "a gitlab block under another provider",
    git: '{ url: "https://g/x.git", gitlab: { owner: fleet, repository: apps } }',
    error: /git\.gitlab: is only for provider: gitlab/,
  },
];

for (const c of cases) {
  Deno.test(`git.gitlab is refused: ${c.name}`, () => {
    const errors = errorsOf(c.git);
    assert.ok(errors.some((e) => c.error.test(e)), errors.join("\n"));
  });
}

Deno.test("git.gitlab resolves to flux's defaults: gitlab.com, private, maintainer, GITLAB_TOKEN", () => {
  const { settings, url, name } = settingsOf(
    '{ provider: gitlab, gitlab: { owner: fleet/platform, repository: apps, teams: [ops, "devs:push", "qa:reporter"] } }',
  );
  assert.equal(url, "https://gitlab.com/fleet/platform/apps.git");
  assert.equal(name, "fleet/platform/apps");
  assert.equal(settings.apiUrl, "https://gitlab.com");
  assert.deepEqual([settings.namespace, settings.project], ["fleet/platform", "apps"]);
  assert.equal(settings.visibility, "private");
  assert.deepEqual(settings.teams, [
    { group: "ops", permission: "maintain" },
    { group: "devs", permission: "write" },
    { group: "qa", permission: "triage" },
  ]);
  const m = parseManifest(
    `${HEAD}    git: { provider: gitlab, gitlab: { owner: fleet, repository: apps } }\n`,
    "fleet.yaml",
  );
  const auth = m.clusters[0].git.auth;
  assert.ok(auth.type === "token");
  assert.deepEqual(auth.token, { env: "GITLAB_TOKEN" });
  assert.equal(auth.field, "git.gitlab.token");
});

Deno.test("git.gitlab: a repository naming a subgroup, hostname, private: false means public", () => {
  const { settings, url } = settingsOf(
    "{ provider: gitlab, gitlab: { hostname: git.example.com, owner: fleet, repository: platform/apps, private: false } }",
  );
  assert.equal(url, "https://git.example.com/fleet/platform/apps.git");
  assert.deepEqual([settings.namespace, settings.project], ["fleet/platform", "apps"]);
  assert.equal(settings.visibility, "public");
});

Deno.test("git.gitlab teams: GitLab's roles and flux's words map to access levels as go-git-providers does (pull 10, triage 20, push 30, maintain 40, admin 50)", () => {
  const words = [
    ["guest", 10],
    ["pull", 10],
    ["reporter", 20],
    ["triage", 20],
    ["developer", 30],
    ["push", 30],
    ["maintainer", 40],
    ["maintain", 40],
    ["owner", 50],
    ["admin", 50],
  ] as const;
  const teams = JSON.stringify(words.map(([w], i) => `g${i}:${w}`));
  const { settings } = settingsOf(
    `{ provider: gitlab, gitlab: { owner: fleet, repository: apps, teams: ${teams} } }`,
  );
  assert.deepEqual(
    settings.teams.map((t) => [t.group, ACCESS_LEVELS[t.permission], ROLE_NAMES[t.permission]]),
    words.map(([_w, level], i) => [
      `g${i}`,
      level,
      { 10: "guest", 20: "reporter", 30: "developer", 40: "maintainer", 50: "owner" }[level],
    ]),
    "each word's access level and GitLab role",
  );
  assert.notEqual(ACCESS_LEVELS.maintain, ACCESS_LEVELS.admin);
});
