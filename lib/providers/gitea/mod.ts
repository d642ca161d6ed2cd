/**
 * Gitea and Forgejo (`provider: gitea`, flux bootstrap gitea): settings in `git.gitea`; the
 * repository, its team grants and the clusters' deploy keys through the REST API (the shared
 * forge code in ../forge, Gitea's dialect here).
 *
 * Why not gitea-js 1.23.0 (generated from Gitea's swagger; works under Deno 2.9.6,
 * tests/integration/gitea_sandbox_test.ts drives the sandbox with it): as for GitHub, the calls go
 * through the forge client fluxfleet shares with every provider (../http) — the run-wide rate
 * limiter, bounded pages and answers, same-origin redirects, errors in words without the token —
 * which gitea-js's fetch wrapper has none of.
 */
import type { ProviderModule } from "../types.ts";
import { forgeModule } from "../forge/module.ts";
import type { ForgeSite } from "../forge/settings.ts";
import { dialect, KIND } from "./dialect.ts";

/** flux: --hostname gitea.com; the API is at /api/v1. */
export const site: ForgeSite = {
  kind: KIND,
  service: "Gitea",
  tokenEnv: "GITEA_TOKEN",
  defaultHostname: "gitea.com",
  apiUrl: (hostname) => `https://${hostname}/api/v1`,
  webUrl: (apiUrl) => {
    const u = new URL(apiUrl);
    return `${u.origin}${u.pathname.replace(/\/api\/v1\/?$/, "")}`.replace(/\/+$/, "");
  },
};

export const provider: ProviderModule = forgeModule(site, dialect, {
  summary:
    "gitea: Gitea or Forgejo through its REST API (flux bootstrap gitea), settings in git.gitea",
  block:
    "provider: gitea — Gitea or Forgejo (hostname) through its REST API (flux bootstrap gitea).",
});
