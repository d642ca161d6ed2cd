/**
 * The fleet on 127.0.0.1: Kubernetes API sandboxes (all in the bench process, one TLS listener
 * and one port each) and repositories on the real git server, plus the kubeconfig and manifest
 * of each fleet measured. Request records of both servers get arrival stamps for timelines.
 */
import type { GitServer } from "../../sandbox/git/http_server.ts";
import { type KubeSandbox, startKubeSandbox } from "../../sandbox/kube/server.ts";
import { writeKubeconfig } from "../../sandbox/kube/kubeconfig.ts";

export const ROOT = new URL("../../", import.meta.url).pathname;

/**
 * The bench fleets' flux.manifests unless --manifests says otherwise: the fixture install.yaml
 * (rendered by fluxfleet). `fixtures/flux-manifests` measures the default kind, a release archive
 * built with kubectl kustomize.
 */
export const INSTALL_FIXTURE = `${ROOT}fixtures/flux-install.yaml`;

export function clusterName(i: number): string {
  return `c${String(i).padStart(3, "0")}`;
}

/**
 * A bench fleet's manifest: `gitLines` go under `defaults.git`, `clusterGit(i)` follows cluster
 * i's `git:` (a flow mapping, or an indented block on the next line).
 */
export function fleetManifest(
  label: string,
  members: number[],
  gitLines: string[],
  clusterGit: (i: number) => string,
  manifests = INSTALL_FIXTURE,
): string {
  const clusters = members.map((i) =>
    `  - name: ${clusterName(i)}
    kube: { context: ${clusterName(i)} }
    path: clusters/${clusterName(i)}
    git:${clusterGit(i)}
`
  ).join("");
  return `defaults:
  flux: { version: v2.4.0, manifests: ${manifests}, interval: 1m, timeout: 5m }
  git:
    branch: main
    author: { name: fluxfleet-bench, email: bench@example.com }
${gitLines.map((l) => `    ${l}`).join("\n")}
  kube: { kubeconfig: ./kubeconfig-${label} }
clusters:
${clusters}`;
}

export function repoName(r: number): string {
  return `fleet-${String(r).padStart(2, "0")}`;
}

/** What every fluxfleet child gets: the git token and a scratch directory. */
export interface Env {
  token: string;
  work: string;
  /** Extra `deno run` flags for every fluxfleet child (--fluxfleet-flags). */
  denoFlags: string[];
}

export interface Fleet {
  label: string;
  /** Cluster indices (into the sandbox list). */
  members: number[];
  repoOf(i: number): number;
  manifest: string;
  kubeconfig: string;
}

export class World {
  sandboxes: KubeSandbox[] = [];
  repos = new Set<number>();
  /** performance.now() when each request record was pushed (on arrival, for both servers). */
  readonly stamps = new WeakMap<object, number>();

  constructor(
    readonly git: GitServer,
    readonly env: Env,
    /** Clusters per repository: cluster i lives in repository floor(i / perRepo). */
    readonly perRepo: number,
    readonly sourcePollMs: number,
    /** flux.manifests of every fleet. */
    readonly manifests = INSTALL_FIXTURE,
  ) {
    this.#stamp(git.requests);
  }

  /**
   * Both servers record requests with `requests.push(record)` when they arrive; wrapping push on
   * that one array instance adds arrival times without changing either server.
   */
  #stamp<T extends object>(arr: T[]): void {
    const push = arr.push.bind(arr);
    arr.push = (...items: T[]) => {
      const now = performance.now();
      for (const it of items) this.stamps.set(it, now);
      return push(...items);
    };
  }

  /** Time of a request record relative to `since` (a performance.now()), in ms. */
  at(record: object, since: number): number {
    return (this.stamps.get(record) ?? NaN) - since;
  }

  repoOf = (i: number): number => Math.floor(i / this.perRepo);

  async ensureSandboxes(n: number): Promise<void> {
    const batch = 25;
    while (this.sandboxes.length < n) {
      const k = Math.min(batch, n - this.sandboxes.length);
      const started = await Promise.all(
        Array.from(
          { length: k },
          () => startKubeSandbox({ reconcileDelayMs: 20, sourcePollMs: this.sourcePollMs }),
        ),
      );
      for (const sb of started) this.#stamp(sb.requests);
      this.sandboxes.push(...started);
    }
  }

  async ensureRepos(indices: Iterable<number>): Promise<void> {
    for (const r of indices) {
      if (this.repos.has(r)) continue;
      await this.git.createRepo(repoName(r));
      this.repos.add(r);
    }
  }

  /**
   * A fleet of the given clusters. The layout is the same for every fleet (perRepo clusters per
   * repository), so the 100/10 fleet is the first tenth of the 1000/100 one and bootstrapping the
   * big fleet leaves the small ones bootstrapped too.
   */
  async fleet(label: string, members: number[]): Promise<Fleet> {
    await this.ensureSandboxes(Math.max(...members) + 1);
    await this.ensureRepos(members.map(this.repoOf));
    const kubeconfig = `${this.env.work}/kubeconfig-${label}`;
    await writeKubeconfig(
      kubeconfig,
      members.map((i) => ({ context: clusterName(i), sandbox: this.sandboxes[i] })),
    );
    const manifest = `${this.env.work}/fleet-${label}.yaml`;
    await Deno.writeTextFile(
      manifest,
      this.manifestText(label, members, (i) => this.git.repoUrl(repoName(this.repoOf(i)))),
    );
    return { label, members, repoOf: this.repoOf, manifest, kubeconfig };
  }

  /** The manifest of a fleet; `gitUrl` says where each cluster's repository is. */
  manifestText(label: string, members: number[], gitUrl: (i: number) => string): string {
    return fleetManifest(
      label,
      members,
      [
        "auth: { type: token, username: git, token: { env: GIT_PASSWORD } }",
        "allowInsecureHttp: true   # the bench's git server is plain http on 127.0.0.1",
      ],
      (i) => ` { url: ${gitUrl(i)} }`,
      this.manifests,
    );
  }

  resetRequests(f: Fleet): void {
    for (const i of f.members) this.sandboxes[i].resetRequests();
  }

  /** Waits (bounded) until the git server has seen no request for quietMs. */
  async gitQuiet(quietMs = 1000, maxMs = 60_000): Promise<void> {
    const deadline = Date.now() + maxMs;
    let seen = this.git.requests.length;
    let since = Date.now();
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      if (this.git.requests.length !== seen) {
        seen = this.git.requests.length;
        since = Date.now();
      } else if (Date.now() - since >= quietMs) return;
    }
  }

  async close(): Promise<void> {
    await this.git.close();
    // Sequential: close() awaits each stand-in's pass; there is no work left by now.
    for (const sb of this.sandboxes) await sb.close();
  }
}
