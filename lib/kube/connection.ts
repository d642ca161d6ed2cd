/**
 * How a cluster's API server is reached: the connection of a kubeconfig user with a credential
 * plugin (through @kubernetes/client-node, imported only for them), and the TLS clients shared
 * by clusters that trust the same CA with the same client certificate.
 */
import { registerSecret } from "../util/redact.ts";
import {
  assertExecPluginsAllowed,
  type KubeConnection,
  type KubeTarget,
  resolveKubeContext,
} from "./kubeconfig.ts";

/**
 * Users with credential plugins (exec, auth-provider: EKS, GKE, OIDC…) go through
 * @kubernetes/client-node's KubeConfig, imported only for them.
 */
export async function pluginConnection(target: KubeTarget): Promise<KubeConnection> {
  // Checked before the library is loaded: with deny, nothing from a kubeconfig is run.
  assertExecPluginsAllowed(target);
  const { KubeConfig } = await import("@kubernetes/client-node");
  const kc = new KubeConfig();
  try {
    if (target.kubeconfig) kc.loadFromFile(target.kubeconfig);
    else kc.loadFromDefault();
  } catch (e) {
    // js-yaml's message quotes the lines around the problem, which may hold a credential.
    const mark = (e as { mark?: { line?: number; column?: number } }).mark;
    const where = mark?.line !== undefined
      ? ` at line ${mark.line + 1}, column ${(mark.column ?? 0) + 1}`
      : "";
    throw new Error(
      `kube.kubeconfig: @kubernetes/client-node cannot read the kubeconfig${where}; the line is not shown, as it may hold a credential`,
    );
  }
  const context = resolveKubeContext(target);
  kc.setCurrentContext(context);
  const tls: {
    ca?: Uint8Array | string;
    cert?: Uint8Array | string;
    key?: Uint8Array | string;
    headers?: Record<string, string>;
    auth?: string;
  } = {};
  await kc.applyToHTTPSOptions(tls as never);
  const text = (v: Uint8Array | string | undefined) =>
    v === undefined ? undefined : typeof v === "string" ? v : new TextDecoder().decode(v);
  const headers: Record<string, string> = {};
  // Flattened copies: the values can be slices of the whole kubeconfig text.
  for (const [k, v] of Object.entries(tls.headers ?? {})) {
    headers[k] = JSON.parse(JSON.stringify(String(v)));
  }
  if (tls.auth) headers.Authorization = `Basic ${btoa(tls.auth)}`;
  // What the plugin produced is a credential like any other: redacted from all output.
  const bearer = /^(?:Bearer|Basic) (.+)$/.exec(headers.Authorization ?? "")?.[1];
  if (bearer) registerSecret(bearer);
  if (tls.key) registerSecret(text(tls.key)!.trim());
  return {
    context,
    server: kc.getCurrentCluster()!.server.replace(/\/+$/, ""),
    ca: text(tls.ca),
    cert: text(tls.cert),
    key: text(tls.key),
    headers,
  };
}

/**
 * HTTP clients shared by the clusters that trust the same CA with the same client certificate
 * (one TLS client per cluster kept hundreds of them open during a fleet plan).
 */
const sharedClients = new Map<string, { client: Deno.HttpClient; users: number }>();

export function acquireHttpClient(ca?: string, cert?: string, key?: string): {
  client: Deno.HttpClient;
  release(): void;
} {
  const id = JSON.stringify([ca ?? "", cert ?? "", key ?? ""]);
  let entry = sharedClients.get(id);
  if (!entry) {
    entry = {
      client: Deno.createHttpClient({
        caCerts: ca ? [ca] : undefined,
        ...(cert && key ? { cert, key } : {}),
        // A fleet plan touches each cluster for three GETs and then never again: an idle TLS
        // connection per cluster held to the end of the run was ~0.1 MiB each (500 clusters:
        // peak RSS 240 -> 232 MiB with this and the tree reads). The health wait polls every
        // second, so apply keeps its connections.
        poolIdleTimeout: 2_000,
      }),
      users: 0,
    };
    sharedClients.set(id, entry);
  }
  entry.users++;
  let released = false;
  return {
    client: entry.client,
    release() {
      if (released) return;
      released = true;
      if (--entry!.users === 0) {
        entry!.client.close();
        sharedClients.delete(id);
      }
    },
  };
}
