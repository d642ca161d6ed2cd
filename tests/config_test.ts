/** Manifest validation: every bad input names file:line:column, cluster and field. */
import assert from "node:assert/strict";
import { DEFAULT_FLUX_VERSION, loadManifest, parseManifest } from "../lib/config/load.ts";
import { ConfigError, describeField, formatProblem } from "../lib/config/errors.ts";
import { resolveCredentials } from "../lib/apply/credentials.ts";
import { manifestSchema } from "../lib/config/schema.ts";
import { repositoryKey } from "../lib/git/url.ts";
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
    name: "deploy key titles that collide in one repository (dev + clusters/eu, dev-clusters + eu)",
    yaml: HEAD.replace("path: clusters/dev", "path: clusters/eu") +
      `    git: { url: "https://g/x.git" }\n  - name: dev-clusters\n    path: eu\n    git: { url: "https://g/x.git" }\n`,
    error:
      'fleet.yaml:7:11: cluster "dev-clusters": name: its deploy key would be titled "fluxfleet-dev-clusters-eu-flux-system" in the repository, as cluster "dev"\'s is: rename one of them or move its path',
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
  }, // Issue 13 item 8: paths and URLs that are not what they look like.
  {
    name: "path with a .git component",
    yaml: HEAD.replace("clusters/dev", "clusters/.git/hooks") +
      `    git: { url: "https://g/x.git" }\n`,
    error:
      'fleet.yaml:5:11: cluster "dev": path: must not contain a .git folder (git keeps its own data there)',
  },
  {
    name: "path with .GIT in other capitals and a trailing dot (Windows drops it)",
    yaml: HEAD.replace("clusters/dev", "clusters/.GIT./x") +
      `    git: { url: "https://g/x.git" }\n`,
    error: 'fleet.yaml:5:11: cluster "dev": path: must not contain a .git folder',
  },
  {
    name: "path with a NUL character",
    yaml: HEAD.replace("clusters/dev", '"clusters/dev\\0x"') +
      `    git: { url: "https://g/x.git" }\n`,
    error: 'fleet.yaml:5:11: cluster "dev": path: must not contain control characters',
  },
  {
    name: "path with a line break",
    yaml: HEAD.replace("clusters/dev", '"clusters/dev\\nx"') +
      `    git: { url: "https://g/x.git" }\n`,
    error: 'fleet.yaml:5:11: cluster "dev": path: must not contain control characters',
  },
  {
    name: "path with backslashes",
    yaml: HEAD.replace("clusters/dev", '"clusters\\\\..\\\\..\\\\x"') +
      `    git: { url: "https://g/x.git" }\n`,
    error: `fleet.yaml:5:11: cluster "dev": path: must use '/' between folders, not '\\'`,
  },
  {
    name: "absolute path",
    yaml: HEAD.replace("clusters/dev", "/etc/flux") + `    git: { url: "https://g/x.git" }\n`,
    error: 'fleet.yaml:5:11: cluster "dev": path: must be relative to the repository root',
  },
  {
    name: "Windows drive path",
    yaml: HEAD.replace("clusters/dev", '"C:/fleet"') + `    git: { url: "https://g/x.git" }\n`,
    error: 'fleet.yaml:5:11: cluster "dev": path: must be relative to the repository root',
  },
  {
    name: "ext:: URL with SSH auth (git would run a shell command)",
    yaml: HEAD +
      `    git: { url: "ext::sh -c touch% /tmp/pwned", auth: { type: ssh, privateKey: { file: ./k } } }\n`,
    error:
      'fleet.yaml:6:17: cluster "dev": git.url: "ext::" makes git run the remote helper git-remote-ext instead of a network transport; use an https:// or ssh:// URL',
  },
  {
    name: "ext:: URL with the system git transport",
    yaml: HEAD +
      `    git: { url: "ext::ssh -o ProxyCommand=x %S", transport: system, auth: { type: ssh, privateKey: { file: ./k } } }\n`,
    error: 'fleet.yaml:6:17: cluster "dev": git.url: "ext::" makes git run the remote helper',
  },
  {
    name: "ext:: URL with token auth",
    yaml: HEAD + `    git: { url: "ext::sh -c id" }\n`,
    error: 'fleet.yaml:6:17: cluster "dev": git.url: "ext::" makes git run the remote helper',
  },
  {
    name: "fd:: URL",
    yaml: HEAD +
      `    git: { url: "fd::17", auth: { type: ssh, privateKey: { file: ./k } } }\n`,
    error:
      'fleet.yaml:6:17: cluster "dev": git.url: "fd::" makes git run the remote helper git-remote-fd',
  },
  {
    name: "another remote helper (foo::bar)",
    yaml: HEAD +
      `    git: { url: "foo::bar", auth: { type: ssh, privateKey: { file: ./k } } }\n`,
    error:
      'fleet.yaml:6:17: cluster "dev": git.url: "foo::" makes git run the remote helper git-remote-foo',
  },
  {
    name: "file:// URL",
    yaml: HEAD +
      `    git: { url: "file:///srv/git/fleet.git", auth: { type: ssh, privateKey: { file: ./k } } }\n`,
    error:
      'fleet.yaml:6:17: cluster "dev": git.url: file:// is a repository on this machine; fluxfleet and the cluster need a network URL',
  },
  {
    name: "plain local path",
    yaml: HEAD +
      `    git: { url: "/srv/git/fleet.git", auth: { type: ssh, privateKey: { file: ./k } } }\n`,
    error:
      'fleet.yaml:6:17: cluster "dev": git.url: is a local path; fluxfleet and the cluster need a network URL (https:// or ssh://)',
  },
  {
    name: "relative local path that looks scp-like",
    yaml: HEAD +
      `    git: { url: "./repos/a:b", auth: { type: ssh, privateKey: { file: ./k } } }\n`,
    error: 'fleet.yaml:6:17: cluster "dev": git.url: is a local path',
  },
  {
    name: "URL with a line break (URL parsers drop it, git does not)",
    yaml: HEAD + `    git: { url: "https://g/x\\n.git" }\n`,
    error:
      'fleet.yaml:6:17: cluster "dev": git.url: must not contain line breaks or other control characters',
  },
  {
    name: "URL with a leading space",
    yaml: HEAD + `    git: { url: " https://g/x.git" }\n`,
    error: 'fleet.yaml:6:17: cluster "dev": git.url: must not start or end with spaces',
  },
  {
    name: "SSH host that is an ssh option",
    yaml: HEAD +
      `    git: { url: "ssh://-oProxyCommand=touch%20x/repo", auth: { type: ssh, privateKey: { file: ./k } } }\n`,
    error: `fleet.yaml:6:17: cluster "dev": git.url: the host must not start with '-'`,
  },
  {
    name: "scp-like host that is an ssh option",
    yaml: HEAD +
      `    git: { url: "-oProxyCommand=x:repo", auth: { type: ssh, privateKey: { file: ./k } } }\n`,
    error: `fleet.yaml:6:17: cluster "dev": git.url: the host must not start with '-'`,
  },
  {
    name: "sshUser that would break the cluster's URL",
    yaml: HEAD + `    git: { url: "https://g/x.git", sshHostname: ssh.g, sshUser: "-oX@evil" }\n`,
    error: `fleet.yaml:6:65: cluster "dev": git.sshUser: must be a user name without '@'`,
  },
  // Issue 14 item 8: one repository, however its URL is spelled.
  ...[
    ["/fleet", "/fleet.git"],
    ["https://g/fleet.git", "https://G.example.com:443/fleet.git/"],
    ["https://g/fleet.git", "HTTPS://g/fleet"],
  ].map(([a, b]) => {
    const [urlA, urlB] = a.startsWith("/")
      ? [`https://g.example.com${a}`, `https://g.example.com${b}`]
      : [a.replace("//g/", "//g.example.com/"), b.replace("//g/", "//g.example.com/")];
    return {
      name: `same repository and path: ${urlA} and ${urlB}`,
      yaml: HEAD + `    git: { url: "${urlA}" }\n  - name: b\n    path: clusters/dev\n` +
        `    git: { url: "${urlB}" }\n`,
      error:
        'fleet.yaml:8:11: cluster "b": path: same repository, branch and path as cluster "dev"',
    };
  }),
  {
    name: "same repository and path: scp-like and ssh:// with another user (CodeCommit key ids)",
    yaml: HEAD +
      `    git: { url: "APKAAAAAAAAAAAAAAAA1@git-codecommit.eu-west-1.amazonaws.com:v1/repos/fleet", auth: { type: ssh, privateKey: { file: ./k } } }\n` +
      `  - name: b\n    path: ./clusters/dev\n` +
      `    git: { url: "ssh://APKAAAAAAAAAAAAAAAA2@GIT-CODECOMMIT.eu-west-1.amazonaws.com:22/v1/repos/fleet", auth: { type: ssh, privateKey: { file: ./k } } }\n`,
    error: 'fleet.yaml:8:11: cluster "b": path: same repository, branch and path as cluster "dev"',
  },
  {
    name: "same Bitbucket repository and path: by provider and by its clone URL",
    yaml: HEAD +
      `    git: { provider: bitbucket-server, hostname: bb.example.com, owner: PROJ, username: bot, repository: fleet }\n` +
      `  - name: b\n    path: clusters/dev\n` +
      `    git: { url: "https://BB.example.com/scm/proj/fleet.git" }\n`,
    error: 'fleet.yaml:8:11: cluster "b": path: same repository, branch and path as cluster "dev"',
  },
  // Issue 14 item 5: flux.sparseCheckout.
  {
    name: "sparse checkout without the cluster's path",
    yaml: HEAD +
      `    git: { url: "https://g/x.git" }\n    flux: { sparseCheckout: [apps, infra] }\n`,
    error:
      `fleet.yaml:7:29: cluster "dev": flux.sparseCheckout: must include the cluster's path clusters/dev (or a folder above it): Flux reads its own files from there`,
  },
  {
    name: "sparse checkout folder leaving the repository",
    yaml: HEAD +
      `    git: { url: "https://g/x.git" }\n    flux: { sparseCheckout: [clusters, ../up] }\n`,
    error:
      `fleet.yaml:7:29: cluster "dev": flux.sparseCheckout: "../up" must not leave the repository ('..')`,
  },
  {
    name: "sparse checkout in defaults, not covering a cluster",
    yaml: HEAD.replace(
      "manifests: ./install.yaml }",
      "manifests: ./install.yaml, sparseCheckout: [clusters/prod] }",
    ) + `    git: { url: "https://g/x.git" }\n`,
    error:
      `fleet.yaml:2:71: cluster "dev": flux.sparseCheckout: must include the cluster's path clusters/dev`,
  },
  {
    name: "sparse checkout not a list",
    yaml: HEAD + `    git: { url: "https://g/x.git" }\n    flux: { sparseCheckout: clusters }\n`,
    error: 'fleet.yaml:7:29: cluster "dev": flux.sparseCheckout: must be array',
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
  // The newest stable flux release verified (lib/config/defaults.ts DEFAULT_FLUX_VERSION).
  assert.equal(m.clusters[1].flux.version, "v2.9.4");
  assert.equal(
    m.clusters[1].flux.manifests,
    "https://github.com/fluxcd/flux2/releases/download/v2.9.4/manifests.tar.gz",
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

// ---------------------------------------------------------------------------------------------
// Issue 14 item 3: a file that is not a manifest says so, naming the file.

const SHAPE =
  'a manifest is a YAML mapping with "clusters:" (the list of clusters, each with a name and a path) and optionally "defaults:"';

const notManifests: { name: string; text: string; error: string }[] = [
  { name: "an empty file", text: "", error: `fleet.yaml: the file is empty; ${SHAPE}` },
  { name: "only blank lines", text: "\n\n  \n", error: `fleet.yaml: the file is empty; ${SHAPE}` },
  {
    name: "only comments",
    text: "# clusters come later\n",
    error: `fleet.yaml: the file holds only comments; ${SHAPE}`,
  },
  {
    name: "a list (clusters without the key)",
    text: "- name: dev\n  path: clusters/dev\n",
    error: `fleet.yaml:1:1: the top level is a list (the clusters go under "clusters:"); ${SHAPE}`,
  },
  {
    name: "a string",
    text: "flux-bootstrap\n",
    error: `fleet.yaml:1:1: the top level is a string; ${SHAPE}`,
  },
  { name: "a number", text: "42\n", error: `fleet.yaml:1:1: the top level is a number; ${SHAPE}` },
  {
    name: "an explicit null",
    text: "~\n",
    error: `fleet.yaml:1:1: the top level is null; ${SHAPE}`,
  },
  {
    name: "two YAML documents",
    text: "clusters: []\n---\nclusters: []\n",
    error: "fleet.yaml:2:1: more than one YAML document (a second ---); a manifest is one document",
  },
  {
    name: "invalid YAML",
    text: "clusters: [\n",
    error: "fleet.yaml:2:1: invalid YAML:",
  },
  {
    name: "a mapping without clusters",
    text: "defaults: {}\n",
    error: "fleet.yaml:1:1: clusters: is required",
  },
];

for (const c of notManifests) {
  Deno.test(`not a manifest: ${c.name} is named with the file`, () => {
    const errors = errorsOf(c.text);
    assert.ok(
      errors.some((e) => e.startsWith(c.error)),
      `expected an error starting with\n  ${c.error}\ngot\n  ${errors.join("\n  ")}`,
    );
    for (const e of errors) assert.ok(e.startsWith("fleet.yaml"), `no file name in: ${e}`);
  });
}

Deno.test("not a manifest: a missing file, a directory, a binary or huge file name the path", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const message = async (path: string) =>
      await loadManifest(path).then(
        () => assert.fail(`${path} was accepted`),
        (e: Error) => {
          assert.ok(e instanceof ConfigError, String(e));
          return e.message;
        },
      );
    assert.equal(await message(`${dir}/nope.yaml`), `${dir}/nope.yaml: no such file`);
    assert.equal(
      await message(dir),
      `${dir}: is a directory; give the path of the manifest file itself (flux-bootstrap.yaml)`,
    );
    await Deno.writeFile(`${dir}/bin.yaml`, new Uint8Array([0x63, 0xff, 0xfe, 0x00, 0x80]));
    assert.equal(await message(`${dir}/bin.yaml`), `${dir}/bin.yaml: is not UTF-8 text; ${SHAPE}`);
    // Bounded: a file larger than any manifest is refused, not parsed.
    await Deno.writeTextFile(`${dir}/big.yaml`, "# padding\n".repeat(1_700_000));
    assert.equal(
      await message(`${dir}/big.yaml`),
      `${dir}/big.yaml: is larger than 16 MiB; ${SHAPE}`,
    );
    await Deno.writeTextFile(`${dir}/empty.yaml`, "");
    assert.equal(
      await message(`${dir}/empty.yaml`),
      `${dir}/empty.yaml: the file is empty; ${SHAPE}`,
    );
    // A manifest still loads.
    await Deno.writeTextFile(`${dir}/ok.yaml`, HEAD + `    git: { url: "https://g/x.git" }\n`);
    assert.equal((await loadManifest(`${dir}/ok.yaml`)).clusters[0].name, "dev");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// ---------------------------------------------------------------------------------------------
// Issue 14 item 2: the source secret's name stays flux-system with another namespace, as flux.

Deno.test("flux.secretName defaults to flux-system, also with another flux.namespace (as flux)", () => {
  const m = parseManifest(
    `defaults:
  flux: { version: v2.4.0, manifests: ./install.yaml }
  git: { url: "https://g/x.git" }
clusters:
  - name: a
    path: clusters/a
    flux: { namespace: flux }
  - name: b
    path: clusters/b
    flux: { namespace: flux, secretName: flux }
  - name: c
    path: clusters/c
`,
    "/tmp/fleet/fleet.yaml",
  );
  const [a, b, c] = m.clusters;
  assert.equal(a.flux.namespace, "flux");
  assert.equal(a.flux.secretName, "flux-system");
  assert.equal(b.flux.secretName, "flux");
  assert.equal(c.flux.secretName, "flux-system");
});

Deno.test("flux.imagePullSecret may not take the source secret's default name, whatever the namespace", () => {
  const errors = errorsOf(
    HEAD +
      `    git: { url: "https://g/x.git" }\n    flux: { namespace: flux, imagePullSecret: flux-system, registryCredentials: { username: bot, password: { env: R } } }\n`,
  );
  assert.ok(
    errors.some((e) => e.includes(`"flux-system" is also the source secret's name`)),
    errors.join("\n"),
  );
  // The namespace's name is free for it now.
  parseManifest(
    HEAD +
      `    git: { url: "https://g/x.git" }\n    flux: { namespace: flux, imagePullSecret: flux, registryCredentials: { username: bot, password: { env: R } } }\n`,
    "fleet.yaml",
  );
});

// ---------------------------------------------------------------------------------------------
// Issue 14 item 5: the default release, recorded once; flux.sparseCheckout.

Deno.test("the default Flux version is recorded once: README and schema say the same", async () => {
  assert.equal(DEFAULT_FLUX_VERSION, "v2.9.4");
  const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
  const said = [...readme.matchAll(/default `(v\d+\.\d+\.\d+)`/g)].map((m) => m[1]);
  assert.ok(said.length > 0, "README names the default version");
  assert.deepEqual([...new Set(said)], [DEFAULT_FLUX_VERSION]);
  const flux = (manifestSchema.$defs as Record<string, { properties: Record<string, unknown> }>)
    .flux;
  const description = (flux.properties.version as { description: string }).description;
  assert.match(
    description,
    new RegExp(`Default: ${DEFAULT_FLUX_VERSION.replaceAll(".", "\\.")}\\.`),
  );
});

Deno.test("flux.sparseCheckout: inherited from defaults, a cluster's own wins, [] turns it off", () => {
  const m = parseManifest(
    `defaults:
  flux: { version: v2.4.0, manifests: ./install.yaml, sparseCheckout: [clusters, apps] }
  git: { url: "https://g/x.git" }
clusters:
  - name: a
    path: clusters/a
  - name: b
    path: ./clusters/b/
    flux: { sparseCheckout: [./clusters/b/, infra] }
  - name: c
    path: clusters/c
    flux: { sparseCheckout: [] }
`,
    "/tmp/fleet/fleet.yaml",
  );
  const [a, b, c] = m.clusters;
  assert.deepEqual(a.flux.sparseCheckout, ["clusters", "apps"]);
  // As written: flux writes the folders it is given.
  assert.deepEqual(b.flux.sparseCheckout, ["./clusters/b/", "infra"]);
  assert.equal(c.flux.sparseCheckout, undefined);
});

// ---------------------------------------------------------------------------------------------
// Issue 14 item 8: one repository, however its URL is spelled.

Deno.test("repositoryKey: scheme and host case, default port, .git and /, scp-like = ssh://", () => {
  const same: string[][] = [
    [
      "https://git.example.com/org/fleet.git",
      "https://git.example.com/org/fleet",
      "HTTPS://Git.Example.COM:443/org/fleet.git/",
      "https://git.example.com/org/fleet/",
      "https://git.example.com//org/fleet.git",
    ],
    [
      "git@git.example.com:org/fleet.git",
      "ssh://git@git.example.com/org/fleet",
      "ssh://git@GIT.example.com:22/org/fleet.git",
      "git+ssh://other@git.example.com/org/fleet.git",
      "SSH://git.example.com/org/fleet",
    ],
    [
      "ssh://APKAEIBAERJR2EXAMPLE@git-codecommit.eu-west-1.amazonaws.com/v1/repos/fleet",
      "APKAOTHERKEYID0000000@git-codecommit.eu-west-1.amazonaws.com:v1/repos/fleet",
    ],
    ["ssh://git@[::1]:2222/fleet.git", "ssh://git@[::1]:2222/fleet"],
  ];
  for (const group of same) {
    for (const url of group) assert.equal(repositoryKey(url), repositoryKey(group[0]), url);
  }
  const different = [
    "https://git.example.com/org/fleet.git",
    "https://git.example.com/org/Fleet.git", // paths are case-sensitive on most servers
    "https://git.example.com:8443/org/fleet.git",
    "http://git.example.com/org/fleet.git",
    "ssh://git@git.example.com/org/fleet.git",
    "ssh://git@git.example.com:7999/org/fleet.git",
    "https://git.example.com/org/fleet2.git",
    "https://git.example.com/other/fleet.git",
    "https://git.example.com/org/fleet.git/x",
  ];
  assert.equal(new Set(different.map(repositoryKey)).size, different.length);
});

// ---------------------------------------------------------------------------------------------
// Issue 13 item 8: secrets too short to be redacted are refused, without showing them.

Deno.test("secret references: a value shorter than 8 characters is refused, the value never shown", async () => {
  const short: SecretSource = {
    readStdin: () => Promise.resolve("abc1234\n"),
    env: (name) => ({ SHORT: "s3cr3t!", EIGHT: "8chars!!", UNICODE: "pässwörd" })[name],
  };
  const what = 'fleet.yaml:6:50: cluster "dev": git.auth.token';
  for (
    const [ref, from] of [
      [{ env: "SHORT" }, "environment variable SHORT"],
      [{ stdin: true }, "standard input"],
    ] as const
  ) {
    const err = await resolveSecret(ref, what, "/tmp", short).then(
      () => assert.fail("accepted"),
      (e: Error) => e,
    );
    assert.equal(
      err.message,
      `${what}: the secret read from ${from} is shorter than 8 characters; fluxfleet refuses secrets that short (they could not be masked in its output)`,
    );
    assert.ok(!err.message.includes("s3cr3t!") && !err.message.includes("abc1234"));
  }
  // Eight characters are enough, counted as characters, not bytes or UTF-16 units.
  assert.equal(await resolveSecret({ env: "EIGHT" }, what, "/tmp", short), "8chars!!");
  assert.equal(await resolveSecret({ env: "UNICODE" }, what, "/tmp", short), "pässwörd");
  assert.equal(redact("x 8chars!! y"), "x *** y");
});

// ---------------------------------------------------------------------------------------------
// Issue 15 item 6: every secret reference error names the field as the manifest spells it, and
// where it is written.

/** `REF` is the reference under test; `at` the text the location points to (default REF). */
const SECRET_FIELDS: { field: string; cluster: string; defaults?: string; at?: string }[] = [
  {
    field: "git.auth.token",
    cluster: `git: { url: "https://g/x.git", auth: { type: token, token: REF } }`,
  },
  {
    field: "git.auth.privateKey",
    cluster: `git: { url: "ssh://git@g/x.git", auth: { type: ssh, privateKey: REF } }`,
  },
  {
    field: "git.auth.passphrase",
    cluster:
      `git: { url: "ssh://git@g/x.git", auth: { type: ssh, privateKey: { env: OK_SECRET }, passphrase: REF } }`,
  },
  {
    field: "git.token",
    cluster:
      `git: { provider: bitbucket-server, hostname: bb.example.com, owner: me, personal: true, repository: fleet, token: REF }`,
  },
  {
    field: "git.bitbucketServer.token",
    cluster:
      `git: { provider: bitbucket-server, bitbucketServer: { hostname: bb.example.com, owner: me, personal: true, repository: fleet, token: REF } }`,
  },
  {
    field: "git.signing.gpg.keyRing",
    cluster: `git: { url: "https://g/x.git", signing: { gpg: { keyRing: REF } } }`,
  },
  {
    field: "git.signing.gpg.passphrase",
    cluster:
      `git: { url: "https://g/x.git", signing: { gpg: { keyRing: { env: OK_SECRET }, passphrase: REF } } }`,
  },
  {
    field: "git.signing.ssh.key",
    cluster: `git: { url: "https://g/x.git", signing: { ssh: { key: REF } } }`,
  },
  {
    field: "git.signing.ssh.passphrase",
    cluster:
      `git: { url: "https://g/x.git", signing: { ssh: { key: { env: OK_SECRET }, passphrase: REF } } }`,
  },
  {
    field: "flux.registryCredentials.password",
    cluster:
      `git: { url: "https://g/x.git" }\n    flux: { imagePullSecret: regcred, registryCredentials: { username: bot, password: REF } }`,
  },
  {
    field: "git.auth.token",
    defaults: `git: { url: "https://g/x.git", auth: { type: token, token: REF } }`,
    cluster: `flux: { interval: 2m }`,
  },
];

async function secretError(
  yaml: string,
  env: Record<string, string>,
  dir: string,
): Promise<string> {
  const m = parseManifest(yaml, `${dir}/fleet.yaml`);
  const c = m.clusters[0];
  const source: SecretSource = { readStdin: () => Promise.resolve(""), env: (n) => env[n] };
  const name = (field: string) =>
    describeField({ location: m.locate?.(c.name, field), cluster: c.name, field });
  return await resolveCredentials(c, dir, source, name).then(
    () => assert.fail("credentials were resolved"),
    (e: Error) => e.message,
  );
}

for (const f of SECRET_FIELDS) {
  for (
    const [how, ref, because] of [
      ["env missing", "{ env: MISSING_SECRET }", "environment variable MISSING_SECRET is not set"],
      [
        "file missing",
        "{ file: ./missing-secret }",
        "cannot read secret file DIR/missing-secret: NotFound",
      ],
    ]
  ) {
    Deno.test(`secret field names: ${f.field}${f.defaults ? " (from defaults)" : ""}, ${how}`, async () => {
      const dir = await Deno.makeTempDir();
      try {
        const yaml = `defaults:\n  flux: { version: v2.4.0, manifests: ./install.yaml }\n` +
          (f.defaults ? `  ${f.defaults}\n` : "") +
          `clusters:\n  - name: dev\n    path: clusters/dev\n    ${f.cluster}\n`;
        const text = yaml.replace("REF", ref);
        const lines = text.split("\n");
        const line = lines.findIndex((l) => l.includes(ref));
        const col = lines[line].indexOf(ref) + 1;
        const message = await secretError(text, { OK_SECRET: "ok-secret-value" }, dir);
        assert.equal(
          message,
          `${dir}/fleet.yaml:${line + 1}:${col}: cluster "dev": ${f.field}: ${
            because.replace("DIR", dir)
          }`,
        );
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    });
  }
}

Deno.test("secret field names: built-in defaults (GIT_PASSWORD, BITBUCKET_TOKEN) name the field the manifest would set", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const head = `clusters:\n  - name: dev\n    path: clusters/dev\n`;
    assert.equal(
      await secretError(head + `    git: { url: "https://g/x.git" }\n`, {}, dir),
      `${dir}/fleet.yaml:4:10: cluster "dev": git.auth.token: environment variable GIT_PASSWORD is not set`,
    );
    assert.equal(
      await secretError(
        head +
          `    git: { provider: bitbucket-server, hostname: bb.example.com, owner: me, personal: true, repository: fleet }\n`,
        {},
        dir,
      ),
      `${dir}/fleet.yaml:4:10: cluster "dev": git.token: environment variable BITBUCKET_TOKEN is not set`,
    );
    // Without a locator (a hand-made manifest), still cluster and field.
    const m = parseManifest(
      head +
        `    git: { provider: bitbucket-server, hostname: bb.example.com, owner: me, personal: true, repository: fleet }\n`,
      `${dir}/fleet.yaml`,
    );
    await assert.rejects(
      resolveCredentials(m.clusters[0], dir, noInput),
      /^Error: cluster "dev": git\.token: environment variable BITBUCKET_TOKEN is not set$/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// ---------------------------------------------------------------------------------------------
// Issue 16: a provider's settings in its own block (git.bitbucketServer); the older flat keys
// still work and are reported as deprecated.

const BB_FLAT =
  `    git: { provider: bitbucket-server, hostname: bb.example.com, owner: PROJ, username: bot, repository: fleet, groups: [devs], tokenAuth: true }\n`;
const BB_NESTED =
  `    git: { provider: bitbucket-server, bitbucketServer: { hostname: bb.example.com, owner: PROJ, username: bot, repository: fleet, groups: [devs], tokenAuth: true } }\n`;

Deno.test("git.bitbucketServer: the nested block resolves exactly as the flat keys did", () => {
  const flat = parseManifest(HEAD + BB_FLAT, "fleet.yaml");
  const nested = parseManifest(HEAD + BB_NESTED, "fleet.yaml");
  const strip = (c: typeof flat.clusters[0]) => {
    const { deprecated: _, ...provider } = c.git.provider;
    const auth = c.git.auth.type === "token" ? { ...c.git.auth, field: "" } : c.git.auth;
    return { ...c, git: { ...c.git, provider, auth } };
  };
  assert.deepEqual(strip(nested.clusters[0]), strip(flat.clusters[0]));
  const c = nested.clusters[0];
  assert.equal(c.git.url, "https://bb.example.com/scm/proj/fleet.git");
  assert.equal(c.git.provider.kind, "bitbucket-server");
  assert.equal(c.git.provider.name, "PROJ/fleet");
  assert.deepEqual(c.git.auth, {
    type: "token",
    username: "bot",
    token: { env: "BITBUCKET_TOKEN" },
    field: "git.bitbucketServer.token",
  });
  // The flat form is named as written; the nested form has no deprecation.
  assert.equal(
    flat.clusters[0].git.auth.type === "token" && flat.clusters[0].git.auth.field,
    "git.token",
  );
  assert.equal(nested.warnings, undefined);
  assert.equal(nested.clusters[0].git.provider.deprecated, undefined);
});

Deno.test("git.bitbucketServer: defaults and a cluster's block merge key by key", () => {
  const m = parseManifest(
    `defaults:\n  flux: { version: v2.4.0, manifests: ./install.yaml }\n` +
      `  git: { provider: bitbucket-server, bitbucketServer: { hostname: bb.example.com, owner: me, personal: true } }\n` +
      `clusters:\n  - name: dev\n    path: clusters/dev\n    git: { bitbucketServer: { repository: fleet } }\n`,
    "fleet.yaml",
  );
  assert.equal(m.clusters[0].git.url, "https://bb.example.com/scm/~me/fleet.git");
  assert.equal(m.clusters[0].git.provider.name, "~me/fleet");
});

Deno.test("deprecated flat Bitbucket keys: accepted, each one reported where it is written", () => {
  const m = parseManifest(HEAD + BB_FLAT, "fleet.yaml");
  assert.deepEqual(
    (m.warnings ?? []).map(formatProblem),
    ["hostname", "owner", "username", "repository", "groups", "tokenAuth"].map((k) => {
      const col = BB_FLAT.indexOf(`${k}:`) + 1 + k.length + 2;
      return `fleet.yaml:6:${col}: cluster "dev": git.${k}: deprecated: write it as git.bitbucketServer.${k} (the flat form keeps working)`;
    }),
  );
  assert.deepEqual(m.clusters[0].git.provider.deprecated, [
    "git.hostname",
    "git.owner",
    "git.repository",
    "git.username",
    "git.groups",
    "git.tokenAuth",
  ]);
});

for (
  const c of [
    {
      name: "a Bitbucket setting written both flat and in the block",
      yaml: HEAD +
        `    git: { provider: bitbucket-server, hostname: a.example.com, bitbucketServer: { hostname: bb.example.com, owner: me, personal: true, repository: fleet } }\n`,
      error:
        'fleet.yaml:6:50: cluster "dev": git.hostname: is also set as git.bitbucketServer.hostname: keep that one only',
    },
    {
      name: "the Bitbucket block on the generic provider",
      yaml: HEAD + `    git: { url: "https://g/x.git", bitbucketServer: { owner: me } }\n`,
      error:
        'fleet.yaml:6:53: cluster "dev": git.bitbucketServer: is only for provider: bitbucket-server',
    },
    {
      name: "a nested Bitbucket problem is named as written",
      yaml: HEAD +
        `    git: { provider: bitbucket-server, bitbucketServer: { hostname: bitbucket.org, owner: me, personal: true, repository: fleet } }\n`,
      error:
        'fleet.yaml:6:69: cluster "dev": git.bitbucketServer.hostname: Bitbucket Cloud (bitbucket.org) is not Bitbucket Server',
    },
    {
      name: "a missing nested Bitbucket setting is named in the block",
      yaml: HEAD +
        `    git: { provider: bitbucket-server, bitbucketServer: { hostname: bb.example.com, owner: me, personal: true } }\n`,
      error:
        'fleet.yaml:4:11: cluster "dev": git.bitbucketServer.repository: is required for provider: bitbucket-server',
    },
    {
      name: "an unknown key in the Bitbucket block",
      yaml: HEAD +
        `    git: { provider: bitbucket-server, bitbucketServer: { hostname: bb.example.com, colour: blue } }\n`,
      error: 'fleet.yaml:6:85: cluster "dev": git.bitbucketServer.colour: unknown key',
    },
  ]
) {
  Deno.test(`bad manifest: ${c.name}`, () => {
    const errors = errorsOf(c.yaml);
    assert.ok(
      errors.some((e) => e.startsWith(c.error)),
      `expected an error starting with\n  ${c.error}\ngot\n  ${errors.join("\n  ")}`,
    );
  });
}

Deno.test("provider names that are dot segments are refused (they would climb the API's paths)", () => {
  const manifest = (github: string) =>
    `clusters:\n  - name: c0\n    path: clusters/c0\n    git:\n      provider: github\n      github: ${github}\n`;
  for (const bad of ['{ owner: acme, repository: ".." }', '{ owner: acme, repository: "." }']) {
    assert.match(errorsOf(manifest(bad)).join("\n"), /git\.github\.repository: must match/, bad);
  }
  assert.match(
    errorsOf(manifest('{ owner: acme, repository: fleet, teams: ["..:admin"] }')).join("\n"),
    /git\.github\.teams\[0\]: must match/,
  );
  const gitlab =
    `clusters:\n  - name: c0\n    path: clusters/c0\n    git:\n      provider: gitlab\n      gitlab: { owner: acme, repository: fleet, teams: ["acme/../admins"] }\n`;
  assert.match(errorsOf(gitlab).join("\n"), /git\.gitlab\.teams\[0\]: must match/);
  // Names with dots inside stay valid.
  parseManifest(
    manifest('{ owner: acme, repository: fleet.v2, teams: ["sre.oncall:push"] }'),
    "f.yaml",
  );
});
