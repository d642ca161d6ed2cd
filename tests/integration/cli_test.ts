/** The CLI's own surface: validate, schema, usage errors. */
import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url).pathname;

async function run(args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}main.ts`, ...args],
    stdin: "null",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("validate: the example manifest is ok", async () => {
  const r = await run(["validate", `${ROOT}fixtures/flux-bootstrap.example.yaml`]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "ok: 2 clusters\n");
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
  ]
) {
  Deno.test(`validate: fixture ${fixture} is ok`, async () => {
    const r = await run(["validate", `${ROOT}fixtures/${fixture}`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ok: \d+ clusters?\n$/);
  });
}

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

Deno.test("--selector that matches nothing is an error, a bad selector too", async () => {
  const file = `${ROOT}fixtures/flux-bootstrap.example.yaml`;
  const none = await run(["plan", "--selector", "env=staging", file]);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /no cluster matches --cluster\/--selector/);
  const bad = await run(["plan", "--selector", "env", file]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /--selector: "env" is not key=value/);
});
