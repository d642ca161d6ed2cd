/**
 * The GitHub provider through the CLI: a rate limit (403 with retry-after, GitHub's secondary
 * limit) waited for and shown on the cluster's progress line; the plan's provider steps.
 */
import assert from "node:assert/strict";
import { manifestYaml, withFleetEnv, withSshd } from "../helpers/harness.ts";
import { missing } from "../helpers/tools.ts";
import { outputSchemaErrors } from "../helpers/output_schema.ts";
import { acmeForge, forgeGitLines } from "../helpers/forge.ts";

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
      // The next request is refused, whenever it comes: a secondary limit with retry-after.
      gh.github!.secondaryRateLimit({ status: 403, retryAfterSeconds: 1 });
      const r = await env.cli(["plan", env.manifest], { GITHUB_TOKEN: TOKEN });
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(
        r.stderr,
        /c0: waiting 1 s for GitHub's rate limit on 127\.0\.0\.1:\d+ \(retry-after\)/,
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

Deno.test({
  name:
    "github: the plan names the repository, team and deploy key steps in GitHub's words; its JSON matches the output schema",
  ignore: missing("sshd"),
  async fn() {
    await withSshd((sshd) =>
      withFleetEnv({ prefix: "fluxfleet-gh-json-" }, async (env) => {
        const gh = await acmeForge("github", TOKEN, sshd);
        try {
          await Deno.writeTextFile(
            env.manifest,
            manifestYaml({
              git: forgeGitLines(gh, sshd.port, "owner: acme, repository: fleet, teams: [ops]"),
              clusters: [{ name: "c0" }],
            }),
          );
          const text = await env.cli(["plan", env.manifest], { GITHUB_TOKEN: TOKEN });
          assert.equal(text.code, 0, text.stdout + text.stderr);
          assert.match(text.stdout, /\n {2}\+ grant team ops maintain on the repository\n/);
          assert.match(
            text.stdout,
            /\n {2}\+ register deploy key fluxfleet-c0-clusters-c0-flux-system \(read-only\) with the SSH key ecdsa-p384 generated at apply\n/,
          );
          const r = await env.cli(["plan", "-o", "json", env.manifest], { GITHUB_TOKEN: TOKEN });
          assert.equal(r.code, 0, r.stdout + r.stderr);
          const doc = JSON.parse(r.stdout);
          assert.deepEqual(outputSchemaErrors(doc), []);
          const steps = doc.clusters[0].steps.filter((s: { kind: string }) =>
            ["repository", "group", "accessKey"].includes(s.kind)
          );
          assert.deepEqual(steps, [
            { kind: "repository", action: "create", name: "acme/fleet", private: true },
            { kind: "group", action: "grant", group: "ops", permission: "maintain" },
            {
              kind: "accessKey",
              action: "create",
              label: "fluxfleet-c0-clusters-c0-flux-system",
              permission: "pull",
              remove: [],
              generatedKey: "ecdsa-p384",
            },
          ]);
        } finally {
          await gh.close();
        }
      })
    );
  },
});
