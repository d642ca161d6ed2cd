/** The text report: figures per fleet size, the growth table, start-up, and the targets. */
import {
  describeApplyCounts,
  describeApplyTimeline,
  describePlanTimeline,
  type PlanCounts,
} from "./counts.ts";
import { medianTimeline, type SizeFigures } from "./noop.ts";
import { providerLines, providerTargets } from "./provider_report.ts";
import type { Results } from "./results.ts";
import {
  median,
  mibSpread,
  msSpread,
  secs,
  secsSpread,
  type Spread,
  spread,
  verdict,
} from "./stats.ts";
import { clusterName } from "./world.ts";

const MB = 1e6;

function loads(xs: number[]): string {
  const s = spread(xs);
  return `load ${s.min.toFixed(2)}–${s.max.toFixed(2)}`;
}

function sizeLines(s: SizeFigures): string[] {
  const out: string[] = [];
  const c = s.counts;
  out.push(
    `no-op plan, ${s.clusters} clusters / ${s.repos} repos (${loads(s.runs.map((r) => r.load))})`,
    `   wall ${secsSpread(s.wall)}; peak RSS ${mibSpread(s.rss)}; CPU ${
      s.cpu.median.toFixed(2)
    } s (${s.cpu.min.toFixed(2)}–${s.cpu.max.toFixed(2)})`,
    `   git per repository: ${c.perRepo.infoRefs.toFixed(1)} info/refs + ${
      c.perRepo.uploadPackPosts.toFixed(1)
    } upload-pack POST (+ ${
      c.perRepo.infoRefs401.toFixed(1)
    } 401); API per cluster: ${c.apiPerCluster.median} (${c.apiPerCluster.min}–${c.apiPerCluster.max}), ${c.apiMutating} writes; ${
      s.sameCountsEveryRun ? "the same in every run" : "NOT the same in every run"
    }`,
    `   e.g. ${clusterName(0)}: ${c.apiSample.join("; ")}`,
  );
  if (s.compare) {
    const k = s.compare;
    out.push(
      `   compared tree ${k.root} ${k.flags.join(" ")}: wall ${secsSpread(k.wall)} = ${
        k.wallRatio.toFixed(2)
      }× this tree's; peak RSS ${mibSpread(k.rss)}; CPU ${k.cpu.median.toFixed(2)} s; ${
        k.sameCountsEveryRun ? "the same requests" : "OTHER requests than this tree"
      }`,
    );
    for (const t of k.timelines) out.push(`     ${describePlanTimeline(t)}`);
  }
  if (s.floor) {
    for (const mode of ["overlap", "phases"] as const) {
      const f = s.floor[mode];
      out.push(
        `   floor (${mode === "overlap" ? "git and clusters at once" : "git, then clusters"}): ${
          secsSpread(f.wall)
        }, RSS ${mibSpread(f.rss)}, CPU ${
          spread(f.runs.map((r) => r.cpuS)).median.toFixed(2)
        } s → fluxfleet = ${f.ratio.toFixed(2)}× the floor`,
      );
    }
    out.push(
      `   floor requests: ${s.floorRequests?.git} git + ${s.floorRequests?.api} API (from the warm-up run's logs)`,
    );
  }
  if (s.cold) {
    const c = s.cold;
    out.push(
      `   with the commit cache emptied before each run (every repository fetched): wall ${
        secsSpread(c.wall)
      }; peak RSS ${mibSpread(c.rss)}; CPU ${c.cpu.median.toFixed(2)} s; git per repository ${
        perRepo(c.counts)
      }`,
      `     its floor (${c.floorRequests.git} git + ${c.floorRequests.api} API): ${
        secsSpread(c.floor.wall)
      } → ${c.floor.ratio.toFixed(2)}× the floor`,
    );
  }
  out.push("   timelines (s from spawn, each timed run):");
  for (const t of s.timelines) out.push(`     ${describePlanTimeline(t)}`);
  if (s.profile) out.push(`   where the time goes (${s.profile.file}):`, s.profile.summary);
  if (s.heapProfile) {
    out.push(`   where the memory goes (${s.heapProfile.file}):`, s.heapProfile.summary);
  }
  return out;
}

interface GrowthRow {
  clusters: number;
  repos: number;
  wall: Spread;
  rss: Spread;
  cpu: Spread;
  /** Median wall time of the floor (git and clusters at once). */
  floorMs?: number;
}

function growthTable(rows: GrowthRow[]): string[] {
  const base = rows[0];
  const out = [
    "| clusters / repos | wall, median (range)   | × smallest | peak RSS MiB, median (range) | × smallest | CPU s | floor  | × floor |",
    "| ---------------- | ---------------------- | ---------- | ---------------------------- | ---------- | ----- | ------ | ------- |",
  ];
  for (const s of rows) {
    out.push(
      `| ${s.clusters} / ${s.repos} | ${secsSpread(s.wall)} | ${
        (s.wall.median / base.wall.median).toFixed(2)
      }× | ${(s.rss.median / 1024).toFixed(0)} (${(s.rss.min / 1024).toFixed(0)}–${
        (s.rss.max / 1024).toFixed(0)
      }) | ${(s.rss.median / base.rss.median).toFixed(2)}× | ${s.cpu.median.toFixed(2)} | ${
        s.floorMs ? secs(s.floorMs) : "–"
      } | ${s.floorMs ? (s.wall.median / s.floorMs).toFixed(2) + "×" : "–"} |`,
    );
  }
  return out;
}

interface Target {
  name: string;
  measured: string;
  ok: boolean;
}

/** Git requests per repository of a plan, in words. */
function perRepo(c: PlanCounts): string {
  return `${c.perRepo.infoRefs.toFixed(1)} info/refs + ${
    c.perRepo.uploadPackPosts.toFixed(1)
  } upload-pack POST`;
}

function targets(r: Results): Target[] {
  const out: Target[] = [];
  const size = (n: number) => r.sizes.find((s) => s.clusters === n);
  const s100 = size(100);
  const s500 = size(500);
  const s1000 = size(1000);
  const rssMB = (s: SizeFigures) => s.rss.median * 1024 / MB;
  if (s500) {
    out.push({
      name: "no-op plan 500/50: peak RSS ≤ 250 MB (median)",
      measured: `${rssMB(s500).toFixed(0)} MB = ${mibSpread(s500.rss)}`,
      ok: rssMB(s500) <= 250,
    });
  }
  if (s100?.cold) {
    out.push({
      name: "no-op plan 100/10, commit cache emptied (every repository fetched) ≤ 1.5× its floor",
      measured: `${s100.cold.floor.ratio.toFixed(2)}× (${secs(s100.cold.wall.median)} / ${
        secs(s100.cold.floor.wall.median)
      })`,
      ok: s100.cold.floor.ratio <= 1.5,
    });
  }
  if (s100?.floor) {
    out.push({
      name: "no-op plan 100/10 ≤ 1.5× the floor (git and clusters at once)",
      measured: `${s100.floor.overlap.ratio.toFixed(2)}× (${secs(s100.wall.median)} / ${
        secs(s100.floor.overlap.wall.median)
      })`,
      ok: s100.floor.overlap.ratio <= 1.5,
    }, {
      name: "  the same against the floor in phases (git, then clusters: today's order)",
      measured: `${s100.floor.phases.ratio.toFixed(2)}× (${secs(s100.wall.median)} / ${
        secs(s100.floor.phases.wall.median)
      })`,
      ok: s100.floor.phases.ratio <= 1.5,
    });
  }
  if (s1000) {
    out.push({
      name: "no-op plan 1000/100: peak RSS ≤ 300 MB (median)",
      measured: `${rssMB(s1000).toFixed(0)} MB = ${mibSpread(s1000.rss)}`,
      ok: rssMB(s1000) <= 300,
    });
    if (s100) {
      const g = s1000.wall.median / s100.wall.median;
      out.push({
        name: "no-op plan 1000/100: wall ≤ 4× the 100/10 plan",
        measured: `${g.toFixed(2)}× (${secs(s1000.wall.median)} / ${secs(s100.wall.median)})`,
        ok: g <= 4,
      });
    }
  }
  if (r.startup) {
    out.push({
      name: `start-up: spawn → first request of a plan (${r.startup.clusters} clusters) ≤ 300 ms`,
      measured: msSpread(r.startup.firstRequest),
      ok: r.startup.firstRequest.median <= 300,
    });
  }
  for (const s of r.sizes) {
    out.push({
      name: `${s.clusters}/${s.repos}: ≤ 1 fetch per repository, ≤ 3 API requests per cluster`,
      measured: `${s.counts.fetchesPerRepoMax} fetch, ${s.counts.apiPerCluster.max} API`,
      ok: s.counts.fetchesPerRepoMax <= 1 && s.counts.apiPerCluster.max <= 3,
    });
  }
  out.push(...providerTargets(r.providers ?? []));
  if (r.baselineRatio !== undefined) {
    out.push({
      name: "no-op plan ≥ 10× faster than the git clone + kubectl baseline",
      measured: `${r.baselineRatio.toFixed(1)}×`,
      ok: r.baselineRatio >= 10,
    });
  }
  return out;
}

export function report(r: Results): string {
  const o = r.options;
  const lines: string[] = ["", "=== fluxfleet fleet benchmark ==="];
  lines.push(
    `machine: ${r.machine.cpus} CPUs, ${r.machine.memGiB} GiB RAM; deno ${r.machine.deno}; ` +
      `everything on 127.0.0.1 (sandboxes + git server in the bench process, fluxfleet and the ` +
      `floor as child processes)`,
    `fluxfleet ${r.tree}; --concurrency ${o.concurrency}; Flux stand-in source poll ${
      o.sourcePollMs === 0 ? "off" : `${o.sourcePollMs} ms`
    }; ${r.rssSource}`,
    "",
  );
  for (const s of r.sizes) lines.push(...sizeLines(s), "");
  const floorMs = (s: SizeFigures) => s.floor?.overlap.wall.median;
  if (r.sizes.length > 1) {
    lines.push(
      "growth:",
      ...growthTable(r.sizes.map((s) => ({ ...s, floorMs: floorMs(s) }))),
      "",
    );
    if (r.sizes.every((s) => s.compare)) {
      lines.push(
        `growth of the compared tree (${r.sizes[0].compare!.root}):`,
        ...growthTable(r.sizes.map((s) => ({ ...s, ...s.compare!, floorMs: floorMs(s) }))),
        "",
      );
    }
  }
  const big = r.sizes.find((s) => s.clusters === 500) ?? r.sizes.at(-1);
  if (big) {
    lines.push(
      `timeline of the median ${big.clusters}-cluster run: ${
        describePlanTimeline(medianTimeline(big))
      }`,
      "",
    );
  }
  lines.push(...providerLines(r.providers ?? []));
  if (r.startup) {
    const st = r.startup;
    lines.push(
      `start-up (${loads(st.loads)}):`,
      `   empty deno script, spawn → exit:            ${msSpread(st.emptyDeno)}`,
      `   fluxfleet --version, spawn → exit:          ${msSpread(st.version)}, peak RSS ${
        mibSpread(st.versionRss)
      }`,
      `   fluxfleet --version, CPU:                   ${msSpread(st.versionCpuMs)}`,
      `   fluxfleet plan (${st.clusters}), spawn → first request: ${msSpread(st.firstRequest)}`,
      `   fluxfleet plan (${st.clusters}), CPU of the whole run:  ${msSpread(st.planCpuMs)}`,
    );
    const c = st.compare;
    if (c) {
      const paired = (xs: number[]) =>
        `median ${median(xs).toFixed(0)} ms (${xs.map((x) => x.toFixed(0)).join(", ")})`;
      lines.push(
        `   compared tree ${c.root} ${c.flags.join(" ")}, the same rounds:`,
        `     --version, spawn → exit:                  ${msSpread(c.version)}, peak RSS ${
          mibSpread(c.versionRss)
        }`,
        `     --version, CPU:                           ${msSpread(c.versionCpuMs)}`,
        `     plan, spawn → first request:              ${msSpread(c.firstRequest)}`,
        `     plan, CPU of the whole run:               ${msSpread(c.planCpuMs)}`,
        `     this tree minus the compared one, per round: first request ${
          paired(c.pairedFirstRequestMs)
        }; plan CPU ${paired(c.pairedPlanCpuMs)}; --version ${paired(c.pairedVersionMs)}`,
      );
    }
    if (st.floorFirstRequest) {
      lines.push(
        `   floor client, spawn → first request:        ${msSpread(st.floorFirstRequest)}`,
      );
    }
    if (st.imports.length > 0 && st.allImports) {
      lines.push(
        `   static npm imports of main.ts, in fresh processes (an empty script: ${
          (st.emptyImportRssKb / 1024).toFixed(0)
        } MiB RSS); all of them together: ${msSpread(st.allImports.ms)}, RSS after ${
          (st.allImports.rssKb / 1024).toFixed(0)
        } MiB; per package, what leaving it out of all saves, and its import alone:`,
      );
      for (const i of st.imports) {
        lines.push(
          `     ${i.specifier.padEnd(22)} saves ${i.marginalMs.toFixed(0).padStart(3)} ms, ${
            (i.marginalRssKb / 1024).toFixed(0).padStart(2)
          } MiB; alone ${msSpread(i.ms)}, RSS after ${(i.rssKb / 1024).toFixed(0)} MiB`,
        );
      }
    }
    if (st.validatorImport) {
      lines.push(
        `   the manifest's validator (compiled ahead of time, lib/config/schema_validate.ts) imported: ${
          st.validatorImport.ms.toFixed(0)
        } ms, +${(st.validatorImport.rssKb / 1024).toFixed(0)} MiB RSS`,
      );
    }
    const m = st.profile?.memory;
    const g = st.profile?.memoryAfterGc;
    if (m) {
      const mb = (x: number) => (x / 1048576).toFixed(0);
      lines.push(
        `   memory at the first request (in-process, under the profiler): rss ${mb(m.rss)} MiB, ` +
          `heap total ${mb(m.heapTotal)}, heap used ${mb(m.heapUsed)}, external ${mb(m.external)}${
            g
              ? `; after a full GC then: rss ${mb(g.rss)}, heap total ${
                mb(g.heapTotal)
              }, heap used ${mb(g.heapUsed)}`
              : ""
          }`,
      );
    }
    if (st.profile) {
      lines.push(
        `   CPU profile up to the first fetch (${st.profile.firstFetchMs.toFixed(0)} ms after ` +
          `the profiler started, in-process, profiler overhead included; ${st.profile.file}):`,
        st.profile.summary,
      );
    }
    lines.push("");
  }
  if (r.firstApply) {
    const a = r.firstApply;
    lines.push(
      `first apply --auto-approve, ${a.clusters} clusters / ${a.repos} repos: ${secs(a.ms)} ` +
        `(cpu ${a.cpuS?.toFixed(2)} s, peak RSS ${
          ((a.maxRssKb ?? 0) / 1024).toFixed(0)
        } MiB, load ${a.load})`,
      `   ${describeApplyCounts(a)}`,
      `   ${describeApplyTimeline(a.timeline)}`,
      "",
    );
  }
  if (r.applyProfile) {
    lines.push(`   where an apply's time goes (${r.applyProfile.file}):`, r.applyProfile.summary);
  }
  for (const [k, b] of (r.baseline ?? []).entries()) {
    lines.push(
      `baseline run ${k + 1} (${k === 0 ? "cold" : "warm"} kubectl cache, load ${b.load}): ${
        secs(b.ms)
      } — git clone ${secs(b.cloneMs)}, ${b.kubectlCalls} kubectl ${secs(b.kubectlMs)}`,
    );
  }
  for (const s of r.setup) lines.push(`setup (untimed): ${s.label} ${secs(s.ms)}`);
  if (r.benchRssMiB) {
    lines.push(
      `the bench process (all sandboxes + git server): ${r.benchRssMiB.toFixed(0)} MiB RSS`,
    );
  }
  lines.push("", "targets:");
  for (const t of targets(r)) lines.push(`   [${verdict(t.ok)}] ${t.name}: ${t.measured}`);
  lines.push("Targets inform: this script exits 0 whatever the figures.");
  return lines.join("\n");
}
