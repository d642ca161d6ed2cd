/** `fluxfleet plan FILE`: observe and show what apply would change; `--out` saves it. */
import type { Command } from "commander";
import { renderPlanText } from "../report/text.ts";
import { renderPlanMarkdown } from "../report/markdown.ts";
import {
  jsonText,
  type PlanDocument,
  planDocument,
  planFileDocument,
  planFileText,
} from "../report/json.ts";
import { VERSION } from "../version.ts";
import type { Cli } from "./context.ts";
import { type CommonOptions, withCommon } from "./options.ts";
import { fileDigest } from "./plan_file.ts";
import { subcommand } from "./program.ts";
import { type RolloutFlags, rolloutWaves, withWaveOption } from "./rollout.ts";
import { renderRolloutPlanText, rolloutPlanView } from "../report/rollout.ts";

export function planCommand(program: Command, cli: Cli): void {
  withWaveOption(withCommon(subcommand(program, "plan"), ["text", "json", "markdown"]))
    .description("observe every cluster and repository and show what apply would change")
    .option(
      "--detailed-exitcode",
      "exit 0 when nothing changes, 2 when changes are planned, 1 on error",
    )
    .option("--out <plan-file>", "also save the plan (mode 0600), for `apply --plan-file`")
    .action(
      async (
        file: string,
        opts: CommonOptions & RolloutFlags & { detailedExitcode?: boolean; out?: string },
      ) => {
        const { manifest, run, shard } = await cli.startRun(file, opts, { planOnly: true });
        try {
          const plans = run.plans;
          const digest = await fileDigest(manifest.file);
          const waves = rolloutWaves(manifest, opts);
          if (opts.out) {
            const doc = planFileDocument(manifest.file, run.plan.clusters, digest);
            await Deno.writeTextFile(opts.out, planFileText(doc), { mode: 0o600 });
          }
          // The manifest's digest and the shard let merge-plans check that documents belong together.
          const document = (): PlanDocument => ({
            ...planDocument(manifest.file, plans, digest),
            fluxfleetVersion: VERSION,
            ...(shard ? { shard } : {}),
            ...(waves ? { rollout: rolloutPlanView(waves, plans) } : {}),
          });
          cli.print(
            opts.output === "json"
              ? jsonText(document())
              : opts.output === "markdown"
              ? renderPlanMarkdown(document())
              : renderPlanText(plans) + (waves ? `\n${renderRolloutPlanText(waves, plans)}` : ""),
          );
          if (plans.some((p) => p.error)) Deno.exitCode = 1;
          else if (opts.detailedExitcode && plans.some((p) => p.steps.length > 0)) {
            Deno.exitCode = 2;
          }
        } finally {
          await run.close();
        }
      },
    );
}
