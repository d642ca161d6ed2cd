/** The fleet bench's command line. */
import { parseArgs } from "node:util";
import { HOSTED_KINDS, type HostedKind } from "./provider_sites.ts";
import { INSTALL_FIXTURE } from "./world.ts";

export const USAGE = `usage: deno run -A bench/fleet.ts [options]
  --sizes LIST           no-op plan fleets, clusters/repositories (100/10,500/50,1000/100); every
                         size needs the same clusters per repository (the fleets nest)
  --runs LIST            timed rounds per size, one number or one per size (5,3,3); a round is
                         fluxfleet, then the floor overlapped, then the floor in phases
  --no-floor             skip the floor runs (and its capture run)
  --startup-runs N       start-up rounds on the smallest fleet (10; 0 skips)
  --import-runs N        fresh-process imports per static npm package (5; 0 skips)
  --apply-clusters N     fresh clusters in the timed first apply (20; 0 skips)
  --baseline-runs N      git clone + kubectl baseline runs on the smallest fleet (1; 0 skips)
  --concurrency N        fluxfleet --concurrency of every timed run, and the floor's (8)
  --setup-concurrency N  --concurrency of the untimed apply that bootstraps the fleet (8)
  --source-poll-ms N     the sandboxes' Flux stand-in source poll; 0 = off (0)
  --manifests PATH       flux.manifests of the plain-git fleets (fixtures/flux-install.yaml, an
                         install.yaml; fixtures/flux-manifests: the default kind, a release
                         archive built with kubectl kustomize)
  --provider LIST        generic (default: plain git only), or hosted providers among
                         github,gitea,gitlab (or all): the smallest size's fleet is built on
                         each one's API sandbox too, and its no-op plans (without and with
                         teams, in the same rounds as the generic fleet's), the API requests
                         its sandbox counted, and a second apply are reported
  --json FILE            also write every figure as JSON
  --profile DIR          one CPU- and one heap-profiled plan per size, the apply profiled too;
                         keeps DIR/*.cpuprofile, *.heapprofile (the start-up profile goes there too)
  --compare DIR          another fluxfleet tree (e.g. a git archive export with a lib/ change):
                         its no-op plans run in the same rounds, right after this tree's, and
                         its start-up rounds too (the two trees take turns going first)
  --compare-flags=STR    deno flags for the compared tree only (without --compare: this tree again,
                         with these flags), e.g. --v8-flags=--max-semi-space-size=1
  --fluxfleet-flags=STR  deno flags for every fluxfleet run (write the = when STR starts with -)
  --help`;

export interface Size {
  clusters: number;
  repos: number;
  rounds: number;
}

export interface Options {
  sizes: Size[];
  floor: boolean;
  startupRuns: number;
  importRuns: number;
  applyClusters: number;
  baselineRuns: number;
  concurrency: number;
  setupConcurrency: number;
  sourcePollMs: number;
  /** flux.manifests of the plain-git fleets (an absolute path). */
  manifests: string;
  json?: string;
  profile?: string;
  compare?: string;
  /** Extra `deno run` flags of the compared tree's runs (split on spaces). */
  compareFlags: string[];
  /** Extra `deno run` flags for every fluxfleet child (split on spaces). */
  fluxfleetFlags: string[];
  /** Clusters per repository, the same for every size. */
  perRepo: number;
  /** --provider: the hosted providers the smallest fleet is also built on (none: generic only). */
  providers: HostedKind[];
}

function parseProviders(raw: string | undefined): HostedKind[] {
  const names = (raw ?? "generic").split(",").map((s) => s.trim()).filter((s) => s !== "");
  const out: HostedKind[] = [];
  for (const n of names) {
    if (n === "generic") continue;
    if (n === "all") out.push(...HOSTED_KINDS);
    else if ((HOSTED_KINDS as readonly string[]).includes(n)) out.push(n as HostedKind);
    else throw new Error(`--provider: ${n}: use generic, ${HOSTED_KINDS.join(", ")} or all`);
  }
  return [...new Set(out)];
}

function int(name: string, raw: string | undefined, def: number, min: number): number {
  if (raw === undefined) return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name}: whole number ≥ ${min}`);
  return n;
}

function words(raw: string | undefined): string[] {
  return (raw ?? "").split(" ").filter((x) => x !== "");
}

function parseSizes(raw: string, runsRaw: string): Size[] {
  const pairs = raw.split(",").map((s) => s.trim().split("/"));
  const runs = runsRaw.split(",").map((s) => int("runs", s.trim(), 0, 1));
  if (runs.length !== 1 && runs.length !== pairs.length) {
    throw new Error("--runs: one number, or one per size");
  }
  const sizes = pairs.map(([c, r], k) => ({
    clusters: int("sizes", c, 0, 1),
    repos: int("sizes", r, 0, 1),
    rounds: runs.length === 1 ? runs[0] : runs[k],
  }));
  for (const s of sizes) {
    if (s.repos > s.clusters) throw new Error(`--sizes ${s.clusters}/${s.repos}: more repos`);
    if (s.clusters % s.repos !== 0) {
      throw new Error(`--sizes ${s.clusters}/${s.repos}: clusters must split evenly over repos`);
    }
  }
  return sizes.sort((a, b) => a.clusters - b.clusters);
}

export function parseOptions(argv: string[]): Options {
  const str = { type: "string" } as const;
  const { values } = parseArgs({
    args: argv,
    options: {
      sizes: str,
      runs: str,
      "no-floor": { type: "boolean" },
      "startup-runs": str,
      "import-runs": str,
      "apply-clusters": str,
      "baseline-runs": str,
      concurrency: str,
      "setup-concurrency": str,
      "source-poll-ms": str,
      manifests: str,
      provider: str,
      json: str,
      profile: str,
      compare: str,
      "compare-flags": str,
      "fluxfleet-flags": str,
      help: { type: "boolean" },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    console.log(USAGE);
    Deno.exit(0);
  }
  const sizes = parseSizes(values.sizes ?? "100/10,500/50,1000/100", values.runs ?? "5,3,3");
  const perRepo = sizes[0].clusters / sizes[0].repos;
  if (sizes.some((s) => s.clusters / s.repos !== perRepo)) {
    throw new Error("--sizes: every size needs the same clusters per repository");
  }
  const o: Options = {
    sizes,
    floor: !values["no-floor"],
    startupRuns: int("startup-runs", values["startup-runs"], 10, 0),
    importRuns: int("import-runs", values["import-runs"], 5, 0),
    applyClusters: int("apply-clusters", values["apply-clusters"], 20, 0),
    baselineRuns: int("baseline-runs", values["baseline-runs"], 1, 0),
    concurrency: int("concurrency", values.concurrency, 8, 1),
    setupConcurrency: int("setup-concurrency", values["setup-concurrency"], 8, 1),
    sourcePollMs: int("source-poll-ms", values["source-poll-ms"], 0, 0),
    manifests: values.manifests === undefined
      ? INSTALL_FIXTURE
      : new URL(values.manifests, `file://${Deno.cwd()}/`).pathname,
    json: values.json,
    profile: values.profile,
    compare: values.compare !== undefined
      ? new URL(values.compare.replace(/\/?$/, "/"), `file://${Deno.cwd()}/`).pathname
      : values["compare-flags"] !== undefined
      ? new URL("../../", import.meta.url).pathname
      : undefined,
    compareFlags: words(values["compare-flags"]),
    fluxfleetFlags: words(values["fluxfleet-flags"]),
    perRepo,
    providers: parseProviders(values.provider),
  };
  if (o.applyClusters > sizes[0].clusters) {
    throw new Error("--apply-clusters may not exceed the smallest size's clusters");
  }
  return o;
}
