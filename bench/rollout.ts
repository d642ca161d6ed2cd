/**
 * A fleet upgrade in waves (issue 18): N kube sandboxes whose Flux stand-in really applies what
 * git holds, one repository, `rollout:` with W waves (a share of the clusters each) and a bake.
 * Each run upgrades (or downgrades back) every cluster in process: planFleet, then applyInWaves.
 *
 * The floor of a run is what the fleet itself takes: per wave, from the wave's start to the moment
 * its slowest cluster was healthy (an independent observer reads each sandbox's objects in
 * memory every 25 ms: Kustomization Ready at the new revision, every controller Deployment with
 * the new images and Available), plus the bake; summed over the waves. The rollout's wall time is
 * measured around applyInWaves. Prints both per run, and the median and range of wall / floor.
 *
 *   deno run -A bench/rollout.ts [--clusters 100] [--waves 4] [--bake 3s] [--runs 3] [--poll-ms 2000]
 */
import { parseArgs } from "node:util";
import { startGitServer } from "../sandbox/git/http_server.ts";
import { type KubeSandbox, startKubeSandbox } from "../sandbox/kube/server.ts";
import { writeKubeconfig } from "../sandbox/kube/kubeconfig.ts";
import { loadManifest } from "../lib/config/load.ts";
import { planFleet, type RunOptions } from "../lib/apply/fleet.ts";
import { applyInWaves } from "../lib/rollout/run.ts";
import { requireAllAssigned, type Wave } from "../lib/rollout/waves.ts";
import { parseDuration } from "../lib/config/duration.ts";
import { median } from "./fleet/stats.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    clusters: { type: "string", default: "100" },
    waves: { type: "string", default: "4" },
    bake: { type: "string", default: "3s" },
    runs: { type: "string", default: "3" },
    "poll-ms": { type: "string", default: "2000" },
  },
});
const clusters = Number(values.clusters);
const waveCount = Number(values.waves);
const runs = Number(values.runs);
const pollMs = Number(values["poll-ms"]);
// A bad --bake is refused before anything is set up (the waves carry their own bake).
parseDuration(values.bake);
if (![clusters, waveCount, runs, pollMs].every((n) => Number.isInteger(n) && n > 0)) {
  throw new Error("--clusters, --waves, --runs and --poll-ms take positive integers");
}

const ROOT = new URL("../", import.meta.url).pathname;
const TOKEN = "bench-rollout-token";
const INSTALL = `${ROOT}fixtures/flux-install.yaml`;

/** The fixture's release with every version and image tag moved on (as the tests make it). */
function upgraded(yaml: string): string {
  return yaml.replaceAll("v2.4.0", "v2.5.1").replace(
    /(image: ghcr\.io\/fluxcd\/[a-z-]+:v)(\d+)\.(\d+)\.(\d+)/g,
    (_m, head, major, minor) => `${head}${major}.${Number(minor) + 1}.0`,
  );
}

type Obj = Record<string, unknown>;

function conditionTrue(o: Obj | undefined, type: string): boolean {
  const conds = ((o?.status as { conditions?: { type: string; status: string }[] })?.conditions) ??
    [];
  return conds.some((c) => c.type === type && c.status === "True");
}

/** Whether a sandbox runs `images` and its sync is Ready at `revision` (read in memory). */
function healthy(k: KubeSandbox, revision: string, images: Map<string, string>): boolean {
  const ks = k.getObject(
    "kustomize.toolkit.fluxcd.io/v1",
    "Kustomization",
    "flux-system",
    "flux-system",
  );
  if ((ks?.status as Obj | undefined)?.lastAppliedRevision !== revision) return false;
  if (!conditionTrue(ks, "Ready")) return false;
  for (const [name, image] of images) {
    const d = k.getObject("apps/v1", "Deployment", "flux-system", name) as Obj | undefined;
    // Controllers the manifest does not install (flux.components) are not there.
    if (!d) continue;
    const spec = d?.spec as { template: { spec: { containers: { image: string }[] } } } | undefined;
    if (spec?.template.spec.containers[0].image !== image || !conditionTrue(d, "Available")) {
      return false;
    }
  }
  return true;
}

function controllerImages(yaml: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of yaml.matchAll(/image: ghcr\.io\/fluxcd\/([a-z-]+):(v[0-9.]+)/g)) {
    out.set(m[1], `ghcr.io/fluxcd/${m[1]}:${m[2]}`);
  }
  return out;
}

const dir = await Deno.makeTempDir({ prefix: "fluxfleet-bench-rollout-" });
const git = await startGitServer({ users: { git: TOKEN } });
const kubes: KubeSandbox[] = [];
try {
  await git.createRepo("fleet");
  while (kubes.length < clusters) {
    const n = Math.min(20, clusters - kubes.length);
    kubes.push(
      ...await Promise.all(
        Array.from(
          { length: n },
          () =>
            startKubeSandbox({
              reconcileDelayMs: 20,
              sourcePollMs: pollMs,
              flux: { mode: "apply", tempDir: dir },
            }),
        ),
      ),
    );
  }
  const names = kubes.map((_, i) => `c${i}`);
  await writeKubeconfig(
    `${dir}/kubeconfig`,
    kubes.map((sandbox, i) => ({ context: names[i], sandbox })),
  );
  const releases = [
    { version: "v2.4.0", file: INSTALL, text: await Deno.readTextFile(INSTALL) },
    { version: "v2.5.1", file: `${dir}/install-v2.5.1.yaml`, text: "" },
  ];
  releases[1].text = upgraded(releases[0].text);
  await Deno.writeTextFile(releases[1].file, releases[1].text);
  const share = Math.floor(100 / waveCount);
  const rollout = `rollout:\n  bake: ${values.bake}\n  waves:\n${
    Array.from({ length: waveCount - 1 }, (_, i) =>
      `    - percent: ${Math.round(share * 100 / (100 - share * i))}\n`).join("")
  }    - rest: true\n`;
  const manifestFor = (r: typeof releases[number]) =>
    `defaults:\n  flux: { version: ${r.version}, manifests: ${r.file}, timeout: 5m }\n  git:\n    url: ${
      git.repoUrl("fleet")
    }\n    allowInsecureHttp: true\n    author: { name: bench, email: bench@example.com }\n    auth: { type: token, username: git, token: { env: GIT_PASSWORD } }\n  kube: { kubeconfig: ${dir}/kubeconfig }\nclusters:\n${
      names.map((n) => `  - { name: ${n}, kube: { context: ${n} }, path: clusters/${n} }\n`).join(
        "",
      )
    }${rollout}`;
  const opts: RunOptions = {
    concurrency: 16,
    secrets: {
      readStdin: () => Promise.resolve(""),
      env: (n) => (n === "GIT_PASSWORD" ? TOKEN : undefined),
    },
  };
  const manifestFile = `${dir}/flux-bootstrap.yaml`;

  // Bootstrap at v2.4.0, every cluster at once (not measured).
  await Deno.writeTextFile(manifestFile, manifestFor(releases[0]));
  {
    const m = await loadManifest(manifestFile);
    const run = await planFleet(m, m.clusters, opts);
    try {
      const failed = (await run.apply()).filter((r) => r.outcome === "failed");
      if (failed.length > 0) throw new Error(`bootstrap failed: ${JSON.stringify(failed[0])}`);
    } finally {
      await run.close();
    }
  }
  console.log(
    `${clusters} clusters, ${waveCount} waves, bake ${values.bake}, source poll ${pollMs} ms; ${runs} runs`,
  );
  const ratios: number[] = [];
  const walls: number[] = [];
  for (let i = 0; i < runs; i++) {
    const target = releases[(i + 1) % 2];
    await Deno.writeTextFile(manifestFile, manifestFor(target));
    const m = await loadManifest(manifestFile);
    const waves: Wave[] = requireAllAssigned(m.rollout!, m.clusters, "bench");
    const run = await planFleet(m, m.clusters, opts);
    const images = controllerImages(target.text);
    const waveStart = new Map<number, number>();
    const healthyAt = new Map<string, number>();
    const waveOf = new Map(waves.flatMap((w) => w.clusters.map((c) => [c, w.index] as const)));
    let revision = "";
    const observer = setInterval(() => {
      for (const [c, w] of waveOf) {
        if (healthyAt.has(c) || !waveStart.has(w)) continue;
        const head = run.session.clusters.get(c)!.repo.checkout?.head;
        revision = head ? `main@sha1:${head}` : revision;
        if (healthy(kubes[Number(c.slice(1))], revision, images)) {
          healthyAt.set(c, performance.now());
        }
      }
    }, 25);
    const start = performance.now();
    let report;
    try {
      report = await applyInWaves(run, waves, {
        onWaveStart: (w) => waveStart.set(w.index, performance.now()),
      });
    } finally {
      clearInterval(observer);
      await run.close();
    }
    const wall = performance.now() - start;
    const failed = report.results.filter((r) => r.outcome === "failed");
    if (failed.length > 0) {
      throw new Error(`run ${i + 1}: ${failed.length} failed: ${failed[0].error}`);
    }
    let floor = 0;
    const parts: string[] = [];
    for (const w of waves) {
      const slowest = Math.max(
        ...w.clusters.map((c) => (healthyAt.get(c) ?? NaN) - waveStart.get(w.index)!),
      );
      floor += slowest + w.bakeMs;
      parts.push(
        `wave ${w.index}: slowest ${(slowest / 1000).toFixed(1)}s + bake ${w.bakeMs / 1000}s`,
      );
    }
    ratios.push(wall / floor);
    walls.push(wall);
    console.log(
      `run ${i + 1} (${target.version}): wall ${(wall / 1000).toFixed(1)}s, floor ${
        (floor / 1000).toFixed(1)
      }s, ${(wall / floor).toFixed(3)}× the floor (${parts.join("; ")})`,
    );
  }
  console.log(
    `wall / floor: median ${median(ratios).toFixed(3)}× (range ${Math.min(...ratios).toFixed(3)}–${
      Math.max(...ratios).toFixed(3)
    }); wall median ${(median(walls) / 1000).toFixed(1)}s; target ≤ 1.2×`,
  );
} finally {
  for (const k of kubes) await k.close();
  await git.close();
  await Deno.remove(dir, { recursive: true }).catch(() => {});
}
