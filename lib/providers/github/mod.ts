/**
 * GitHub and GitHub Enterprise Server (`provider: github`, flux bootstrap github): settings in
 * `git.github`; the repository, its team grants and the clusters' deploy keys through the REST
 * API (the shared forge code in ../forge, GitHub's dialect here).
 *
 * Why not @octokit/rest 22.0.1 (maintained by the octokit organization; works under Deno 2.9.6,
 * tests/integration/github_sandbox_test.ts drives the sandbox with it): the ten calls here go
 * through the forge client fluxfleet shares with every provider (../http), which holds the
 * run-wide rate limiter per host and token, bounded pages and answers, same-origin redirects only
 * and errors in words without the token. @octokit/rest has none of the first three itself (they
 * are the separate throttling and retry plugins, or a custom fetch), and `deno info` counts 18
 * npm packages and 12 MB behind it (1.3 MB of endpoint tables) for those ten calls.
 */
import type { ProviderModule } from "../types.ts";
import { forgeModule } from "../forge/module.ts";
import type { ForgeSite } from "../forge/settings.ts";
import { dialect, KIND } from "./dialect.ts";

/** flux: --hostname github.com; GitHub Enterprise Server serves its API at /api/v3. */
export const site: ForgeSite = {
  kind: KIND,
  service: "GitHub",
  tokenEnv: "GITHUB_TOKEN",
  defaultHostname: "github.com",
  apiUrl: (hostname) =>
    hostname === "github.com" ? "https://api.github.com" : `https://${hostname}/api/v3`,
  webUrl: (apiUrl) => {
    const u = new URL(apiUrl);
    if (u.hostname === "api.github.com") return "https://github.com";
    return `${u.origin}${u.pathname.replace(/\/api\/v3\/?$/, "")}`.replace(/\/+$/, "");
  },
};

export const provider: ProviderModule = forgeModule(site, dialect, {
  summary:
    "github: GitHub or GitHub Enterprise Server through its REST API (flux bootstrap github), settings in git.github",
  block:
    "provider: github — GitHub or GitHub Enterprise Server (hostname) through its REST API (flux bootstrap github).",
});
