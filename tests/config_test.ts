/** Manifest validation: every bad input names file:line:column, cluster and field. */
import assert from "node:assert/strict";
import { parseManifest } from "../lib/config/load.ts";
import { ConfigError } from "../lib/config/errors.ts";
import { resolveSecret, type SecretSource } from "../lib/config/secrets.ts";
import { redact } from "../lib/util/redact.ts";

const HEAD = `defaults:
  flux: { version: v2.4.0, manifests: ./install.yaml }
clusters:
  - name: dev
    path: clusters/dev
`;

function errorsOf(text: string): string[] {
  try {
    parseManifest(text, "fleet.yaml");
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e.message.split("\n");
  }
  assert.fail("manifest was accepted");
}

const cases: { name: string; yaml: string; error: string }[] = [
  {
    name: "literal token",
    yaml: HEAD + `    git: { url: "https://g/x.git", auth: { type: token, token: "hunter22" } }\n`,
    error:
      'fleet.yaml:6:64: cluster "dev": git.auth.token: must be a secret reference ({env: NAME}, {file: PATH}, {stdin: true} or {prompt: true}); literal secrets are not allowed in the manifest',
  },
  {
    name: "unknown key",
    yaml: HEAD + `    git: { url: "https://g/x.git" }\n    colour: blue\n`,
    error: 'fleet.yaml:7:5: cluster "dev": colour: unknown key',
  },
  {
    name: "missing url",
    yaml: HEAD + `    git: { branch: main }\n`,
    error: 'fleet.yaml:6:10: cluster "dev": git.url: is required, here or in defaults.git',
  },
  {
    name: "plain http without opt-in",
    yaml: HEAD + `    git: { url: "http://g/x.git" }\n`,
    error:
      'fleet.yaml:6:17: cluster "dev": git.url: plain http:// sends the token unencrypted; use https:// or set git.allowInsecureHttp: true',
  },
  {
    name: "ssh url with token auth",
    yaml: HEAD + `    git: { url: "ssh://git@g/x.git" }\n`,
    error:
      'fleet.yaml:6:17: cluster "dev": git.url: ssh:// URLs need SSH auth (git.auth.type: ssh); token auth works over https://',
  },
  {
    name: "credentials in the URL",
    yaml: HEAD + `    git: { url: "https://me:pw@g/x.git" }\n`,
    error:
      'fleet.yaml:6:17: cluster "dev": git.url: must not contain credentials; use git.auth with a secret reference',
  },
  {
    name: "path escaping the repository",
    yaml: HEAD.replace("clusters/dev", "../outside") + `    git: { url: "https://g/x.git" }\n`,
    error: `fleet.yaml:5:11: cluster "dev": path: must not leave the repository ('..')`,
  },
  {
    name: "wrong type",
    yaml: HEAD + `    git: { url: "https://g/x.git" }\n    flux: { timeout: 5 }\n`,
    error: 'fleet.yaml:7:22: cluster "dev": flux.timeout: must be string',
  },
  {
    name: "bad duration",
    yaml: HEAD + `    git: { url: "https://g/x.git" }\n    flux: { timeout: "-5m" }\n`,
    error: 'fleet.yaml:7:22: cluster "dev": flux.timeout: must be a duration such as 30s, 5m or 1h',
  },
  {
    name: "invalid cluster name",
    yaml: HEAD.replace("name: dev", "name: Dev_1") + `    git: { url: "https://g/x.git" }\n`,
    error:
      "fleet.yaml:4:11: cluster \"Dev_1\": name: must be a DNS-1123 label (lowercase letters, digits and '-', at most 63 characters)",
  },
  {
    name: "duplicate cluster names",
    yaml: HEAD +
      `    git: { url: "https://g/x.git" }\n  - name: dev\n    path: clusters/b\n    git: { url: "https://g/x.git" }\n`,
    error:
      'fleet.yaml:7:11: cluster "dev": name: duplicate cluster name (first used by cluster #1)',
  },
  {
    name: "same repo, branch and path",
    yaml: HEAD +
      `    git: { url: "https://g/x.git" }\n  - name: b\n    path: ./clusters/dev/\n    git: { url: "https://g/x.git" }\n`,
    error:
      'fleet.yaml:8:11: cluster "b": path: same repository, branch and path as cluster "dev": they would overwrite each other\'s files',
  },
  {
    name: "components without kustomize-controller",
    yaml: HEAD +
      `    git: { url: "https://g/x.git" }\n    flux: { components: [source-controller] }\n`,
    error:
      'fleet.yaml:7:25: cluster "dev": flux.components: must include kustomize-controller (Flux cannot sync without it)',
  },
  {
    name: "unknown component",
    yaml: HEAD +
      `    git: { url: "https://g/x.git" }\n    flux: { components: [source-controller, foo] }\n`,
    error:
      'fleet.yaml:7:45: cluster "dev": flux.components[1]: must be one of: source-controller, kustomize-controller, helm-controller, notification-controller',
  },
  {
    name: "malformed YAML",
    yaml: HEAD + `    git: { url: "https://g/x.git"\n`,
    error: "fleet.yaml:7:1: invalid YAML:",
  },
  {
    name: "no clusters",
    yaml: "clusters: []\n",
    error: "fleet.yaml:1:11: clusters: must NOT have fewer than 1 items",
  },
  {
    name: "unknown top-level key",
    yaml: HEAD + `    git: { url: "https://g/x.git" }\nextra: 1\n`,
    error: "fleet.yaml:7:1: extra: unknown key",
  },
  {
    name: "unknown auth type",
    yaml: HEAD + `    git: { url: "https://g/x.git", auth: { type: basic } }\n`,
    error: 'fleet.yaml:6:50: cluster "dev": git.auth.type: must be one of: token',
  },
  {
    name: "CodeCommit URL with the git user",
    yaml: HEAD +
      `    git: { url: "ssh://git@git-codecommit.eu-west-1.amazonaws.com/v1/repos/fleet", auth: { type: ssh, privateKey: { file: ./k } } }\n`,
    error:
      'fleet.yaml:6:17: cluster "dev": git.url: AWS CodeCommit needs the SSH key ID (SSHPublicKeyId, e.g. APKAEIBAERJR2EXAMPLE) as the URL\'s user, not git',
  },
  {
    name: "SSH auth with an https URL",
    yaml: HEAD +
      `    git: { url: "https://g/x.git", auth: { type: ssh, privateKey: { file: ./k } } }\n`,
    error:
      'fleet.yaml:6:17: cluster "dev": git.url: SSH auth needs an ssh:// (or user@host:path) URL',
  },
  {
    name: "SSH auth without a private key",
    yaml: HEAD + `    git: { url: "ssh://git@g/x.git", auth: { type: ssh } }\n`,
    error: 'fleet.yaml:6:44: cluster "dev": git.auth.privateKey: is required',
  },
  {
    name: "literal private key",
    yaml: HEAD +
      `    git: { url: "ssh://git@g/x.git", auth: { type: ssh, privateKey: "-----BEGIN OPENSSH PRIVATE KEY-----" } }\n`,
    error: 'fleet.yaml:6:69: cluster "dev": git.auth.privateKey: must be a secret reference',
  },
  {
    name: "RSA bits out of range",
    yaml: HEAD +
      `    git: { url: "https://g/x.git", sshHostname: ssh.g, sshKey: { algorithm: rsa, rsaBits: 1024 } }\n`,
    error: 'fleet.yaml:6:91: cluster "dev": git.sshKey.rsaBits: must be >= 2048',
  },
  {
    name: "unknown key algorithm",
    yaml: HEAD +
      `    git: { url: "https://g/x.git", sshHostname: ssh.g, sshKey: { algorithm: dsa } }\n`,
    error:
      'fleet.yaml:6:77: cluster "dev": git.sshKey.algorithm: must be one of: ed25519, ecdsa, rsa',
  },
  {
    name: "ECDSA curve with an RSA key",
    yaml: HEAD +
      `    git: { url: "https://g/x.git", sshHostname: ssh.g, sshKey: { algorithm: rsa, ecdsaCurve: p256 } }\n`,
    error:
      'fleet.yaml:6:17: cluster "dev": git.url: sshKey.ecdsaCurve is only for algorithm ecdsa, not rsa',
  },
  {
    name: "sshKey without sshHostname",
    yaml: HEAD + `    git: { url: "https://g/x.git", sshKey: { algorithm: ed25519 } }\n`,
    error: 'fleet.yaml:6:17: cluster "dev": git.url: sshKey needs sshHostname',
  },
  {
    name: "bad knownHosts",
    yaml: HEAD +
      `    git: { url: "ssh://git@g/x.git", auth: { type: ssh, privateKey: { file: k } }, knownHosts: { fetch: yes } }\n`,
    error:
      'fleet.yaml:6:96: cluster "dev": git.knownHosts: must be {scan: true}, {file: PATH} or {lines: TEXT}',
  },
  {
    name: "Bitbucket Cloud host for the Bitbucket Server provider",
    yaml: HEAD +
      `    git: { provider: bitbucket-server, hostname: bitbucket.org, owner: me, personal: true, repository: fleet }\n`,
    error:
      'fleet.yaml:6:50: cluster "dev": git.hostname: Bitbucket Cloud (bitbucket.org) is not Bitbucket Server: use provider: generic',
  },
  {
    name: "Bitbucket project repository without username",
    yaml: HEAD +
      `    git: { provider: bitbucket-server, hostname: bb.example.com, owner: PROJ, repository: fleet }\n`,
    error:
      'fleet.yaml:4:11: cluster "dev": git.username: is required for a project repository (the user that owns the token); or set personal: true',
  },
  {
    name: "Bitbucket without a repository",
    yaml: HEAD +
      `    git: { provider: bitbucket-server, hostname: bb.example.com, owner: me, personal: true }\n`,
    error:
      'fleet.yaml:4:11: cluster "dev": git.repository: is required for provider: bitbucket-server',
  },
  {
    name: "unknown key in git.signing.ssh",
    yaml: HEAD +
      `    git: { url: "https://g/x.git", signing: { ssh: { key: { env: K }, colour: 1 } } }\n`,
    error: 'fleet.yaml:6:71: cluster "dev": git.signing.ssh.colour: unknown key',
  },
  {
    name: "unknown signing format",
    yaml: HEAD + `    git: { url: "https://g/x.git", signing: { x509: { key: { env: K } } } }\n`,
    error: 'fleet.yaml:6:47: cluster "dev": git.signing.x509: unknown key',
  },
  {
    name: "both gpg and ssh signing",
    yaml: HEAD +
      `    git: { url: "https://g/x.git", signing: { ssh: { key: { env: K } }, gpg: { keyRing: { env: R } } } }\n`,
    error:
      'fleet.yaml:6:45: cluster "dev": git.signing: must be exactly one of {gpg: {keyRing: …}} or {ssh: {key: …}}',
  },
  {
    name: "empty signing",
    yaml: HEAD + `    git: { url: "https://g/x.git", signing: {} }\n`,
    error:
      'fleet.yaml:6:45: cluster "dev": git.signing: must be exactly one of {gpg: {keyRing: …}} or {ssh: {key: …}}',
  },
  {
    name: "literal SSH signing key",
    yaml: HEAD +
      `    git: { url: "https://g/x.git", signing: { ssh: { key: "-----BEGIN OPENSSH PRIVATE KEY-----" } } }\n`,
    error: 'fleet.yaml:6:59: cluster "dev": git.signing.ssh.key: must be a secret reference',
  },
  {
    name: "GPG signing without a key ring",
    yaml: HEAD +
      `    git: { url: "https://g/x.git", signing: { gpg: { passphrase: { env: P } } } }\n`,
    error: 'fleet.yaml:6:52: cluster "dev": git.signing.gpg.keyRing: is required',
  },
  {
    name: "short GPG key id",
    yaml: HEAD +
      `    git: { url: "https://g/x.git", signing: { gpg: { keyRing: { file: ./ring.asc }, keyId: "ABCD" } } }\n`,
    error:
      'fleet.yaml:6:92: cluster "dev": git.signing.gpg.keyId: must be a long OpenPGP key id: 16 hex digits',
  },
  {
    name: "signing with the system git transport",
    yaml: HEAD +
      `    git: { url: "ssh://git@g/x.git", transport: system, auth: { type: ssh, privateKey: { file: ./k } }, signing: { ssh: { key: { file: ./k } } } }\n`,
    error:
      'fleet.yaml:6:114: cluster "dev": git.signing: is not supported with transport: system (the git binary makes the commit there)',
  },
  {
    name: "registry credentials without an image pull secret",
    yaml: HEAD +
      `    git: { url: "https://g/x.git" }\n    flux: { registryCredentials: { username: bot, password: { env: REG_PASSWORD } } }\n`,
    error:
      'fleet.yaml:7:34: cluster "dev": flux.imagePullSecret: is required with flux.registryCredentials: it names the dockerconfigjson secret fluxfleet creates',
  },
  {
    name: "registry credentials in defaults, no image pull secret anywhere",
    yaml: HEAD.replace(
      "manifests: ./install.yaml }",
      "manifests: ./install.yaml, registryCredentials: { username: bot, password: { env: R } } }",
    ) + `    git: { url: "https://g/x.git" }\n`,
    error: 'fleet.yaml:2:76: cluster "dev": flux.imagePullSecret: is required with',
  },
  {
    name: "literal registry password",
    yaml: HEAD +
      `    git: { url: "https://g/x.git" }\n    flux: { imagePullSecret: regcred, registryCredentials: { username: bot, password: "hunter22" } }\n`,
    error:
      'fleet.yaml:7:87: cluster "dev": flux.registryCredentials.password: must be a secret reference',
  },
  {
    name: "registry user name with a colon",
    yaml: HEAD +
      `    git: { url: "https://g/x.git" }\n    flux: { imagePullSecret: regcred, registryCredentials: { username: "a:b", password: { env: R } } }\n`,
    error:
      `fleet.yaml:7:72: cluster "dev": flux.registryCredentials.username: must be a user name without ':'`,
  },
  {
    name: "image pull secret named like the source secret",
    yaml: HEAD +
      `    git: { url: "https://g/x.git" }\n    flux: { imagePullSecret: flux-system, registryCredentials: { username: bot, password: { env: R } } }\n`,
    error:
      'fleet.yaml:7:30: cluster "dev": flux.imagePullSecret: "flux-system" is also the source secret\'s name (flux.secretName)',
  },
  {
    name: "unknown source provider",
    yaml: HEAD + `    git: { url: "https://g/x.git" }\n    flux: { sourceProvider: gitlab }\n`,
    error:
      'fleet.yaml:7:29: cluster "dev": flux.sourceProvider: must be one of: generic, azure, github',
  },
  {
    name: "recurseSubmodules not a boolean",
    yaml: HEAD + `    git: { url: "https://g/x.git" }\n    flux: { recurseSubmodules: "yes" }\n`,
    error: 'fleet.yaml:7:32: cluster "dev": flux.recurseSubmodules: must be boolean',
  },
  {
    name: "Bitbucket fields on the generic provider",
    yaml: HEAD + `    git: { url: "https://g/x.git", owner: me }\n`,
    error: 'fleet.yaml:6:43: cluster "dev": git.owner: is only for provider: bitbucket-server',
  },
  {
    name: "plain http:// flux.manifests without flux.allowInsecureHttp",
    yaml: HEAD +
      `    git: { url: "https://g/x.git" }\n    flux: { manifests: "http://m/install.yaml" }\n`,
    error:
      'fleet.yaml:7:24: cluster "dev": flux.manifests: plain http:// lets anyone on the way change what is installed; use https://, or set flux.allowInsecureHttp: true and pin the download with flux.manifestsSha256',
  },
  {
    name: "plain http:// flux.manifests inherited from defaults",
    yaml: HEAD.replace("./install.yaml", "http://m/manifests.tar.gz") +
      `    git: { url: "https://g/x.git" }\n`,
    error:
      'fleet.yaml:2:39: cluster "dev": flux.manifests: plain http:// lets anyone on the way change what is installed',
  },
];

for (const c of cases) {
  Deno.test(`bad manifest: ${c.name}`, () => {
    const errors = errorsOf(c.yaml);
    assert.ok(
      errors.some((e) => e.startsWith(c.error)),
      `expected an error starting with\n  ${c.error}\ngot\n  ${errors.join("\n  ")}`,
    );
  });
}

Deno.test("flux.allowInsecureHttp allows a plain http:// flux.manifests (here or in defaults)", () => {
  const own = parseManifest(
    HEAD +
      `    git: { url: "https://g/x.git" }\n    flux: { manifests: "http://m/i.yaml", allowInsecureHttp: true }\n`,
    "fleet.yaml",
  );
  assert.equal(own.clusters[0].flux.manifests, "http://m/i.yaml");
  assert.equal(own.clusters[0].flux.allowInsecureHttp, true);
  const inherited = parseManifest(
    HEAD.replace(
      "manifests: ./install.yaml",
      "manifests: http://m/i.yaml, allowInsecureHttp: true",
    ) +
      `    git: { url: "https://g/x.git" }\n`,
    "fleet.yaml",
  );
  assert.equal(inherited.clusters[0].flux.allowInsecureHttp, true);
  // Not needed (and not set) for https:// or local files.
  const https = parseManifest(HEAD + `    git: { url: "https://g/x.git" }\n`, "fleet.yaml");
  assert.equal(https.clusters[0].flux.allowInsecureHttp, undefined);
});

Deno.test("several problems are all reported at once", () => {
  const errors = errorsOf(
    HEAD +
      `    git: { url: "https://g/x.git", auth: { type: token, token: "x" } }\n    colour: 1\n`,
  );
  assert.equal(errors.length, 2);
});

Deno.test("defaults apply and cluster values win", () => {
  const m = parseManifest(
    `defaults:
  flux: { version: v2.4.0, manifests: ./install.yaml, interval: 5m, timeout: 2m }
  git: { branch: prod, author: { name: A, email: a@example.com } }
clusters:
  - name: dev
    path: ./clusters/dev/
    git: { url: "https://g/x.git", branch: dev }
`,
    "/tmp/fleet/fleet.yaml",
  );
  const c = m.clusters[0];
  assert.equal(c.path, "clusters/dev");
  assert.equal(c.git.branch, "dev");
  assert.deepEqual(c.git.author, { name: "A", email: "a@example.com" });
  assert.deepEqual(c.git.auth, { type: "token", username: "git", token: { env: "GIT_PASSWORD" } });
  assert.equal(c.flux.manifests, "/tmp/fleet/install.yaml");
  assert.equal(c.flux.timeoutMs, 120_000);
  assert.equal(c.flux.namespace, "flux-system");
});

Deno.test("flux.manifests defaults to the release archive of flux.version, as flux downloads it", () => {
  const m = parseManifest(
    `clusters:
  - name: dev
    path: clusters/dev
    flux: { version: v2.3.0 }
    git: { url: "https://g/x.git" }
  - name: prod
    path: clusters/prod
    git: { url: "https://g/x.git" }
`,
    "/tmp/fleet/fleet.yaml",
  );
  assert.equal(
    m.clusters[0].flux.manifests,
    "https://github.com/fluxcd/flux2/releases/download/v2.3.0/manifests.tar.gz",
  );
  assert.equal(m.clusters[1].flux.version, "v2.4.0");
  assert.equal(
    m.clusters[1].flux.manifests,
    "https://github.com/fluxcd/flux2/releases/download/v2.4.0/manifests.tar.gz",
  );
});

Deno.test("git.signing: inherited from defaults like author, a cluster's own replaces it", () => {
  const m = parseManifest(
    `defaults:
  flux: { version: v2.4.0, manifests: ./install.yaml }
  git:
    url: "https://g/x.git"
    signing: { gpg: { keyRing: { file: ./ring.asc }, passphrase: { env: GPG_PASS }, keyId: "0x3AA5C34371567BD2" } }
clusters:
  - name: a
    path: clusters/a
  - name: b
    path: clusters/b
    git: { signing: { ssh: { key: { env: SIGNING_KEY } } } }
  - name: c
    path: clusters/c
    git: { branch: other }
`,
    "/tmp/fleet/fleet.yaml",
  );
  const [a, b] = m.clusters;
  assert.deepEqual(a.git.signing, {
    gpg: {
      keyRing: { file: "./ring.asc" },
      passphrase: { env: "GPG_PASS" },
      keyId: "0x3AA5C34371567BD2",
    },
  });
  assert.deepEqual(b.git.signing, { ssh: { key: { env: "SIGNING_KEY" } } });
  assert.deepEqual(m.clusters[2].git.signing, a.git.signing);
  const unsigned = parseManifest(HEAD + `    git: { url: "https://g/x.git" }\n`, "fleet.yaml");
  assert.equal(unsigned.clusters[0].git.signing, undefined);
});

Deno.test("recurseSubmodules, sourceProvider, registryCredentials: defaults, inherited, a cluster's own wins", () => {
  const m = parseManifest(
    `defaults:
  flux:
    version: v2.4.0
    manifests: ./install.yaml
    imagePullSecret: regcred
    registryCredentials: { username: bot, password: { env: REG_PASSWORD } }
    sourceProvider: azure
  git: { url: "https://g/x.git" }
clusters:
  - name: a
    path: clusters/a
  - name: b
    path: clusters/b
    flux: { recurseSubmodules: true, sourceProvider: github, registryCredentials: { username: other, password: { file: ./reg } } }
`,
    "/tmp/fleet/fleet.yaml",
  );
  const [a, b] = m.clusters;
  assert.equal(a.flux.recurseSubmodules, false);
  assert.equal(a.flux.sourceProvider, "azure");
  assert.deepEqual(a.flux.registryCredentials, {
    username: "bot",
    password: { env: "REG_PASSWORD" },
  });
  assert.equal(b.flux.recurseSubmodules, true);
  assert.equal(b.flux.sourceProvider, "github");
  assert.deepEqual(b.flux.registryCredentials, { username: "other", password: { file: "./reg" } });
  assert.equal(b.flux.imagePullSecret, "regcred");
  const plain = parseManifest(HEAD + `    git: { url: "https://g/x.git" }\n`, "fleet.yaml");
  assert.equal(plain.clusters[0].flux.recurseSubmodules, false);
  assert.equal(plain.clusters[0].flux.sourceProvider, undefined);
  assert.equal(plain.clusters[0].flux.registryCredentials, undefined);
});

const noInput: SecretSource = {
  readStdin: () => Promise.resolve(""),
  env: () => undefined,
};

Deno.test("secret references: missing env var and unreadable file name cluster and field", async () => {
  await assert.rejects(
    resolveSecret({ env: "NOPE_TOKEN" }, 'cluster "dev": git.auth.token', "/tmp", noInput),
    /cluster "dev": git.auth.token: environment variable NOPE_TOKEN is not set/,
  );
  await assert.rejects(
    resolveSecret({ file: "missing.txt" }, 'cluster "dev": git.auth.token', "/tmp", noInput),
    /cluster "dev": git.auth.token: cannot read secret file \/tmp\/missing.txt/,
  );
  await assert.rejects(
    resolveSecret({ prompt: true }, 'cluster "dev": git.auth.token', "/tmp", noInput),
    /there is no terminal/,
  );
});

Deno.test("secret references: stdin is read once and shared; values are redacted afterwards", async () => {
  let reads = 0;
  const piped: SecretSource = {
    readStdin: () => {
      reads++;
      return Promise.resolve("piped-canary-value\n");
    },
    env: () => undefined,
  };
  const v = await resolveSecret({ stdin: true }, "t", "/tmp", piped);
  assert.equal(v, "piped-canary-value");
  assert.equal(reads, 1);
  assert.equal(redact("token=piped-canary-value!"), "token=***!");
  assert.equal(redact("https://u:pw@host/x"), "https://u:***@host/x");
});
