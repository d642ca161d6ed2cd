/** `fluxfleet destroy FILE`: uninstall Flux from the clusters, plan first (as `flux uninstall`). */
import type { Command } from "commander";
import { renderDestroyPlanText, renderDestroyText } from "../report/text.ts";
import { destroyDocument } from "../report/json.ts";
import type { Cli } from "./context.ts";
import { carryOut, requireApproval } from "./confirm.ts";
import { type CommonOptions, withCommon } from "./options.ts";
import { subcommand } from "./program.ts";

export function destroyCommand(program: Command, cli: Cli): void {
  withCommon(subcommand(program, "destroy"))
    .description(
      "uninstall Flux from the clusters (plan first): sync objects, components, CRDs, namespace",
    )
    .option("--auto-approve", "do not ask for confirmation")
    .option(
      "--keep-namespace",
      "keep the namespace (only the source secret and an image pull secret fluxfleet wrote are deleted)",
    )
    .option(
      "--delete-git-manifests",
      "also delete the flux-system files in git (one commit per repository)",
    )
    .action(async (
      file: string,
      opts: CommonOptions & {
        autoApprove?: boolean;
        keepNamespace?: boolean;
        deleteGitManifests?: boolean;
      },
    ) => {
      const { manifest, run } = await cli.startRun(file, opts);
      try {
        const plans = run.destroyPlans({
          keepNamespace: opts.keepNamespace ?? false,
          deleteGitManifests: opts.deleteGitManifests ?? false,
        });
        if (opts.output === "text") cli.print(renderDestroyPlanText(plans));
        await requireApproval(cli, {
          changes: plans.some((p) => p.steps.length > 0),
          approved: opts.autoApprove === true,
          output: opts.output,
          verb: "destroy",
          planText: () => renderDestroyPlanText(plans),
          question: "Uninstall Flux as shown?",
        });
        await carryOut(
          cli,
          { title: "destroying", clusters: plans.map((p) => p.cluster) },
          () => run.destroy(plans),
          {
            json: opts.output === "json",
            text: renderDestroyText,
            document: (results) => destroyDocument(manifest.file, plans, results),
          },
        );
      } finally {
        await run.close();
      }
    });
}
