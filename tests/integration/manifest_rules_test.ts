/**
 * Manifest rules that need more than the manifest, through the real CLI: one repository however
 * its URL is spelled (one commit), secret errors naming the manifest's own field, and
 * flux.sparseCheckout turned on and off again on a live GitRepository.
 */
import assert from "node:assert/strict";
import { fluxObject, manifestYaml, runCli, tokenGit, withFleetEnv } from "../helpers/harness.ts";

const RUN = crypto.randomUUID().slice(0, 8);
const TOKEN = `canary-rules-token-${RUN}`;

Deno.test("one repository spelled two ways (a trailing /): one commit for both clusters", async () => {
  await withFleetEnv({
    prefix: "fluxfleet-rules-",
    git: { users: { git: TOKEN } },
    repos: ["fleet"],
    contexts: ["c0", "c1"],
    cliEnv: { GIT_PASSWORD: TOKEN },
  }, async ({ git, dir, cli }) => {
    const url = git.repoUrl("fleet");
    const manifest = `${dir}/fleet.yaml`;
    await Deno.writeTextFile(
      manifest,
      manifestYaml({
        git: ["allowInsecureHttp: true", "author: { name: t, email: t@example.com }"],
        clusters: [
          { name: "c0", git: [`url: ${url}`] },
          // git reads it as the same repository (the cluster's git ls-remote works with it).
          { name: "c1", git: [`url: ${url}/`] },
        ],
      }),
    );
    const apply = await cli(["apply", "--auto-approve", manifest]);
    assert.equal(apply.code, 0, apply.stdout + apply.stderr);
    const log = await git.log("fleet", "main");
    assert.deepEqual(log.map((c) => c.message), ["Add Flux v2.4.0 manifests for clusters c0, c1"]);
    assert.equal(git.pushCount(), 1);
    const replan = await cli(["plan", "--detailed-exitcode", manifest]);
    assert.equal(replan.code, 0, replan.stdout + replan.stderr);
  });
});

Deno.test("secret errors through the CLI: the manifest's field (git.token for Bitbucket), file and place; short secrets refused unseen", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fluxfleet-rules-" });
  try {
    const manifest = `${dir}/fleet.yaml`;
    await Deno.writeTextFile(
      manifest,
      `defaults:
  flux: { version: v2.4.0, manifests: ./install.yaml }
clusters:
  - name: bb
    path: clusters/bb
    git: { provider: bitbucket-server, hostname: 127.0.0.1:1, owner: me, personal: true, repository: fleet }
  - name: gen
    path: clusters/gen
    git: { url: "https://127.0.0.1:1/fleet.git", auth: { type: token, token: { env: GEN_TOKEN } } }
`,
    );
    const missing = await runCli(["plan", manifest]);
    assert.equal(missing.code, 1, missing.stdout + missing.stderr);
    assert.equal(
      missing.stderr,
      `error: ${manifest}:6:10: cluster "bb": git.token: environment variable BITBUCKET_TOKEN is not set\n`,
    );
    const short = await runCli(["plan", "--cluster", "gen", manifest], { GEN_TOKEN: "pw1234" });
    assert.equal(short.code, 1, short.stdout + short.stderr);
    assert.equal(
      short.stderr,
      `error: ${manifest}:9:78: cluster "gen": git.auth.token: the secret read from environment variable GEN_TOKEN is shorter than 8 characters; fluxfleet refuses secrets that short (they could not be masked in its output)\n`,
    );
    assert.ok(!short.stdout.includes("pw1234") && !short.stderr.includes("pw1234"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("flux.sparseCheckout: written to gotk-sync.yaml and the GitRepository; off again is an update that removes it", async () => {
  await withFleetEnv({
    prefix: "fluxfleet-rules-",
    git: { users: { git: TOKEN } },
    repos: ["fleet"],
    cliEnv: { GIT_PASSWORD: TOKEN },
    manifest: ({ git }) =>
      manifestYaml({
        git: tokenGit(git.repoUrl("fleet")),
        clusters: [{ name: "c0", lines: ["flux: { sparseCheckout: [clusters/c0, apps] }"] }],
      }),
  }, async ({ git, kube, manifest, cli }) => {
    const spec = () =>
      (fluxObject(kube, "GitRepository") as { spec: Record<string, unknown> }).spec;
    const apply = await cli(["apply", "--auto-approve", manifest]);
    assert.equal(apply.code, 0, apply.stdout + apply.stderr);
    assert.deepEqual(spec().sparseCheckout, ["clusters/c0", "apps"]);
    const sync = await git.readFile("fleet", "main", "clusters/c0/flux-system/gotk-sync.yaml");
    assert.match(
      sync ?? "",
      /\n {2}secretRef:\n {4}name: flux-system\n {2}sparseCheckout:\n {2}- clusters\/c0\n {2}- apps\n {2}url: /,
    );
    const same = await cli(["plan", "--detailed-exitcode", manifest]);
    assert.equal(same.code, 0, same.stdout + same.stderr);

    await Deno.writeTextFile(
      manifest,
      (await Deno.readTextFile(manifest)).replace(
        "    flux: { sparseCheckout: [clusters/c0, apps] }\n",
        "",
      ),
    );
    const off = await cli(["plan", "--detailed-exitcode", manifest]);
    assert.equal(off.code, 2, off.stdout + off.stderr);
    assert.match(
      off.stdout,
      /~ update GitRepository flux-system\/flux-system \(spec\.sparseCheckout changed\)/,
    );
    const offApply = await cli(["apply", "--auto-approve", manifest]);
    assert.equal(offApply.code, 0, offApply.stdout + offApply.stderr);
    assert.equal(spec().sparseCheckout, undefined);
    const offSync = await git.readFile("fleet", "main", "clusters/c0/flux-system/gotk-sync.yaml");
    assert.doesNotMatch(offSync ?? "", /sparseCheckout/);
    const replan = await cli(["plan", "--detailed-exitcode", manifest]);
    assert.equal(replan.code, 0, replan.stdout + replan.stderr);
  });
});
