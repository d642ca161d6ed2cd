/**
 * A local Kubernetes API server for tests, the demo and benchmarks: real HTTPS with a CA the
 * kubeconfig trusts, bearer-token auth, discovery/OpenAPI enough for kubectl, server-side
 * apply, watches, and a Flux controller stand-in. No real kube-apiserver can run here.
 */

import { type FluxBehaviour, type FluxMode, FluxStandIn } from "./flux.ts";
import type { FluxControls } from "./flux_controls.ts";
import { handleRequest, type HttpContext, type RequestRecord } from "./http.ts";
import { Faults, type KubeFault } from "./http.ts";
import { Objects } from "./objects.ts";
import { NAMESPACE_TYPE, Registry, splitApiVersion } from "./registry.ts";
import { clone, Store } from "./store.ts";
import { sandboxTls } from "./tls.ts";
import { Watches } from "./watch.ts";
import { DEFAULT_KUBERNETES_VERSION } from "./discovery.ts";

export type { FluxBehaviour, FluxMode } from "./flux.ts";
export type {
  FluxControls,
  KustomizationFailReason,
  KustomizationOutcome,
  StoredVersionsWrite,
} from "./flux_controls.ts";

/**
 * The Flux stand-in's set-up: `mode` "status" (default) only reports Ready at the resolved
 * revision; "apply" fetches each new revision and applies what `kubectl kustomize` builds of the
 * Kustomization's path (see flux.ts). `behaviour` as the plain string form of the option.
 */
export interface FluxStandInOptions {
  mode?: FluxMode;
  behaviour?: FluxBehaviour;
  /** Where "apply" keeps its artifacts and builds (default the system temp dir); emptied on close. */
  tempDir?: string;
}
export type { KubeFault, RequestRecord } from "./http.ts";

export interface KubeSandboxOptions {
  /** Bearer token required on every request (default: random). Wrong/missing → 401 Status. */
  token?: string;
  /** Optional second token that authenticates but gets 403 Forbidden on every resource. */
  forbiddenToken?: string;
  /**
   * The Flux controller stand-in: its initial behaviour (default "ready"), or
   * `{ mode: "apply" }` to have Kustomizations really build and apply their source's revision.
   */
  flux?: FluxBehaviour | FluxStandInOptions;
  /** Delay before the stand-in reconciles a change (default 50). */
  reconcileDelayMs?: number;
  /**
   * How often the Flux stand-in re-resolves every reconciled GitRepository with
   * `git ls-remote` (default 500 ms). 0 turns the poll off: only client writes (create/update
   * of GitRepositories, Kustomizations, Secrets, Deployments) trigger a reconcile. Benchmarks
   * with many sandboxes set a slow poll so hundreds of periodic forks do not skew the timings.
   */
  sourcePollMs?: number;
  /** Keep request bodies in `requests` (off by default), e.g. to scan them for secrets. */
  recordBodies?: boolean;
  /** The version GET /version reports (default DEFAULT_KUBERNETES_VERSION, v1.33.0). */
  kubernetesVersion?: string;
}

export interface KubeSandbox {
  /** https://127.0.0.1:<port> */
  url: string;
  /** CA certificate (PEM) that signed the server certificate. */
  caPem: string;
  token: string;
  /** Every client request, in order (the stand-in's own status writes are not included). */
  requests: RequestRecord[];
  /** POST/PUT/PATCH/DELETE only. */
  mutatingRequests(): RequestRecord[];
  resetRequests(): void;
  /**
   * "ready", "fail" (Ready=False BuildFailed with `message`) or "hang" (Kustomizations get no
   * status until the next behaviour or outcome); replaces an outcome set through `flux`.
   */
  setFluxBehaviour(b: FluxBehaviour, message?: string): void;
  /** Per-cluster Flux controls (outcomes, unavailable Deployments, stored versions). */
  flux: FluxControls;
  /** Direct peek at stored state, bypassing HTTP; undefined when absent. */
  getObject(
    apiVersion: string,
    kind: string,
    namespace: string | undefined,
    name: string,
  ): Record<string, unknown> | undefined;
  /** The cluster/user/context entries of a kubeconfig pointing at this sandbox. */
  kubeconfigCluster(contextName: string): { cluster: object; user: object; context: object };
  /** Injects a fault into the next matching requests (default once); see KubeFault. */
  failNext(fault: KubeFault): void;
  close(): Promise<void>;
}

/** Namespaces every real cluster starts with. */
const INITIAL_NAMESPACES = ["default", "kube-system", "kube-public", "kube-node-lease"];

const MUTATING = new Set(["POST", "PUT", "PATCH", "DELETE"]);

function randomToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(24));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function base64Text(s: string): string {
  const bytes = new TextEncoder().encode(s);
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

function seed(objects: Objects): void {
  for (const name of INITIAL_NAMESPACES) {
    objects.create(NAMESPACE_TYPE, undefined, { metadata: { name } }, { internal: true });
  }
}

export async function startKubeSandbox(opts: KubeSandboxOptions = {}): Promise<KubeSandbox> {
  const poll = opts.sourcePollMs;
  if (poll !== undefined && !(Number.isFinite(poll) && poll >= 0)) {
    throw new RangeError(`sourcePollMs must be a finite number ≥ 0, got ${poll}`);
  }
  const tls = await sandboxTls();
  const token = opts.token ?? randomToken();
  const store = new Store();
  const registry = new Registry();
  const objects = new Objects(store, registry);
  seed(objects);
  const watches = new Watches(objects);
  const requests: RequestRecord[] = [];
  const fluxOpts = typeof opts.flux === "string" ? { behaviour: opts.flux } : opts.flux ?? {};
  const flux = new FluxStandIn(objects, {
    behaviour: fluxOpts.behaviour ?? "ready",
    mode: fluxOpts.mode ?? "status",
    tempDir: fluxOpts.tempDir,
    reconcileDelayMs: opts.reconcileDelayMs ?? 50,
    pollMs: opts.sourcePollMs,
  });
  const ctx: HttpContext = {
    objects,
    registry,
    watches,
    token,
    forbiddenToken: opts.forbiddenToken,
    serverAddress: "127.0.0.1:0", // the real port is known once listening, set below
    kubernetesVersion: opts.kubernetesVersion ?? DEFAULT_KUBERNETES_VERSION,
    record: (r) => requests.push(r),
    faults: new Faults(),
    recordBodies: opts.recordBodies,
  };
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    cert: tls.certPem,
    key: tls.keyPem,
    onListen() {},
  }, (req) => handleRequest(ctx, req));
  ctx.serverAddress = `127.0.0.1:${server.addr.port}`;
  const url = `https://${ctx.serverAddress}`;
  flux.start();
  let closing: Promise<void> | undefined;

  return {
    url,
    caPem: tls.caPem,
    token,
    requests,
    mutatingRequests: () => requests.filter((r) => MUTATING.has(r.method)),
    failNext: (fault) => ctx.faults?.add(fault),
    resetRequests: () => {
      requests.length = 0;
    },
    setFluxBehaviour: (b, message) => flux.setBehaviour(b, message),
    flux: {
      setKustomizationOutcome: (o) => flux.controls.setKustomizationOutcome(o),
      setDeploymentUnavailable: (name, unavailable, namespace) =>
        flux.controls.setDeploymentUnavailable(name, unavailable, namespace),
      setStoredVersions: (crd, versions) => flux.controls.setStoredVersions(crd, versions),
      storedVersionsWrites: () => flux.controls.storedVersionsWrites(),
    },
    getObject(apiVersion, kind, namespace, name) {
      const { group } = splitApiVersion(apiVersion);
      const e = store.get(group, kind, namespace, name);
      if (!e) return undefined;
      const out = clone(e.obj);
      out.apiVersion = apiVersion;
      return out;
    },
    kubeconfigCluster(contextName) {
      return {
        cluster: {
          name: contextName,
          cluster: { server: url, "certificate-authority-data": base64Text(tls.caPem) },
        },
        user: { name: contextName, user: { token } },
        context: { name: contextName, context: { cluster: contextName, user: contextName } },
      };
    },
    close() {
      // Idempotent: tests may close in finally blocks after an explicit close.
      closing ??= (async () => {
        ctx.faults?.close();
        await flux.stop();
        watches.closeAll();
        await server.shutdown();
      })();
      return closing;
    },
  };
}
