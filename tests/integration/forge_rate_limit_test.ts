/**
 * A rate limit through the CLI: GitHub refuses the token (403, x-ratelimit-remaining 0 until the
 * reset); the plan waits for the reset, says so on the cluster's progress line, and then plans.
 */
import assert from "node:assert/strict";
import { manifestYaml, withFleetEnv } from "../helpers/harness.ts";
import { acmeForge } from "../helpers/forge.ts";

const TOKEN = "forge_canary_ratelimit_8e2c04f9";

Deno.test("github: a rate-limited plan waits for the reset and shows the wait on the progress line", async () => {
  await withFleetEnv({ prefix: "fluxfleet-gh-limit-" }, async (env) => {
    const gh = await acmeForge("github", TOKEN);
    try {
      await Deno.writeTextFile(
        env.manifest,
        manifestYaml({
          git: [
            "provider: github",
            "allowInsecureHttp: true",
            `github: { apiUrl: ${gh.url}, owner: acme, repository: fleet, tokenAuth: true }`,
          ],
          clusters: [{ name: "c0" }],
        }),
      );
      gh.github!.exhaustRateLimit("alice", { resetInSeconds: 2 });
      const r = await env.cli(["plan", env.manifest], { GITHUB_TOKEN: TOKEN });
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(
        r.stderr,
        /c0: waiting \d+ s for GitHub's rate limit on 127\.0\.0\.1:\d+ \(x-ratelimit-reset\)/,
      );
      assert.match(r.stdout, /\+ create repository acme\/fleet \(private\)/);
      assert.ok(!(r.stdout + r.stderr).includes(TOKEN));
      assert.deepEqual(
        gh.requests.map((q) => `${q.method} ${q.path} ${q.status}`),
        ["GET /repos/acme/fleet 403", "GET /repos/acme/fleet 404", "GET /orgs/acme 200"],
      );
    } finally {
      await gh.close();
    }
  });
});
