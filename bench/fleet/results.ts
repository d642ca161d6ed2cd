/** Everything one bench run measured (also written as JSON with --json). */
import type { FirstApply } from "./apply.ts";
import type { BaselineRun } from "./baseline.ts";
import type { SizeFigures } from "./noop.ts";
import type { Options } from "./options.ts";
import type { ProviderFigures } from "./provider_fleet.ts";
import type { StartupFigures } from "./startup.ts";

export interface Results {
  machine: { cpus: number; memGiB: number; deno: string; git: string; kubectl: string };
  /** The fluxfleet tree measured: commit, and whether lib/ or main.ts had changes. */
  tree: string;
  rssSource: string;
  options: Options;
  /** Untimed applies that bootstrap the fleet. */
  setup: { label: string; ms: number }[];
  firstApply?: FirstApply;
  /** --profile: where the setup apply spent its time. */
  applyProfile?: { file: string; summary: string };
  sizes: SizeFigures[];
  /** --provider: the smallest fleet on each hosted provider. */
  providers?: ProviderFigures[];
  startup?: StartupFigures;
  baseline?: BaselineRun[];
  /** The fastest baseline run ÷ the smallest size's median no-op plan. */
  baselineRatio?: number;
  /** RSS of the bench process holding every sandbox and the git server, at the end. */
  benchRssMiB?: number;
}
