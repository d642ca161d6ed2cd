/** The CLI's own surface: validate, schema, usage errors. */
import assert from "node:assert/strict";
import { countingListener } from "../helpers/listeners.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

async function run(args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}main.ts`, ...args],
    stdin: "null",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("validate: the example manifest is ok; it says it checked the file only", async () => {
  const r = await run(["validate", `${ROOT}fixtures/flux-bootstrap.example.yaml`]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(
    r.stdout,
    "ok: 2 clusters (checked the file only: schema and rules; `validate --full` also resolves " +
      "secrets and kubeconfig contexts)\n",
  );
  assert.equal(r.stderr, "", "no warnings on stderr");
});

for (
  const fixture of [
    "bitbucket-personal-token.yaml",
    "bitbucket-project-groups.yaml",
    "bitbucket-ssh-access-key.yaml",
    "bitbucket-ssh-no-token.yaml",
    "codecommit-ssh.yaml",
    "azure-devops-ssh.yaml",
    "github-org-teams.yaml",
    "github-personal-public.yaml",
    "github-enterprise-token-auth.yaml",
    "github-read-write-key.yaml",
    "gitea-org-teams.yaml",
    "gitea-personal-token-auth.yaml",
    "gitlab-personal.yaml",
    "gitlab-group-teams.yaml",
    "gitlab-subgroup-public.yaml",
    "gitlab-self-managed-token-auth.yaml",
    "gitlab-deploy-token.yaml",
    "gitlab-ssh-hostname.yaml",
  ]
) {
  Deno.test(`validate: fixture ${fixture} is ok`, async () => {
    const r = await run(["validate", `${ROOT}fixtures/${fixture}`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ok: \d+ clusters? \(checked the file only/);
  });
}

Deno.test("validate: the older flat Bitbucket keys are ok, each named as deprecated on stderr", async () => {
  const file = await Deno.makeTempFile({ suffix: ".yaml" });
  await Deno.writeTextFile(
    file,
    "clusters:\n  - name: dev\n    path: clusters/dev\n    git:\n" +
      "      provider: bitbucket-server\n      hostname: bb.example.com\n      owner: me\n" +
      "      personal: true\n      repository: fleet\n",
  );
  const r = await run(["validate", file]).finally(() => Deno.remove(file));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^ok: 1 cluster \(checked the file only/);
  const where = [[6, 17, "hostname"], [7, 14, "owner"], [8, 17, "personal"], [9, 19, "repository"]];
  assert.deepEqual(
    r.stderr.trim().split("\n"),
    where.map(([line, col, key]) =>
      `warning: ${file}:${line}:${col}: cluster "dev": git.${key}: deprecated: write it as ` +
      `git.bitbucketServer.${key} (the flat form keeps working)`
    ),
  );
});

Deno.test("validate: every problem printed with file:line:column, cluster and field; exit 1", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/bad.yaml`;
    await Deno.writeTextFile(
      file,
      `clusters:
  - name: dev
    path: clusters/dev
    git:
      url: https://g.example.com/x.git
      auth: { type: token, token: "ghp_literal_secret_value" }
      colour: blue
`,
    );
    const r = await run(["validate", file]);
    assert.equal(r.code, 1);
    const lines = r.stderr.trim().split("\n");
    assert.deepEqual(lines, [
      `${file}:6:35: cluster "dev": git.auth.token: must be a secret reference ({env: NAME}, {file: PATH}, {stdin: true} or {prompt: true}); literal secrets are not allowed in the manifest`,
      `${file}:7:7: cluster "dev": git.colour: unknown key`,
    ]);
    assert.ok(!r.stderr.includes("ghp_literal_secret_value"), "the literal must not be echoed");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("schema: prints the JSON Schema 2020-12 used for validation", async () => {
  const r = await run(["schema"]);
  assert.equal(r.code, 0);
  const schema = JSON.parse(r.stdout);
  assert.equal(schema.$schema, "https://json-schema.org/draft/2020-12/schema");
  assert.deepEqual(schema.required, ["clusters"]);
  assert.equal(
    r.stdout,
    JSON.stringify(
      JSON.parse(Deno.readTextFileSync(`${ROOT}schemas/flux-bootstrap.schema.json`)),
      null,
      2,
    ) + "\n",
  );
});

Deno.test("unknown cluster in --cluster is an error naming it", async () => {
  const r = await run(["plan", "--cluster", "nope", `${ROOT}fixtures/flux-bootstrap.example.yaml`]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /--cluster: no cluster named "nope"/);
});

Deno.test("--selector that matches nothing names the labels that exist; a bad one its position", async () => {
  const file = `${ROOT}fixtures/flux-bootstrap.example.yaml`;
  const none = await run(["plan", "--selector", "env=staging", file]);
  assert.equal(none.code, 1);
  assert.equal(
    none.stderr,
    `error: no cluster in ${file} matches --selector "env=staging"; ` +
      "labels in use: env=dev (aks-dev), env=prod (aks-prod)\n",
  );
  const bad = await run(["plan", "-l", "env in (prod", file]);
  assert.equal(bad.code, 1);
  assert.equal(
    bad.stderr,
    `error: --selector: "env in (prod" at position 13: found "end of string", expected "," or ")"\n`,
  );
  const op = await run(["plan", "-l", "env=prod,region~eu", file]);
  assert.equal(op.code, 1);
  assert.match(op.stderr, /--selector: "env=prod,region~eu" at position 10: label key "region~eu"/);
});

Deno.test("a command-line typo: the error, a suggestion and one line pointing to --help", async () => {
  const file = `${ROOT}fixtures/flux-bootstrap.example.yaml`;
  const flag = await run(["plan", "--clustr", "dev", file]);
  assert.equal(flag.code, 1);
  assert.equal(
    flag.stderr,
    "error: unknown option '--clustr'\n(Did you mean --cluster?)\n" +
      '(run "fluxfleet plan --help" for usage)\n',
  );
  assert.equal(flag.stdout, "", "no help text");
  const command = await run(["plna", file]);
  assert.equal(command.code, 1);
  assert.equal(
    command.stderr,
    "error: unknown command 'plna'\n(Did you mean plan?)\n" +
      '(run "fluxfleet --help" for usage)\n',
  );
  const missing = await run(["apply"]);
  assert.equal(missing.code, 1);
  assert.equal(
    missing.stderr,
    "error: missing required argument 'file'\n" + '(run "fluxfleet apply --help" for usage)\n',
  );
});

Deno.test("--version prints the version of lib/version.ts and the default Flux version", async () => {
  const { VERSION } = await import("../../lib/version.ts");
  const { DEFAULT_FLUX_VERSION } = await import("../../lib/config/defaults.ts");
  for (const flag of ["--version", "-V"]) {
    const r = await run([flag]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `fluxfleet ${VERSION}, Flux ${DEFAULT_FLUX_VERSION} by default\n`);
  }
});

Deno.test("validate --full resolves secrets and kubeconfig contexts, says what it checked, contacts nothing", async () => {
  const { generateKeyPair } = await import("../../lib/keys/generate.ts");
  const server = countingListener();
  const dir = await Deno.makeTempDir({ prefix: "fluxfleet-validate-full-" });
  const token = "canary-validate-full-token-4e2a";
  try {
    const at = `127.0.0.1:${server.port}`;
    const key = await generateKeyPair({ algorithm: "ed25519" });
    await Deno.writeTextFile(`${dir}/key`, key.privateKey, { mode: 0o600 });
    await Deno.writeTextFile(
      `${dir}/kubeconfig`,
      `apiVersion: v1
kind: Config
clusters:
  - name: k
    cluster: { server: "https://${at}" }
users:
  - name: u
    user: { token: kube-token }
contexts:
  - name: a
    context: { cluster: k, user: u }
  - name: b
    context: { cluster: k, user: u }
`,
    );
    // Every server of the manifest, the release download included, is the recorder.
    const manifest = (contextB: string) =>
      `defaults:
  flux: { version: v2.4.0, manifests: "https://${at}/manifests.tar.gz" }
  kube: { kubeconfig: ./kubeconfig }
clusters:
  - name: a
    kube: { context: a }
    path: clusters/a
    git:
      url: https://${at}/fleet.git
      auth: { type: token, token: { env: FF_VALIDATE_TOKEN } }
  - name: b
    kube: { context: ${contextB} }
    flux: { namespace: flux-b } # one API server: two installations need two namespaces
    path: clusters/b
    git:
      url: ssh://git@${at}/fleet.git
      auth: { type: ssh, privateKey: { file: ./key } }
`;
    const file = `${dir}/fleet.yaml`;
    await Deno.writeTextFile(file, manifest("b"));
    const full = (env: Record<string, string>) =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", `${ROOT}main.ts`, "validate", "--full", file],
        env: { NO_COLOR: "1", ...env },
        stdin: "null",
      }).output().then((o) => ({
        code: o.code,
        stdout: new TextDecoder().decode(o.stdout),
        stderr: new TextDecoder().decode(o.stderr),
      }));

    const ok = await full({ FF_VALIDATE_TOKEN: token });
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(
      ok.stdout,
      "ok: 2 clusters: the file, secrets and kubeconfig contexts checked; nothing was contacted " +
        "(plan reaches the git servers and clusters)\n" +
        `  a: git.auth.token ($FF_VALIDATE_TOKEN), kube context a in ${dir}/kubeconfig\n` +
        `  b: git.auth.privateKey (file ./key), kube context b in ${dir}/kubeconfig\n`,
    );

    const noToken = await full({});
    assert.equal(noToken.code, 1);
    assert.equal(
      noToken.stderr,
      `error: ${file}:10:35: cluster "a": git.auth.token: environment variable FF_VALIDATE_TOKEN is not set\n`,
    );

    await Deno.writeTextFile(file, manifest("nope"));
    const noContext = await full({ FF_VALIDATE_TOKEN: token });
    assert.equal(noContext.code, 1);
    assert.match(
      noContext.stderr,
      /cluster "b": kube.context: context "nope" is not in kubeconfig .*\(contexts: a, b\)/,
    );

    for (const r of [ok, noToken, noContext]) {
      assert.ok(!(r.stdout + r.stderr).includes(token), "the token must not be printed");
    }
    assert.equal(server.connections(), 0, "validate --full must contact nothing");
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});
