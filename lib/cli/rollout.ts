/** `--wave` and `--continue-on-failure`, and the waves a plan or apply goes through. */
import type { Command } from "commander";
import type { Manifest } from "../config/types.ts";
import { requireAllAssigned, type Wave, wavesFromFlags } from "../rollout/waves.ts";
import { collect } from "./options.ts";

export interface RolloutFlags {
  wave: string[];
  continueOnFailure?: boolean;
}

export function withWaveOption(cmd: Command): Command {
  return cmd.option(
    "--wave <spec>",
    "replace the manifest's rollout waves for this run, in order (repeatable): labels (ring=canary), a share of the remaining clusters (25%) or rest",
    collect,
    [],
  );
}

/**
 * The waves of this run: `--wave` replaces the manifest's `rollout.waves` (keeping its bake,
 * maxParallel, maxFailures and gates); undefined without either (apply changes every cluster at
 * once). Waves are assigned over every cluster of the manifest, so --cluster and --selector do
 * not move a cluster to another wave.
 */
export function rolloutWaves(manifest: Manifest, flags: RolloutFlags): Wave[] | undefined {
  if (flags.wave.length === 0 && !manifest.rollout) return undefined;
  const rollout = flags.wave.length > 0
    ? wavesFromFlags(flags.wave, manifest.rollout)
    : manifest.rollout!;
  return requireAllAssigned(
    rollout,
    manifest.clusters,
    flags.wave.length > 0 ? "--wave" : `${manifest.file}: rollout.waves`,
  );
}
