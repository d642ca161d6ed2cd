/**
 * A small kubeconfig reader for the common cases: server, CA, bearer token (or token file),
 * client certificate, basic auth. Files are merged like kubectl does (KUBECONFIG, first file wins
 * per name) and parsed once per run. Users with `exec` or `auth-provider` credential plugins are
 * handed to @kubernetes/client-node, which is only imported then: importing it costs ~0.3 s and
 * ~110 MiB, the largest part of a fleet plan's memory.
 */
import { basename, dirname, isAbsolute, resolve } from "node:path";
// js-yaml (nodeca; maintained, 4.3.2 of August 2026; what @kubernetes/client-node reads
// kubeconfigs with; plain JavaScript, works under Deno 2.9.6): a fleet's kubeconfig has a context
// per cluster, and at 1,000 contexts (1.6 MiB) it parses in ~55 ms and ~15 MiB where the `yaml`
// package's document model took ~300 ms and ~60 MiB (bench/README.md). Aliases are shared
// references (no expansion), and tags outside the core schema are refused.
import { CORE_SCHEMA, load as loadYaml, YAMLException } from "js-yaml";
import { registerSecret } from "../util/redact.ts";

export interface KubeTarget {
  kubeconfig?: string;
  context?: string;
  /** kube.allowInsecureHttp: an http:// server is refused without it. */
  allowInsecureHttp?: boolean;
  /** kube.execPlugins: with "deny" no command named by a kubeconfig is ever run. */
  execPlugins?: "allow" | "deny";
}

interface Named<T> {
  name: string;
  value: T;
  /** The kubeconfig file the entry was read from. */
  file: string;
}

interface ClusterEntry {
  server?: string;
  "certificate-authority-data"?: string;
  "certificate-authority"?: string;
}

interface UserEntry {
  token?: string;
  tokenFile?: string;
  "client-certificate-data"?: string;
  "client-certificate"?: string;
  "client-key-data"?: string;
  "client-key"?: string;
  username?: string;
  password?: string;
  exec?: { command?: unknown };
  "auth-provider"?: { name?: unknown; config?: Record<string, unknown> };
}

interface ContextEntry {
  cluster?: string;
  user?: string;
}

interface Merged {
  where: string;
  clusters: Map<string, Named<ClusterEntry> & { dir: string }>;
  users: Map<string, Named<UserEntry> & { dir: string }>;
  contexts: Map<string, ContextEntry>;
  currentContext?: string;
}

export interface KubeConnection {
  context: string;
  server: string;
  ca?: string;
  cert?: string;
  key?: string;
  headers: Record<string, string>;
}

const merged = new Map<string, Merged>();

function files(target: KubeTarget): string[] {
  if (target.kubeconfig) return [target.kubeconfig];
  const env = Deno.env.get("KUBECONFIG");
  if (env) return env.split(":").filter((p) => p !== "");
  return [resolve(Deno.env.get("HOME") ?? "/", ".kube", "config")];
}

function load(target: KubeTarget): Merged {
  const paths = files(target);
  const key = paths.join(":");
  const cached = merged.get(key);
  if (cached) return cached;
  const m: Merged = {
    where: target.kubeconfig ?? (Deno.env.get("KUBECONFIG") ?? "~/.kube/config"),
    clusters: new Map(),
    users: new Map(),
    contexts: new Map(),
  };
  for (const path of paths) {
    let text: string;
    try {
      text = Deno.readTextFileSync(path);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound && paths.length > 1) continue;
      throw new Error(`kube.kubeconfig: cannot read ${path}: ${(e as Error).name}`);
    }
    const doc = (parseKubeconfig(text, path) ?? {}) as {
      clusters?: { name: string; cluster?: ClusterEntry }[];
      users?: { name: string; user?: UserEntry }[];
      contexts?: { name: string; context?: ContextEntry }[];
      "current-context"?: string;
    };
    const dir = dirname(resolve(path));
    for (const c of doc.clusters ?? []) {
      if (!m.clusters.has(c.name)) {
        m.clusters.set(c.name, { name: c.name, value: c.cluster ?? {}, dir, file: path });
      }
    }
    for (const u of doc.users ?? []) {
      if (!m.users.has(u.name)) {
        m.users.set(u.name, { name: u.name, value: u.user ?? {}, dir, file: path });
      }
    }
    for (const c of doc.contexts ?? []) {
      if (!m.contexts.has(c.name)) m.contexts.set(c.name, c.context ?? {});
    }
    m.currentContext ??= doc["current-context"] || undefined;
  }
  merged.set(key, m);
  return m;
}

/**
 * A kubeconfig holds credentials, and a YAML error message quotes the line it stopped at (and
 * some quote a value: an unresolved alias or tag): the error says where and what kind of
 * problem, never the text. Warnings are not printed (they would quote the text too).
 */
function parseKubeconfig(text: string, path: string): unknown {
  try {
    // The YAML 1.2 core schema: no timestamps, merge keys or binary (as the `yaml` package).
    return loadYaml(text, { schema: CORE_SCHEMA, filename: path });
  } catch (e) {
    if (!(e instanceof YAMLException)) throw e;
    const at = e.mark;
    const where = at ? ` at line ${at.line + 1}, column ${at.column + 1}` : "";
    // js-yaml's reasons are fixed phrases, but a few quote a tag or an alias: only plain words.
    const kind = /^[a-z ,;()-]+$/i.test(e.reason ?? "") ? e.reason : "syntax error";
    throw new Error(
      `kube.kubeconfig: ${path} is not valid YAML${where} (${kind}); the line is not shown, as it may hold a credential`,
    );
  }
}

/** The context a target names (or the current one); errors name the context and the file. */
export function resolveKubeContext(target: KubeTarget): string {
  const m = load(target);
  const context = target.context ?? m.currentContext;
  if (!context) throw new Error(`kube.context: no current context in kubeconfig ${m.where}`);
  if (!m.contexts.has(context)) {
    const known = [...m.contexts.keys()].join(", ") || "none";
    throw new Error(
      `kube.context: context "${context}" is not in kubeconfig ${m.where} (contexts: ${known})`,
    );
  }
  return context;
}

/**
 * The API server URL of a target's context, as the kubeconfig writes it (whatever its user
 * authenticates with); errors name the context and the file.
 */
export function resolveKubeServer(target: KubeTarget): string {
  const m = load(target);
  const context = resolveKubeContext(target);
  const ctx = m.contexts.get(context)!;
  const server = ctx.cluster ? m.clusters.get(ctx.cluster)?.value.server : undefined;
  if (!server) {
    throw new Error(
      `kube.context: context "${context}" names no cluster with a server in ${m.where}`,
    );
  }
  return server;
}

/**
 * The text of base64 data (a CA, a certificate, a key): with a loop, not a callback per byte, and
 * the last answer kept: a fleet's clusters often trust one CA, decoded once then.
 */
let lastDecoded: { data: string; text: string } | undefined;
function decodeBase64Text(data: string): string {
  if (lastDecoded?.data === data) return lastDecoded.text;
  const bin = atob(data);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  const text = new TextDecoder().decode(bytes);
  lastDecoded = { data, text };
  return text;
}

function fileOrData(
  data: string | undefined,
  file: string | undefined,
  dir: string,
): string | undefined {
  if (data) return decodeBase64Text(data);
  if (file) return Deno.readTextFileSync(isAbsolute(file) ? file : resolve(dir, file));
  return undefined;
}

function contextUser(
  target: KubeTarget,
): { context: string; user?: Named<UserEntry> & { dir: string } } {
  const m = load(target);
  const context = resolveKubeContext(target);
  const ctx = m.contexts.get(context)!;
  return { context, user: ctx.user ? m.users.get(ctx.user) : undefined };
}

/**
 * Where a user's credentials come from when a plugin makes them: `exec` (users[].user.exec, as
 * EKS's `aws`, GKE's `gke-gcloud-auth-plugin`, kubelogin) or an `auth-provider` (gcp, azure,
 * oidc). `command` is the base name of what it runs, never its arguments or folder; absent when
 * it runs none. As @kubernetes/client-node 1.4 does: exec plugins are spawned (also an
 * auth-provider's `config.exec`); gcp and azure run `config.cmd-path` (through a shell, with
 * `cmd-args`) when their token is missing or expired; oidc runs nothing (it refreshes over HTTP).
 */
export interface CredentialPlugin {
  plugin: "exec" | "auth-provider";
  /** auth-provider only: its name (gcp, azure, oidc, …). */
  provider?: string;
  command?: string;
}

function commandName(command: unknown): string | undefined {
  return typeof command === "string" && command.trim() !== ""
    ? basename(command.trim())
    : undefined;
}

function pluginOf(u: UserEntry): CredentialPlugin | undefined {
  if (u.exec !== undefined) {
    const command = commandName(u.exec?.command);
    return { plugin: "exec", ...(command ? { command } : {}) };
  }
  const ap = u["auth-provider"];
  if (ap === undefined) return undefined;
  const config = ap?.config ?? {};
  const exec = config.exec as { command?: unknown } | undefined;
  const command = commandName(exec?.command) ?? commandName(config["cmd-path"]);
  return {
    plugin: "auth-provider",
    provider: typeof ap?.name === "string" ? ap.name : "unnamed",
    ...(command ? { command } : {}),
  };
}

/** The credential plugin of the target's user, if it has one. */
export function credentialPlugin(target: KubeTarget): CredentialPlugin | undefined {
  const { user } = contextUser(target);
  return user ? pluginOf(user.value) : undefined;
}

/** kube.execPlugins: deny met a kubeconfig user whose credentials come from a command. */
export class ExecPluginDenied extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ExecPluginDenied";
  }
}

/**
 * With `kube.execPlugins: deny`, refuses a user whose credentials come from running a command
 * (an exec plugin, or an auth-provider with a command) before anything runs or is contacted.
 */
export function assertExecPluginsAllowed(target: KubeTarget): void {
  if (target.execPlugins !== "deny") return;
  const { context, user } = contextUser(target);
  const plugin = user ? pluginOf(user.value) : undefined;
  if (!plugin || (plugin.plugin === "auth-provider" && !plugin.command)) return;
  const what = plugin.plugin === "exec"
    ? `the exec plugin "${plugin.command ?? "(no command)"}" (users[].user.exec)`
    : `the auth-provider ${plugin.provider} command "${plugin.command}" (users[].user.auth-provider.config)`;
  throw new ExecPluginDenied(
    `kube.execPlugins: deny, but the user "${user!.name}" of context "${context}" in kubeconfig ${
      user!.file
    } gets its credentials from ${what}; it was not run. Use a user with a token or client certificate for this cluster, or set kube.execPlugins: allow`,
  );
}

/** A file a user entry names, when it can be read (errors are reported where it is used). */
function readable(dir: string, file: string | undefined): string | undefined {
  if (typeof file !== "string") return undefined;
  try {
    return Deno.readTextFileSync(isAbsolute(file) ? file : resolve(dir, file)).trim();
  } catch {
    return undefined;
  }
}

/**
 * Registers for redaction the credentials of the target's kubeconfig user (token or token file,
 * password and Basic credentials, client key, an auth-provider's tokens and client secret), as
 * the manifest's secrets are: before anything is contacted, so a server echoing one, or an
 * error quoting one, shows *** instead.
 */
export function registerKubeSecrets(target: KubeTarget): void {
  const { user } = contextUser(target);
  if (!user) return;
  const u = user.value;
  const values = [
    u.token,
    readable(user.dir, u.tokenFile),
    u.password,
    u["client-key-data"],
    readable(user.dir, u["client-key"]),
  ];
  if (typeof u.username === "string") {
    const basic = new TextEncoder().encode(`${u.username}:${u.password ?? ""}`);
    values.push(btoa(String.fromCharCode(...basic)));
  }
  const config = u["auth-provider"]?.config ?? {};
  for (const k of ["access-token", "id-token", "refresh-token", "client-secret"]) {
    values.push(config[k] as string | undefined);
  }
  for (const v of values) if (typeof v === "string") registerSecret(v);
  if (typeof u["client-key-data"] === "string") {
    try {
      registerSecret(fileOrData(u["client-key-data"], undefined, user.dir)!.trim());
    } catch {
      // Not base64: reported when the connection is made.
    }
  }
}

/**
 * Connection details for a target, or undefined when its user needs a credential plugin
 * (exec, auth-provider): those go through @kubernetes/client-node.
 */
export function simpleConnection(target: KubeTarget): KubeConnection | undefined {
  const m = load(target);
  const { context, user } = contextUser(target);
  const ctx = m.contexts.get(context)!;
  const cluster = ctx.cluster ? m.clusters.get(ctx.cluster) : undefined;
  if (!cluster?.value.server) {
    throw new Error(
      `kube.context: context "${context}" names no cluster with a server in ${m.where}`,
    );
  }
  const u = user?.value ?? {};
  registerKubeSecrets(target);
  if (u.exec !== undefined || u["auth-provider"] !== undefined) return undefined;
  const c = cluster.value;
  const headers: Record<string, string> = {};
  const token = u.token ??
    (u.tokenFile ? Deno.readTextFileSync(resolve(user!.dir, u.tokenFile)).trim() : undefined);
  if (token) headers.Authorization = `Bearer ${token}`;
  else if (u.username !== undefined) {
    headers.Authorization = `Basic ${btoa(`${u.username}:${u.password ?? ""}`)}`;
  }
  return {
    context,
    server: c.server!.replace(/\/+$/, ""),
    ca: fileOrData(c["certificate-authority-data"], c["certificate-authority"], cluster.dir),
    cert: fileOrData(u["client-certificate-data"], u["client-certificate"], user?.dir ?? ""),
    key: fileOrData(u["client-key-data"], u["client-key"], user?.dir ?? ""),
    headers,
  };
}
