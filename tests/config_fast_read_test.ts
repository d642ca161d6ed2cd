/**
 * The manifest read without the `yaml` package's document model (lib/config/fast_read.ts, issue
 * 19): whatever the loader accepted it still accepts with the same value, whatever it refused it
 * still refuses with the same message at the same file:line:col — for the YAML where js-yaml and
 * `yaml` could differ too. The expected outcomes are the loader's before the fast read.
 */
import assert from "node:assert/strict";
import { parseDocument } from "yaml";
import { parseManifest } from "../lib/config/load.ts";
import { ConfigError } from "../lib/config/errors.ts";
import { readManifestFast } from "../lib/config/fast_read.ts";
import { resolveCredentials } from "../lib/apply/credentials.ts";
import type { SecretSource } from "../lib/config/secrets.ts";

const HEAD = `defaults:
  git: &git { url: "https://g/x.git" }
clusters:
  - name: dev
    path: clusters/dev
`;

type Outcome =
  | { error: string }
  | { labels: Record<string, string>[]; paths: string[]; locate: unknown };

const DEV_PATH = { file: "fleet.yaml", line: 5, col: 11 };
const dev = (labels: Record<string, string>): Outcome => ({
  labels: [labels],
  paths: ["clusters/dev"],
  locate: DEV_PATH,
});

const cases: { name: string; yaml: string; outcome: Outcome }[] = [
  {
    name: "duplicate key",
    yaml: HEAD + "    path: clusters/other\n",
    outcome: { error: "fleet.yaml:6:5: invalid YAML: Map keys must be unique" },
  },
  {
    name: "anchor and alias",
    yaml:
      `defaults:\n  flux: { version: v2.4.0 }\nclusters:\n  - name: dev\n    path: clusters/dev\n    git: &git { url: "https://g/x.git", branch: fleet }\n  - name: prod\n    path: clusters/prod\n    git: *git\n`,
    outcome: { labels: [{}, {}], paths: ["clusters/dev", "clusters/prod"], locate: DEV_PATH },
  },
  {
    name: "merge key (YAML 1.2: a plain key)",
    yaml: HEAD + "  - name: prod\n    <<: { path: clusters/prod }\n    git: *git\n",
    outcome: {
      error:
        'fleet.yaml:6:5: cluster "prod": path: is required\nfleet.yaml:7:5: cluster "prod": <<: unknown key',
    },
  },
  {
    name: "!!str tag",
    yaml: HEAD.replace("path: clusters/dev", "path: !!str clusters/dev"),
    outcome: { ...dev({}), locate: { file: "fleet.yaml", line: 5, col: 17 } },
  },
  {
    name: "custom tag",
    yaml: HEAD.replace("path: clusters/dev", "path: !dir clusters/dev"),
    outcome: { ...dev({}), locate: { file: "fleet.yaml", line: 5, col: 16 } },
  },
  {
    name: "YAML 1.1 booleans stay strings",
    yaml: HEAD + "    labels: { tier: yes, canary: on, off: no }\n",
    outcome: dev({ tier: "yes", canary: "on", off: "no" }),
  },
  {
    name: "octal-looking number",
    yaml: HEAD + "    labels: { mode: 0755 }\n",
    outcome: { error: 'fleet.yaml:6:21: cluster "dev": labels.mode: must be string' },
  },
  {
    name: "quoted numbers",
    yaml: HEAD + '    labels: { mode: "0755", hex: "0x1F" }\n',
    outcome: dev({ mode: "0755", hex: "0x1F" }),
  },
  {
    name: "boolean value",
    yaml: HEAD + "    labels: { canary: true }\n",
    outcome: { error: 'fleet.yaml:6:23: cluster "dev": labels.canary: must be string' },
  },
  {
    name: "a second document",
    yaml: HEAD + "---\nclusters: []\n",
    outcome: {
      error:
        "fleet.yaml:6:1: more than one YAML document (a second ---); a manifest is one document",
    },
  },
  {
    name: "document end, then another",
    yaml: "---\n" + HEAD + "...\n---\n" + HEAD,
    outcome: {
      error:
        "fleet.yaml:8:1: more than one YAML document (a second ---); a manifest is one document",
    },
  },
  { name: "null key", yaml: HEAD + "    labels: { ~: x }\n", outcome: dev({ "": "x" }) },
  { name: "number key", yaml: HEAD + "    labels: { 1: x }\n", outcome: dev({ "1": "x" }) },
  {
    name: "complex key",
    yaml: HEAD + "    labels:\n      ? tier\n      : web\n",
    outcome: dev({ tier: "web" }),
  },
  {
    name: "%YAML 1.1 directive",
    yaml: "%YAML 1.1\n---\n" + HEAD + "    labels: { tier: yes }\n",
    outcome: { error: 'fleet.yaml:8:21: cluster "dev": labels.tier: must be string' },
  },
  {
    name: "__proto__ key",
    yaml: HEAD + "    labels: { __proto__: x }\n",
    outcome: dev({ ["__proto__"]: "x" }),
  },
  {
    name: "flow sequence as a key",
    yaml: HEAD + "    labels: { [a, b]: x }\n",
    outcome: dev({ "[ a, b ]": "x" }),
  },
  {
    name: "tab indentation",
    yaml: HEAD + "    labels:\n\t  tier: web\n",
    outcome: { error: "fleet.yaml:7:1: invalid YAML: Tabs are not allowed as indentation" },
  },
];

function outcomeOf(text: string): Outcome {
  try {
    const m = parseManifest(text, "fleet.yaml");
    return {
      labels: m.clusters.map((c) => c.labels),
      paths: m.clusters.map((c) => c.path),
      locate: m.locate?.("dev", "path"),
    };
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return { error: e.message };
  }
}

for (const c of cases) {
  Deno.test(`manifest YAML where js-yaml and yaml may differ: ${c.name}`, () => {
    // labels as the loader resolves them: compared as plain entries (a `__proto__` key too).
    const got = outcomeOf(c.yaml);
    if ("labels" in got) got.labels = got.labels.map((l) => ({ ...l }));
    assert.deepEqual(JSON.parse(JSON.stringify(got)), JSON.parse(JSON.stringify(c.outcome)));
    // The fast read gives the `yaml` package's value, or leaves the file to it.
    const fast = readManifestFast(c.yaml);
    if (fast !== undefined) {
      const doc = parseDocument(c.yaml, { uniqueKeys: true });
      assert.deepEqual(doc.errors, []);
      assert.deepEqual(fast, doc.toJS());
    }
  });
}

/** The repository's manifests (fixtures/, examples/) and a fleet of 100: what a plan reads. */
async function realManifests(): Promise<[string, string][]> {
  const out: [string, string][] = [];
  for (const dir of ["fixtures", "examples/github-actions"]) {
    const root = new URL(`../${dir}/`, import.meta.url);
    for await (const e of Deno.readDir(root)) {
      if (!e.isFile || !e.name.endsWith(".yaml") || e.name === "flux-install.yaml") continue;
      out.push([`${dir}/${e.name}`, await Deno.readTextFile(new URL(e.name, root))]);
    }
  }
  const fleet = ["defaults:", '  git: { url: "https://g.example/fleet-0.git", branch: main }'];
  fleet.push("  kube: { kubeconfig: ./kubeconfig }", "clusters:");
  for (let i = 0; i < 100; i++) {
    fleet.push(`  - name: c${i}`, `    path: clusters/c${i}`, `    kube: { context: c${i} }`);
    fleet.push(`    labels: { env: prod, shard: "${i % 4}" }`);
  }
  out.push(["a fleet of 100", fleet.join("\n") + "\n"]);
  return out;
}

Deno.test("the repository's manifests and a fleet of 100 are read the fast way, to the value the yaml package gives", async () => {
  const manifests = await realManifests();
  assert.ok(manifests.length > 10, "the fixtures were found");
  for (const [name, text] of manifests) {
    const fast = readManifestFast(text);
    assert.notEqual(fast, undefined, `${name} is left to the yaml package`);
    assert.deepEqual(fast, parseDocument(text).toJS(), name);
  }
});

Deno.test("credentials that resolve never ask where their settings are written (locating builds the manifest's document model); a bad one still names its place", async () => {
  const manifest = parseManifest(
    HEAD +
      "    flux: { imagePullSecret: regcred, registryCredentials: { username: bot, password: { env: REG_PW } } }\n",
    "fleet.yaml",
  );
  const [c] = manifest.clusters;
  const asked: string[] = [];
  const name = (field: string) => {
    asked.push(field);
    const at = manifest.locate?.(c.name, field);
    return `${at?.file}:${at?.line}:${at?.col}: cluster "${c.name}": ${field}`;
  };
  const env = (vars: Record<string, string>): SecretSource => ({
    env: (n) => vars[n],
    readStdin: () => Promise.resolve(""),
  });
  const creds = await resolveCredentials(
    c,
    "/tmp",
    env({ GIT_PASSWORD: "token-12345", REG_PW: "registry-pw" }),
    name,
  );
  assert.equal(creds.kind === "token" && creds.token, "token-12345");
  assert.deepEqual(asked, []);
  await assert.rejects(
    resolveCredentials(c, "/tmp", env({ GIT_PASSWORD: "token-12345" }), name),
    {
      message:
        'fleet.yaml:6:87: cluster "dev": flux.registryCredentials.password: environment variable REG_PW is not set',
    },
  );
});
