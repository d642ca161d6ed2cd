/**
 * `fluxfleet apply FILE`: plan, then carry the plan out; `--plan-file` applies a saved plan, only
 * while it is what a fresh plan would be (manifest, observations, steps and what they write).
 */
import type { Command } from "commander";
import { staleReasons } from "../plan/stale.ts";
import { renderApplyText, renderPlanText } from "../report/text.ts";
import { applyDocument, plannedViews } from "../report/json.ts";
import type { Cli } from "./context.ts";
import { carryOut, requireApproval } from "./confirm.ts";
import { type CommonOptions, withCommon } from "./options.ts";
import { fileDigest, readPlanFile } from "./plan_file.ts";
import { subcommand } from "./program.ts";
import { type RolloutFlags, rolloutWaves, withWaveOption } from "./rollout.ts";
import { applyInWaves, type RolloutReport } from "../rollout/run.ts";
import { renderRolloutPlanText, renderRolloutText, rolloutResultView } from "../report/rollout.ts";

export function applyCommand(program: Command, cli: Cli): void {
  withWaveOption(withCommon(subcommand(program, "apply")))
    .description("plan, then carry out the plan: push files, install Flux, wait until it is Ready")
    .option("--auto-approve", "do not ask for confirmation")
    .option(
      "--continue-on-failure",
      "with rollout waves: go on with the next waves after a wave failed its gates",
    )
    .option("--plan-file <file>", "apply a plan saved by `plan --out`; refused when it is stale")
    .action(
      async (
        file: string,
        opts: CommonOptions & RolloutFlags & { autoApprove?: boolean; planFile?: string },
      ) => {
        if (opts.planFile && (opts.shard || opts.shardCount !== undefined)) {
          // Sharding the saved plan's clusters again would split them once more.
          throw new Error(
            "--plan-file: a saved plan holds its shard's clusters already; drop --shard/--shard-count",
          );
        }
        const saved = opts.planFile ? await readPlanFile(opts.planFile) : undefined;
        if (saved) opts.cluster = saved.clusters.map((c) => c.cluster);
        const { manifest, run } = await cli.startRun(file, opts);
        try {
          const plans = run.plans;
          const waves = rolloutWaves(manifest, opts);
          let rollout: RolloutReport | undefined;
          if (saved) {
            const digest = await fileDigest(manifest.file);
            const reasons = staleReasons(saved, digest, plannedViews(run.plan.clusters));
            if (reasons.length > 0) {
              throw new Error(
                `the saved plan ${opts.planFile} is stale: ${reasons.join("; ")}. Run plan again.`,
              );
            }
          }
          if (opts.output === "text") {
            cli.print(renderPlanText(plans));
            if (waves) cli.print(renderRolloutPlanText(waves, plans));
          }
          await requireApproval(cli, {
            changes: plans.some((p) => p.steps.length > 0),
            // A saved plan was reviewed when it was made: applying it is the approval (as
            // Terraform).
            approved: opts.autoApprove === true || saved !== undefined,
            output: opts.output,
            verb: "apply",
            planText: () => renderPlanText(plans),
            question: "Apply these changes?",
          });
          await carryOut(
            cli,
            { title: "applying", clusters: plans.map((p) => p.cluster) },
            async () => {
              if (!waves) return await run.apply();
              rollout = await applyInWaves(run, waves, opts);
              return rollout.results;
            },
            {
              json: opts.output === "json",
              text: (results) =>
                renderApplyText(results) + (rollout ? `\n${renderRolloutText(rollout)}` : ""),
              document: (results) => ({
                ...applyDocument(manifest.file, plans, results),
                ...(rollout ? { rollout: rolloutResultView(rollout) } : {}),
              }),
            },
          );
        } finally {
          await run.close();
        }
      },
    );
}
