/**
 * Loads flux-bootstrap.yaml: YAML → schema → semantic checks → per-cluster config with defaults.
 * Every problem is collected (not just the first) and located at file:line:column.
 */
import { dirname, isAbsolute, resolve } from "node:path";
import type { ErrorObject } from "ajv";
import { isSeq, LineCounter, parseDocument } from "yaml";
import { ConfigError, type ConfigProblem, type Location } from "./errors.ts";
import {
  jsonPointerToPath,
  locate,
  locateKey,
  type PathSegment,
  type SourceMap,
} from "./locate.ts";
import { schemaErrors } from "./schema.ts";
import { parseDuration } from "./duration.ts";
import { DEFAULT_REGISTRY } from "../manifests/options.ts";
import { SOURCE_WATCHER, sourceWatcherProblem } from "../manifests/flux_cli.ts";
import { nonNetworkUrlProblem, repositoryKey } from "../git/url.ts";
import { concatBytes } from "../util/bytes.ts";
import { formatSize, MANIFEST_FILE_BYTES } from "../util/limits.ts";
import type {
  BitbucketConfig,
  ClusterConfig,
  Manifest,
  RawCluster,
  RawGit,
  RawManifest,
} from "./types.ts";

/**
 * The Flux release used when the manifest names none (pinned, so a plan is reproducible). The one
 * place it is recorded: README.md and the schema's description are checked against it
 * (tests/config_test.ts). v2.9.4 is the newest stable release verified: the flux2 releases page
 * (github.com/fluxcd/flux2/releases lists v2.9.4 first) and the tags of fluxcd/flux2 (v2.9.0 …
 * v2.9.4); /work/shared/reference/anchors-2026-12.md only says v2.9.x.
 */
export const DEFAULT_FLUX_VERSION = "v2.9.4";

/** flux bootstrap --secret-name: its default is the fixed default namespace, not --namespace. */
export const DEFAULT_SECRET_NAME = "flux-system";

/** flux2 pkg/manifestgen/install `fetch`: the release asset flux itself downloads. */
export function releaseManifestsUrl(version: string): string {
  return `https://github.com/fluxcd/flux2/releases/download/${version}/manifests.tar.gz`;
}

export const DEFAULT_COMPONENTS = [
  "source-controller",
  "kustomize-controller",
  "helm-controller",
  "notification-controller",
];

const ONE_OF_HINTS: Record<string, string> = {
  secretRef:
    "must be a secret reference ({env: NAME}, {file: PATH}, {stdin: true} or {prompt: true}); literal secrets are not allowed in the manifest",
  knownHosts: "must be {scan: true}, {file: PATH} or {lines: TEXT}",
};

/** What a manifest holds at its top level, for messages about a file that holds something else. */
const MANIFEST_SHAPE =
  'a manifest is a YAML mapping with "clusters:" (the list of clusters, each with a name and a path) and optionally "defaults:"';

export async function loadManifest(file: string): Promise<Manifest> {
  return parseManifest(await readManifestFile(file), file);
}

/** The file's text; a missing file, a directory, a huge or binary file is a problem naming it. */
async function readManifestFile(file: string): Promise<string> {
  const fail = (message: string) => new ConfigError([{ file, message }]);
  let handle: Deno.FsFile;
  try {
    handle = await Deno.open(file, { read: true });
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw fail("no such file");
    if (e instanceof Deno.errors.PermissionDenied) throw fail("cannot be read: permission denied");
    throw fail(`cannot be read (${(e as Error).name})`);
  }
  const chunks: Uint8Array[] = [];
  try {
    if ((await handle.stat()).isDirectory) {
      throw fail("is a directory; give the path of the manifest file itself (flux-bootstrap.yaml)");
    }
    // Read in pieces, so that a FIFO or a device is bounded too.
    let size = 0;
    const buf = new Uint8Array(64 * 1024);
    while (true) {
      const n = await handle.read(buf);
      if (n === null) break;
      size += n;
      // A manifest is a small YAML file: anything larger is refused before it is read whole.
      if (size > MANIFEST_FILE_BYTES) {
        throw fail(`is larger than ${formatSize(MANIFEST_FILE_BYTES)}; ${MANIFEST_SHAPE}`);
      }
      chunks.push(buf.slice(0, n));
    }
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw fail(`cannot be read (${(e as Error).name})`);
  } finally {
    handle.close();
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(concatBytes(chunks));
  } catch {
    throw fail(`is not UTF-8 text; ${MANIFEST_SHAPE}`);
  }
}

export function parseManifest(text: string, file: string): Manifest {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const map: SourceMap = { file, doc, lines };
  if (doc.errors.length > 0) {
    throw new ConfigError(doc.errors.map((e) => {
      const { line, col } = lines.linePos(e.pos[0]);
      const message = e.code === "MULTIPLE_DOCS"
        ? "more than one YAML document (a second ---); a manifest is one document"
        : `invalid YAML: ${firstLine(e.message)}`;
      return { location: { file, line, col }, message };
    }));
  }
  const data: unknown = doc.toJS();
  const shape = topLevelProblem(map, text, data);
  if (shape) throw new ConfigError([shape]);
  const problems = schemaProblems(map, data);
  if (problems.length > 0) throw new ConfigError(withFile(problems, file));
  const raw = data as RawManifest;
  const semantic = semanticProblems(map, raw);
  if (semantic.length > 0) throw new ConfigError(withFile(semantic, file));
  return {
    file,
    clusters: raw.clusters.map((c) => resolveCluster(raw, c, dirname(file))),
    locate: (cluster, field) => {
      const i = raw.clusters.findIndex((c) => c.name === cluster);
      return i < 0 ? undefined : locateSetting(map, raw, i, field);
    },
  };
}

/** Every problem names the file, also when no place in it can be pointed at. */
function withFile(problems: ConfigProblem[], file: string): ConfigProblem[] {
  return problems.map((p) => (p.location ? p : { ...p, file }));
}

/** An empty file, only comments, a list or a scalar where the manifest's mapping belongs. */
function topLevelProblem(map: SourceMap, text: string, data: unknown): ConfigProblem | undefined {
  const file = map.file;
  const what = data === null || data === undefined
    ? undefined
    : Array.isArray(data)
    ? "a list"
    : typeof data === "object"
    ? null
    : `a ${typeof data}`;
  if (what === null) return undefined;
  const root = map.doc.contents;
  const location = root?.range ? locate(map, []) : undefined;
  if (what === undefined) {
    if (root === null || root === undefined) {
      const empty = text.trim() === "" ? "the file is empty" : "the file holds only comments";
      return { file, message: `${empty}; ${MANIFEST_SHAPE}` };
    }
    return { location, file, message: `the top level is null; ${MANIFEST_SHAPE}` };
  }
  const hint = isSeq(root) ? ' (the clusters go under "clusters:")' : "";
  return { location, file, message: `the top level is ${what}${hint}; ${MANIFEST_SHAPE}` };
}

/**
 * Where a cluster's setting is written: in the cluster, or in `defaults` when the cluster inherits
 * it (a cluster's own `git.auth` replaces all of `defaults.git.auth`, as resolveCluster merges
 * one level deep); the nearest enclosing entry when the value is a built-in default.
 */
function locateSetting(
  map: SourceMap,
  raw: RawManifest,
  i: number,
  field: string,
): Location | undefined {
  const path = field.split(".");
  const [section, key] = path;
  const holds = (o: unknown) =>
    key === undefined
      ? o !== undefined
      : isMapNode(o) && (o as Record<string, unknown>)[key] !== undefined;
  const own = holds((raw.clusters[i] as unknown as Record<string, unknown>)[section]);
  const inherited = !own &&
    holds((raw.defaults as Record<string, unknown> | undefined)?.[section]);
  // An own value, or none anywhere (a built-in default): the cluster's entry, as near as it goes.
  return locate(map, inherited ? ["defaults", ...path] : ["clusters", i, ...path]);
}

function isMapNode(o: unknown): boolean {
  return typeof o === "object" && o !== null && !Array.isArray(o);
}

function firstLine(s: string): string {
  return s.split("\n")[0];
}

/** `clusters[3].git.url` → cluster name + `git.url`; anything else stays a top-level field. */
function describePath(raw: unknown, path: PathSegment[]): { cluster?: string; field: string } {
  const dotted = (segs: PathSegment[]) =>
    segs.map((s, i) => typeof s === "number" ? `[${s}]` : (i === 0 ? s : `.${s}`)).join("");
  if (path[0] === "clusters" && typeof path[1] === "number") {
    const clusters = (raw as { clusters?: unknown[] })?.clusters;
    const c = clusters?.[path[1]] as { name?: unknown } | undefined;
    const name = typeof c?.name === "string" ? c.name : `#${path[1] + 1}`;
    const rest = dotted(path.slice(2));
    return { cluster: name, field: rest || "(cluster)" };
  }
  return { field: dotted(path) || "(top level)" };
}

function schemaProblems(map: SourceMap, data: unknown): ConfigProblem[] {
  const errors = schemaErrors(data);
  // A oneOf over alternatives reports one error per branch; replace them with one clear message.
  const oneOfHints = new Map<string, string>();
  for (const e of errors) {
    if (e.keyword !== "oneOf") continue;
    const def = Object.keys(ONE_OF_HINTS).find((d) => e.schemaPath.startsWith(`#/$defs/${d}/`));
    if (def) oneOfHints.set(e.instancePath, ONE_OF_HINTS[def]);
  }
  const secretRefPaths = new Set(oneOfHints.keys());
  const out: ConfigProblem[] = [];
  const seen = new Set<string>();
  for (const e of errors) {
    const underSecretRef = [...secretRefPaths].some((p) =>
      e.instancePath === p || e.instancePath.startsWith(p + "/")
    );
    if (underSecretRef && e.keyword !== "oneOf") continue;
    // "must match then schema" only repeats the errors of the branch itself.
    if (e.keyword === "if") continue;
    const problem = schemaProblem(
      map,
      data,
      e,
      underSecretRef ? oneOfHints.get(e.instancePath) : undefined,
    );
    const key =
      `${problem.location?.line}:${problem.location?.col}:${problem.field}:${problem.message}`;
    if (!seen.has(key)) {
      seen.add(key);
      out.push(problem);
    }
  }
  return out.sort((a, b) =>
    (a.location?.line ?? 0) - (b.location?.line ?? 0) ||
    (a.location?.col ?? 0) - (b.location?.col ?? 0)
  );
}

function schemaProblem(
  map: SourceMap,
  data: unknown,
  e: ErrorObject,
  hint: string | undefined,
): ConfigProblem {
  const path = jsonPointerToPath(e.instancePath);
  if (e.keyword === "additionalProperties") {
    const key = String((e.params as { additionalProperty: string }).additionalProperty);
    const { cluster, field } = describePath(data, [...path, key]);
    return { location: locateKey(map, path, key), cluster, field, message: "unknown key" };
  }
  if (e.keyword === "required") {
    const missing = String((e.params as { missingProperty: string }).missingProperty);
    const { cluster, field } = describePath(data, [...path, missing]);
    return { location: locate(map, path), cluster, field, message: "is required" };
  }
  const { cluster, field } = describePath(data, path);
  let message = e.message ?? "is invalid";
  if (hint) message = hint;
  else if (e.keyword === "enum") {
    const allowed = (e.params as { allowedValues: unknown[] }).allowedValues;
    message = `must be one of: ${allowed.map(String).join(", ")}`;
  } else if (e.keyword === "pattern" && e.schemaPath.includes("/name/")) {
    message = "must be a DNS-1123 label (lowercase letters, digits and '-', at most 63 characters)";
  } else if (e.keyword === "pattern" && e.schemaPath.includes("/duration/")) {
    message = "must be a duration such as 30s, 5m or 1h";
  } else if (e.keyword === "pattern" && e.instancePath.endsWith("/signing/gpg/keyId")) {
    message =
      "must be a long OpenPGP key id: 16 hex digits, optionally with 0x (as flux --gpg-key-id)";
  } else if (e.keyword === "pattern" && e.instancePath.endsWith("/registryCredentials/username")) {
    message =
      "must be a user name without ':' (the registry login is user:password, as flux --registry-creds)";
  } else if (
    (e.keyword === "minProperties" || e.keyword === "maxProperties") &&
    e.instancePath.endsWith("/git/signing")
  ) {
    message = "must be exactly one of {gpg: {keyRing: …}} or {ssh: {key: …}}";
  }
  return { location: locate(map, path), cluster, field, message };
}

function semanticProblems(map: SourceMap, raw: RawManifest): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const names = new Map<string, number>();
  const targets = new Map<string, string>();
  raw.clusters.forEach((c, i) => {
    const at = (field: PathSegment[], message: string, fieldName?: string): void => {
      problems.push({
        location: locate(map, ["clusters", i, ...field]),
        cluster: c.name,
        field: fieldName ?? field.join("."),
        message,
      });
    };
    /** A problem with a value the cluster may inherit: located where the value was written. */
    const atInherited = (
      section: "git" | "flux",
      key: string,
      message: string,
      field = `${section}.${key}`,
    ): void => {
      const own = (c[section] as Record<string, unknown> | undefined)?.[key] !== undefined;
      problems.push({
        location: locate(map, own ? ["clusters", i, section, key] : ["defaults", section, key]),
        cluster: c.name,
        field,
        message,
      });
    };
    const first = names.get(c.name);
    if (first !== undefined) {
      at(["name"], `duplicate cluster name (first used by cluster #${first + 1})`);
    } else names.set(c.name, i);

    const git = { ...raw.defaults?.git, ...c.git };
    if (git.provider === "bitbucket-server") {
      const where = (f: string) =>
        c.git && f in c.git
          ? ["clusters", i, "git", f]
          : raw.defaults?.git && f in raw.defaults.git
          ? ["defaults", "git", f]
          : ["clusters", i, "name"];
      for (const problem of bitbucketProblems(git)) {
        problems.push({
          location: locate(map, where(problem.field)),
          cluster: c.name,
          field: `git.${problem.field}`,
          message: problem.message,
        });
      }
    } else if (git.url === undefined) {
      at(c.git ? ["git"] : ["name"], "is required, here or in defaults.git", "git.url");
    } else {
      const misplaced = BITBUCKET_FIELDS.find((f) => git[f] !== undefined);
      if (misplaced) {
        at(
          c.git && misplaced in c.git ? ["git", misplaced] : ["name"],
          "is only for provider: bitbucket-server",
          `git.${misplaced}`,
        );
      }
      const urlProblem = checkGitUrl(
        git.url,
        git.allowInsecureHttp === true,
        git.auth?.type === "ssh" ? "ssh" : "token",
      ) ?? checkSshOptions(git);
      if (urlProblem) atInherited("git", "url", urlProblem);
    }

    if (git.signing && git.transport === "system") {
      // The system transport commits with the git binary, which fluxfleet keeps away from keys.
      atInherited(
        "git",
        "signing",
        "is not supported with transport: system (the git binary makes the commit there); use the builtin transport to sign commits",
      );
    }

    const pathProblem = checkRepoPath(c.path);
    if (pathProblem) at(["path"], pathProblem);

    const flux = { ...raw.defaults?.flux, ...c.flux };
    // flux bootstrap: "--registry-creds requires --image-pull-secret to be set"; the secret needs
    // a name.
    if (flux.registryCredentials && !flux.imagePullSecret) {
      atInherited(
        "flux",
        "registryCredentials",
        "is required with flux.registryCredentials: it names the dockerconfigjson secret fluxfleet creates (as flux --registry-creds needs --image-pull-secret)",
        "flux.imagePullSecret",
      );
    } else if (
      flux.registryCredentials &&
      flux.imagePullSecret === (flux.secretName ?? DEFAULT_SECRET_NAME)
    ) {
      atInherited(
        "flux",
        "imagePullSecret",
        `"${flux.imagePullSecret}" is also the source secret's name (flux.secretName); the image pull secret needs its own name`,
      );
    }
    if (
      typeof flux.manifests === "string" && /^http:\/\//i.test(flux.manifests) &&
      !flux.allowInsecureHttp
    ) {
      // The install would run whatever a machine on the way put there.
      atInherited(
        "flux",
        "manifests",
        "plain http:// lets anyone on the way change what is installed; use https://, or set flux.allowInsecureHttp: true and pin the download with flux.manifestsSha256",
      );
    }
    const components = flux.components ?? DEFAULT_COMPONENTS;
    for (const required of ["source-controller", "kustomize-controller"]) {
      if (!components.includes(required)) {
        const where = c.flux?.components ? ["flux", "components"] : ["name"];
        at(where, `must include ${required} (Flux cannot sync without it)`, "flux.components");
      }
    }
    if (flux.componentsExtra?.includes(SOURCE_WATCHER)) {
      const problem = sourceWatcherProblem(flux.version ?? DEFAULT_FLUX_VERSION);
      if (problem) atInherited("flux", "componentsExtra", problem);
    }
    if (flux.sparseCheckout !== undefined) {
      for (const problem of sparseCheckoutProblems(flux.sparseCheckout, c.path, pathProblem)) {
        atInherited("flux", "sparseCheckout", problem);
      }
    }
    if (git.sshUser !== undefined && !/^[^\s@:/-][^\s@:/]*$/.test(git.sshUser)) {
      atInherited(
        "git",
        "sshUser",
        "must be a user name without '@', ':', '/' or spaces, not starting with '-' (it goes into the cluster's ssh:// URL)",
      );
    }
    // The same repository however its URL is spelled (lib/git/url.ts), as the commits are grouped.
    const url = git.provider === "bitbucket-server" && git.owner && git.repository
      ? bitbucketCloneUrl(resolveBitbucket(git))
      : git.url;
    const target = `${url === undefined ? "" : repositoryKey(url)}#${git.branch ?? "main"}#${
      normalisePath(c.path)
    }`;
    const other = targets.get(target);
    if (other !== undefined && !pathProblem) {
      at(
        ["path"],
        `same repository, branch and path as cluster "${other}": they would overwrite each other's files`,
      );
    } else targets.set(target, c.name);
  });
  return problems;
}

const BITBUCKET_FIELDS = [
  "hostname",
  "apiUrl",
  "owner",
  "repository",
  "personal",
  "username",
  "private",
  "reconcileVisibility",
  "groups",
  "token",
  "tokenAuth",
  "readWriteKey",
] as const;

function bitbucketProblems(git: RawGit): { field: string; message: string }[] {
  const out: { field: string; message: string }[] = [];
  for (const f of ["hostname", "owner", "repository"] as const) {
    if (git[f] === undefined) {
      out.push({ field: f, message: "is required for provider: bitbucket-server" });
    }
  }
  if (git.url !== undefined) {
    out.push({
      field: "url",
      message: "bitbucket-server takes hostname, owner and repository instead of url",
    });
  }
  if (git.hostname && /(^|\.)bitbucket\.org(:\d+)?$/i.test(git.hostname)) {
    out.push({
      field: "hostname",
      message:
        "Bitbucket Cloud (bitbucket.org) is not Bitbucket Server: use provider: generic with the repository's URL, as flux's docs say",
    });
  }
  if (!git.personal && git.username === undefined && git.owner !== undefined) {
    out.push({
      field: "username",
      message:
        "is required for a project repository (the user that owns the token); or set personal: true",
    });
  }
  if (git.auth !== undefined) {
    out.push({
      field: "auth",
      message:
        "bitbucket-server authenticates with git.token; for SSH without a token use provider: generic",
    });
  }
  if (git.apiUrl) {
    try {
      const u = new URL(git.apiUrl);
      if (u.protocol === "http:" && !git.allowInsecureHttp) {
        out.push({
          field: "apiUrl",
          message:
            "plain http:// sends the token unencrypted; use https:// or set git.allowInsecureHttp: true",
        });
      } else if (u.protocol !== "http:" && u.protocol !== "https:") {
        out.push({ field: "apiUrl", message: "must be an https:// URL" });
      }
    } catch {
      out.push({ field: "apiUrl", message: `"${git.apiUrl}" is not a valid URL` });
    }
  }
  if (git.sshKey && git.tokenAuth) {
    out.push({ field: "sshKey", message: "is not used with tokenAuth: true" });
  }
  return out;
}

/** scp-like `user@host:path`, as git and flux accept for SSH. */
const SCP_LIKE = /^([^@/:\s]+@)?([^/:\s]+):(?!\/\/)(.+)$/;

function checkGitUrl(
  url: string,
  allowInsecureHttp: boolean,
  auth: "token" | "ssh",
): string | undefined {
  const notNetwork = nonNetworkUrlProblem(url);
  if (notNetwork) return notNetwork;
  if (auth === "ssh") {
    if (SCP_LIKE.test(url) && !url.includes("://")) return checkCodeCommitUser(url);
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      return `"${url}" is not a valid URL`;
    }
    if (u.protocol !== "ssh:") return "SSH auth needs an ssh:// (or user@host:path) URL";
    if (u.password) return "must not contain a password";
    return checkCodeCommitUser(url);
  }
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return `"${url}" is not a valid URL`;
  }
  if (u.protocol === "ssh:") {
    return "ssh:// URLs need SSH auth (git.auth.type: ssh); token auth works over https://";
  }
  if (u.username || u.password) {
    return "must not contain credentials; use git.auth with a secret reference";
  }
  if (u.protocol === "https:") return undefined;
  if (u.protocol === "http:") {
    return allowInsecureHttp
      ? undefined
      : "plain http:// sends the token unencrypted; use https:// or set git.allowInsecureHttp: true";
  }
  return `unsupported URL scheme "${u.protocol}" (use https://)`;
}

/** AWS CodeCommit identifies the key by the URL's user name (the SSHPublicKeyId), never `git`. */
function checkCodeCommitUser(url: string): string | undefined {
  const m = url.match(
    /^(?:ssh:\/\/)?(?:([^@/:]+)@)?(git-codecommit\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?)[:/]/,
  );
  if (!m) return undefined;
  if (!m[1] || m[1] === "git") {
    return "AWS CodeCommit needs the SSH key ID (SSHPublicKeyId, e.g. APKAEIBAERJR2EXAMPLE) as the URL's user, not git";
  }
  return undefined;
}

function checkSshOptions(git: RawGit): string | undefined {
  if (git.transport === "system" && (git.auth?.type !== "ssh" || git.sshHostname || git.sshKey)) {
    return "transport: system carries SSH only: it needs git.auth.type ssh and an ssh:// or user@host:path URL";
  }
  if (git.sshHostname && git.auth?.type === "ssh") {
    return "sshHostname is for token auth (the cluster then reads over SSH with a generated key); with SSH auth the URL is already SSH";
  }
  if (git.sshKey && !git.sshHostname) return "sshKey needs sshHostname (the cluster's SSH host)";
  if (
    git.sshKey?.ecdsaCurve && git.sshKey.algorithm !== undefined && git.sshKey.algorithm !== "ecdsa"
  ) {
    return `sshKey.ecdsaCurve is only for algorithm ecdsa, not ${git.sshKey.algorithm}`;
  }
  if (git.sshKey?.rsaBits && git.sshKey.algorithm !== "rsa") {
    return "sshKey.rsaBits is only for algorithm rsa";
  }
  return undefined;
}

/** flux --ssh-hostname: the cluster's URL is the HTTPS URL's path on ssh://<user>@<host[:port]>. */
export function clusterSshUrl(httpsUrl: string, sshHostname: string, user: string): string {
  const path = new URL(httpsUrl).pathname;
  return `ssh://${user}@${sshHostname}${path}`;
}

/** `path` and the sparse checkout folders: a folder inside the repository, written plainly. */
function checkRepoPath(path: string): string | undefined {
  // deno-lint-ignore no-control-regex
  if (/[\x00-\x1f\x7f]/.test(path)) return "must not contain control characters";
  if (path.includes("\\")) return "must use '/' between folders, not '\\'";
  if (isAbsolute(path) || path.startsWith("/") || /^[A-Za-z]:/.test(path)) {
    return "must be relative to the repository root";
  }
  const segments = normalisePath(path).split("/");
  if (segments.some((s) => s === "..")) return "must not leave the repository ('..')";
  // git refuses .git in a tree, in any case and with the trailing dots and spaces Windows drops.
  if (segments.some((s) => /^\.git[. ]*$/i.test(s))) {
    return "must not contain a .git folder (git keeps its own data there)";
  }
  if (normalisePath(path) === "") return "must name a folder inside the repository";
  return undefined;
}

/**
 * flux bootstrap --sparse-checkout: "the configured --path must be one of them" — the cluster's
 * path must be one of the folders or inside one, or Flux cannot read its own files.
 */
function sparseCheckoutProblems(
  folders: string[],
  path: string,
  pathProblem: string | undefined,
): string[] {
  const out: string[] = [];
  for (const folder of folders) {
    const problem = checkRepoPath(folder);
    if (problem) out.push(`"${folder}" ${problem}`);
  }
  if (out.length > 0 || pathProblem || folders.length === 0) return out;
  const own = normalisePath(path);
  const covered = folders.some((f) => {
    const folder = normalisePath(f);
    return own === folder || own.startsWith(`${folder}/`);
  });
  if (!covered) {
    out.push(
      `must include the cluster's path ${own} (or a folder above it): Flux reads its own files from there`,
    );
  }
  return out;
}

function resolveBitbucket(git: RawGit): BitbucketConfig {
  const personal = git.personal === true;
  return {
    apiUrl: (git.apiUrl ?? `https://${git.hostname}`).replace(/\/+$/, ""),
    project: personal ? `~${git.owner}` : git.owner!,
    slug: git.repository!,
    username: git.username ?? git.owner!,
    token: git.token ?? { env: "BITBUCKET_TOKEN" },
    private: git.private ?? true,
    reconcileVisibility: git.reconcileVisibility ?? false,
    groups: (git.groups ?? []).map((g) => {
      const [group, permission] = g.split(":");
      return {
        group,
        permission: (permission ?? "REPO_WRITE") as BitbucketConfig["groups"][number]["permission"],
      };
    }),
    tokenAuth: git.tokenAuth ?? false,
    readWriteKey: git.readWriteKey ?? false,
    ...(git.sshHostname ? { sshHostname: git.sshHostname } : {}),
  };
}

/** Bitbucket Server's HTTP clone URL convention; replaced by the API's own link once observed. */
export function bitbucketCloneUrl(b: BitbucketConfig): string {
  return `${b.apiUrl}/scm/${b.project.toLowerCase()}/${b.slug}.git`;
}

export function normalisePath(path: string): string {
  return path.split("/").filter((s) => s !== "" && s !== ".").join("/");
}

function resolveCluster(raw: RawManifest, c: RawCluster, baseDir: string): ClusterConfig {
  const d = raw.defaults ?? {};
  const git = { ...d.git, ...c.git };
  const flux = { ...d.flux, ...c.flux };
  const kube = { ...d.kube, ...c.kube };
  const bitbucket = git.provider === "bitbucket-server" ? resolveBitbucket(git) : undefined;
  const rawAuth = bitbucket
    ? { type: "token" as const, username: bitbucket.username, token: bitbucket.token }
    : git.auth ?? { type: "token" as const };
  const auth: ClusterConfig["git"]["auth"] = rawAuth.type === "ssh"
    ? {
      type: "ssh",
      privateKey: rawAuth.privateKey,
      ...(rawAuth.passphrase ? { passphrase: rawAuth.passphrase } : {}),
    }
    : {
      type: "token",
      username: rawAuth.username ?? "git",
      token: rawAuth.token ?? { env: "GIT_PASSWORD" },
    };
  const knownHosts = git.knownHosts && "file" in git.knownHosts
    ? { file: resolve(baseDir, git.knownHosts.file) }
    : git.knownHosts ?? { scan: true as const };
  const url = bitbucket ? bitbucketCloneUrl(bitbucket) : git.url!;
  const clusterSsh = git.sshHostname || (bitbucket && !bitbucket.tokenAuth)
    ? {
      // Bitbucket: known once the API's ssh clone link is observed.
      clusterUrl: bitbucket ? "" : clusterSshUrl(url, git.sshHostname!, git.sshUser ?? "git"),
      key: {
        algorithm: git.sshKey?.algorithm ?? "ecdsa",
        ecdsaCurve: git.sshKey?.ecdsaCurve ?? "p384",
        rsaBits: git.sshKey?.rsaBits ?? 2048,
      },
    }
    : undefined;
  const rel = (p: string | undefined) => (p === undefined ? undefined : resolve(baseDir, p));
  // As flux: without a source, the release's manifests archive for the version is downloaded
  // (once, then cached with its checksum).
  const manifests = flux.manifests ?? releaseManifestsUrl(flux.version ?? DEFAULT_FLUX_VERSION);
  return {
    name: c.name,
    labels: c.labels ?? {},
    rotate: c.rotate ?? false,
    kube: {
      kubeconfig: rel(kube.kubeconfig),
      context: kube.context,
      ...(kube.allowInsecureHttp ? { allowInsecureHttp: true } : {}),
      ...(kube.execPlugins === "deny" ? { execPlugins: "deny" as const } : {}),
    },
    path: normalisePath(c.path),
    git: {
      provider: git.provider ?? "generic",
      url,
      ...(bitbucket ? { bitbucket } : {}),
      branch: git.branch ?? "main",
      author: git.author ?? { name: "Flux", email: "flux@example.com" },
      ...(git.signing ? { signing: git.signing } : {}),
      auth,
      knownHosts,
      transport: git.transport ?? "builtin",
      ...(git.hostKeyAlgorithms ? { hostKeyAlgorithms: git.hostKeyAlgorithms } : {}),
      ...(clusterSsh ? { clusterSsh } : {}),
      allowInsecureHttp: git.allowInsecureHttp ?? false,
      caFile: rel(git.caFile),
      commitMessageAppendix: git.commitMessageAppendix,
    },
    flux: {
      version: flux.version ?? DEFAULT_FLUX_VERSION,
      manifests: /^https?:\/\//.test(manifests) ? manifests : resolve(baseDir, manifests),
      ...(flux.manifestsSha256 ? { manifestsSha256: flux.manifestsSha256 } : {}),
      ...(flux.allowInsecureHttp ? { allowInsecureHttp: true } : {}),
      namespace: flux.namespace ?? "flux-system",
      secretName: flux.secretName ?? DEFAULT_SECRET_NAME,
      interval: flux.interval ?? "1m",
      timeoutMs: parseDuration(flux.timeout ?? "5m"),
      components: flux.components ?? DEFAULT_COMPONENTS,
      componentsExtra: flux.componentsExtra ?? [],
      registry: flux.registry ?? DEFAULT_REGISTRY,
      imagePullSecret: flux.imagePullSecret,
      ...(flux.registryCredentials ? { registryCredentials: flux.registryCredentials } : {}),
      networkPolicy: flux.networkPolicy ?? true,
      watchAllNamespaces: flux.watchAllNamespaces ?? true,
      clusterDomain: flux.clusterDomain ?? "cluster.local",
      tolerationKeys: flux.tolerationKeys ?? [],
      logLevel: flux.logLevel ?? "info",
      recurseSubmodules: flux.recurseSubmodules ?? false,
      ...(flux.sourceProvider ? { sourceProvider: flux.sourceProvider } : {}),
      ...(flux.sparseCheckout?.length ? { sparseCheckout: flux.sparseCheckout } : {}),
    },
  };
}
