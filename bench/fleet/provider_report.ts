/** The report's part for --provider: a table per phase, the sample requests, and the targets. */
import type { ProviderFigures } from "./provider_fleet.ts";
import { secsSpread } from "./stats.ts";

export interface ProviderTarget {
  name: string;
  measured: string;
  ok: boolean;
}

export function providerLines(ps: ProviderFigures[]): string[] {
  if (ps.length === 0) return [];
  const out = [
    `hosted providers: ${ps[0].clusters} clusters over ${ps[0].repos} repositories each; API ` +
    "requests as each sandbox counted them (server side)",
    "| provider | teams | no-op plan: API calls | a repository | naming none | a further cluster | mutating | SSH conn. | wall, median (range, n) | × generic | second apply: API calls | mutating | k8s writes | commits |",
    "| -------- | ----- | --------------------- | ------------ | ----------- | ----------------- | -------- | --------- | ----------------------- | --------- | ----------------------- | -------- | ---------- | ------- |",
  ];
  const methods = (m: Record<string, number>) =>
    Object.entries(m).map(([k, v]) => `${k} ${v}`).join(", ") || "none";
  for (const p of ps) {
    for (const f of p.phases) {
      const c = f.calls;
      const a = f.secondApply;
      out.push(
        `| ${p.provider} | ${f.teams ? "yes" : "no"} | ${c.total} (${
          methods(c.byMethod)
        }) | ${c.perRepo.median} (${c.perRepo.min}–${c.perRepo.max}) | ${c.runLevel} | ${
          f.marginalPerCluster?.toFixed(2) ?? "–"
        } | ${c.mutating} | ${f.sshConnections} | ${secsSpread(f.wall)} | ${
          f.ratio.toFixed(2)
        }× | ${a.calls.total} (${
          methods(a.calls.byMethod)
        }) | ${a.calls.mutating} | ${a.kubeWrites} | ${a.commits} |`,
      );
    }
  }
  for (const p of ps) {
    for (const f of p.phases) {
      out.push(
        `   ${p.provider}${f.teams ? " with teams" : ""}: generic in the same rounds ${
          secsSpread(f.genericWall)
        }; ${
          f.sameCallsEveryRun
            ? "the same requests in every plan"
            : "NOT the same requests in every plan"
        }; second apply "${f.secondApply.summary}", ${f.secondApply.sshConnections} SSH connections`,
        `     e.g. ${f.calls.sample.join("; ")}`,
      );
    }
  }
  for (const p of ps) {
    for (const s of p.setup) {
      out.push(
        `setup (untimed) ${p.provider}: ${s.label} ${
          (s.ms / 1000).toFixed(2)
        } s, ${s.calls.total} API calls (${s.calls.mutating} mutating)`,
      );
    }
  }
  out.push("");
  return out;
}

export function providerTargets(ps: ProviderFigures[]): ProviderTarget[] {
  const out: ProviderTarget[] = [];
  for (const p of ps) {
    for (const f of p.phases) {
      const name = `${p.provider}${f.teams ? " with teams" : ""}`;
      out.push({
        name: `${name}: no-op plan ≤ 2 API calls a repository, 0 a further cluster, 0 mutating`,
        measured: `${f.calls.perRepo.max} a repository, ${
          f.marginalPerCluster?.toFixed(2) ?? "–"
        } a further cluster, ${f.calls.mutating} mutating`,
        ok: f.calls.perRepo.max <= 2 && (f.marginalPerCluster ?? 0) === 0 &&
          f.calls.mutating === 0,
      }, {
        name: `${name}: a second apply changes nothing`,
        measured:
          `${f.secondApply.calls.mutating} mutating API calls, ${f.secondApply.kubeWrites} Kubernetes writes, ${f.secondApply.commits} commits`,
        ok: f.secondApply.calls.mutating === 0 && f.secondApply.kubeWrites === 0 &&
          f.secondApply.commits === 0,
      });
    }
  }
  return out;
}
