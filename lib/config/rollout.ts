/**
 * `rollout:`'s rules beyond its schema: every cluster is in a wave, every wave takes a cluster,
 * `rest` comes last. Located at file:line:col like every other problem.
 */
import type { ConfigProblem } from "./errors.ts";
import { locate, type SourceMap } from "./locate.ts";
import type { RawManifest } from "./types.ts";
import { assignWaves } from "../rollout/waves.ts";

export function rolloutProblems(map: SourceMap, raw: RawManifest): ConfigProblem[] {
  const rollout = raw.rollout;
  if (!rollout) return [];
  const problems: ConfigProblem[] = [];
  const at = (path: (string | number)[], message: string) =>
    problems.push({
      location: locate(map, ["rollout", ...path]),
      field: ["rollout", ...path].join("."),
      message,
    });
  const clusters = raw.clusters.map((c) => ({ name: c.name, labels: c.labels ?? {} }));
  const { waves, unassigned } = assignWaves(rollout, clusters);
  rollout.waves.forEach((w, i) => {
    const ways = (["selector", "percent", "rest"] as const).filter((k) => w[k] !== undefined);
    if (ways.length !== 1) {
      at(
        ["waves", i],
        ways.length === 0
          ? "a wave needs one of selector (labels), percent (of the remaining clusters) or rest: true"
          : `a wave takes its clusters one way: ${ways.join(" or ")}, not both`,
      );
      return;
    }
    if (w.rest && i < rollout.waves.length - 1) {
      at(["waves", i, "rest"], "rest takes every cluster that remains: it must be the last wave");
    } else if (waves[i].clusters.length === 0) {
      at(
        ["waves", i],
        `wave ${i + 1} (${
          waves[i].label
        }) takes no cluster: none matches, or all are in earlier waves`,
      );
    }
  });
  // A wave of the wrong shape takes clusters some way: what is left over would mislead.
  if (unassigned.length > 0 && problems.length === 0) {
    const one = unassigned.length === 1;
    at(
      ["waves"],
      `${one ? "cluster" : "clusters"} ${unassigned.join(", ")} ${
        one ? "is" : "are"
      } in no wave; add a wave that takes ${
        one ? "it" : "them"
      } (rest: true takes all that remain)`,
    );
  }
  return problems;
}
