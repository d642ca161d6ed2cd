/**
 * The clone links a GitHub or Gitea API answers with are where fluxfleet pushes with the token and
 * where the cluster reads from: a link off the forge the manifest names is refused (an attacker's
 * API, or someone in the middle of an opted-in plain-http API, would otherwise get the token).
 */
import assert from "node:assert/strict";
import { repositoryFacts } from "../../lib/providers/forge/session.ts";
import type { ForgeRepo, ForgeSettings } from "../../lib/providers/forge/types.ts";

const SETTINGS: ForgeSettings = {
  apiUrl: "https://api.github.com",
  webUrl: "https://github.com",
  host: "github.com",
  owner: "acme",
  repository: "fleet",
  personal: false,
  private: true,
  teams: [],
  readWriteKey: false,
  reconcile: false,
  tokenAuth: false,
  branch: "main",
  tokenField: "git.github.token",
};

function repo(httpUrl: string, sshUrl = "git@github.com:acme/fleet.git"): ForgeRepo {
  return { httpUrl, sshUrl } as ForgeRepo;
}

Deno.test("forge clone links: the API's own links are taken", () => {
  const facts = repositoryFacts(SETTINGS, repo("https://github.com/acme/fleet.git"));
  assert.equal(facts.httpUrl, "https://github.com/acme/fleet.git");
  assert.equal(facts.sshUrl, "ssh://git@github.com/acme/fleet.git");
});

Deno.test("forge clone links: another host, another port or plain http is refused, naming it", () => {
  for (
    const link of [
      "https://evil.example/acme/fleet.git",
      "https://github.com:4444/acme/fleet.git",
      "http://github.com/acme/fleet.git",
      "not a url",
    ]
  ) {
    assert.throws(
      () => repositoryFacts(SETTINGS, repo(link)),
      (e: Error) => {
        assert.match(e.message, /clone URL of acme\/fleet, not on https:\/\/github\.com/);
        assert.match(e.message, /nothing is sent there/);
        assert.match(e.message, /git\.github\.hostname \/ apiUrl/);
        return true;
      },
      link,
    );
  }
});

Deno.test("forge clone links: an SSH link to another host is refused unless sshHostname replaces it", () => {
  const evil = repo("https://github.com/acme/fleet.git", "git@evil.example:acme/fleet.git");
  assert.throws(() => repositoryFacts(SETTINGS, evil), /SSH clone URL of acme\/fleet/);
  const replaced = repositoryFacts({ ...SETTINGS, sshHostname: "ssh.github.com:443" }, evil);
  assert.equal(replaced.sshUrl, "ssh://git@ssh.github.com:443/acme/fleet.git");
});
