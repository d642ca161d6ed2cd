/**
 * git.signing end to end through the real CLI: the commit fluxfleet pushes to the real git
 * http-backend carries an SSH signature that the real `git verify-commit` accepts, the plan says
 * how the commit is signed, and neither the token nor the key's passphrase is ever printed.
 */
import assert from "node:assert/strict";
import { manifestYaml, runCommand, tokenGit, withFleetEnv } from "../helpers/harness.ts";
import { outputSchemaErrors } from "../helpers/output_schema.ts";

const TOKEN = "canary-token-sign-6c1f0e77";
const PASSPHRASE = "canary-signing-pass-0b9d4e";
/** No git config of the machine's: the CLI and git alike. */
const NO_GIT_CONFIG = { GIT_CONFIG_GLOBAL: "/dev/null", GIT_CONFIG_NOSYSTEM: "1" };

function run(cmd: string, args: string[]) {
  return runCommand(cmd, args, { env: NO_GIT_CONFIG });
}

Deno.test("apply with git.signing.ssh pushes a commit that git verify-commit accepts", async () => {
  await withFleetEnv({
    prefix: "fluxfleet-sign-e2e-",
    git: { users: { git: TOKEN } },
    repos: ["fleet"],
    cliEnv: { ...NO_GIT_CONFIG, GIT_PASSWORD: TOKEN },
    manifest: ({ git }) =>
      manifestYaml({
        git: [
          ...tokenGit(git.repoUrl("fleet"), "flux@example.com"),
          "signing: { ssh: { key: { file: ./signing_key }, passphrase: { env: SIGNING_PASSPHRASE } } }",
        ],
        clusters: [{ name: "c0" }],
      }),
  }, async (env) => {
    const { git, dir, manifest } = env;
    const keygen = await run("ssh-keygen", [
      "-q",
      "-t",
      "ed25519",
      "-N",
      PASSPHRASE,
      "-C",
      "signing",
      "-f",
      `${dir}/signing_key`,
    ]);
    assert.equal(keygen.code, 0, keygen.stderr);
    const publicLine = (await Deno.readTextFile(`${dir}/signing_key.pub`)).trim();
    const fingerprint =
      (await run("ssh-keygen", ["-l", "-E", "sha256", "-f", `${dir}/signing_key.pub`])).stdout
        .split(" ")[1];
    const outputs: string[] = [];
    const cli = async (args: string[], passphrase = PASSPHRASE) => {
      const r = await env.cli(args, { SIGNING_PASSPHRASE: passphrase });
      outputs.push(r.stdout, r.stderr);
      return r;
    };

    // A wrong passphrase stops the run before anything is contacted, naming cluster and field.
    const wrong = await cli(["plan", manifest], "not-the-passphrase");
    assert.equal(wrong.code, 1, wrong.stdout + wrong.stderr);
    assert.match(
      wrong.stderr,
      /cluster "c0": git\.signing\.ssh\.passphrase: the private key is encrypted and the passphrase is wrong/,
    );
    assert.equal(git.requests.length, 0, "nothing may be contacted before the secrets check out");

    const described = `signed with SSH key ${fingerprint} (ssh-ed25519)`;
    const plan = await cli(["plan", manifest]);
    assert.equal(plan.code, 0, plan.stderr);
    assert.ok(
      plan.stdout.includes(`+ commit clusters/c0/flux-system/kustomization.yaml\n`),
      plan.stdout,
    );
    assert.ok(plan.stdout.includes(`  > the commit is ${described}\n`), plan.stdout);
    const json = await cli(["plan", "--output", "json", manifest]);
    assert.equal(json.code, 0, json.stderr);
    const doc = JSON.parse(json.stdout);
    assert.deepEqual(outputSchemaErrors(doc), []);
    assert.equal(doc.clusters[0].repository.signing, described);

    const apply = await cli(["apply", "--auto-approve", manifest]);
    assert.equal(apply.code, 0, apply.stdout + apply.stderr);
    assert.equal(git.pushCount(), 1);

    // The commit on the server's bare repository verifies with the real git and ssh-keygen.
    const bare = `${git.root}/fleet.git`;
    const allowed = `${dir}/allowed_signers`;
    await Deno.writeTextFile(allowed, `flux@example.com namespaces="git" ${publicLine}\n`);
    const verify = (signers: string) =>
      run("git", [
        `--git-dir=${bare}`,
        "-c",
        "gpg.format=ssh",
        "-c",
        `gpg.ssh.allowedSignersFile=${signers}`,
        "verify-commit",
        "main",
      ]);
    const ok = await verify(allowed);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stderr, /Good "git" signature for flux@example\.com with ED25519 key/);
    const raw = await run("git", [`--git-dir=${bare}`, "cat-file", "-p", "main"]);
    assert.match(raw.stdout, /\ngpgsig -----BEGIN SSH SIGNATURE-----\n/);
    assert.match(raw.stdout, /\n\nAdd Flux v2\.4\.0 manifests for cluster c0\n/);
    // Another key in the allowed signers file: the same commit does not verify.
    const otherKey = await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", `${dir}/o`]);
    assert.equal(otherKey.code, 0, otherKey.stderr);
    const other = `${dir}/other_signers`;
    await Deno.writeTextFile(
      other,
      `flux@example.com namespaces="git" ${(await Deno.readTextFile(`${dir}/o.pub`)).trim()}\n`,
    );
    assert.notEqual((await verify(other)).code, 0);

    // Converged: nothing to commit, so nothing said about signing.
    const again = await cli(["plan", manifest]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /No changes/);
    assert.ok(!again.stdout.includes("the commit is signed"), again.stdout);

    for (const text of outputs) {
      assert.ok(!text.includes(TOKEN), "token leaked");
      assert.ok(!text.includes(PASSPHRASE), "signing key passphrase leaked");
      assert.ok(!text.includes("OPENSSH PRIVATE KEY"), "private key leaked");
    }
  });
});
