/**
 * fluxfleet command line: wires the commands of lib/cli together. No logic of its own.
 *
 *   fluxfleet validate FILE [--full]
 *   fluxfleet plan FILE [--output text|json] [--detailed-exitcode] [--cluster NAME]...
 *   fluxfleet apply FILE [--auto-approve] [--output text|json] [--cluster NAME]...
 *   fluxfleet destroy FILE [--auto-approve] [--output text|json] [--cluster NAME]...
 *   fluxfleet merge-plans A.json B.json… [--output json|markdown]
 *   fluxfleet completion bash|zsh
 *   fluxfleet status FILE [--output text|json] [--selector S]... [--watch]
 *   fluxfleet schema
 *   fluxfleet manifests pull VERSION DIR [--url URL] [--sha256 HEX]
 *   fluxfleet --version
 */
import "./lib/util/no_deprecation.ts";
import { startCli } from "./lib/cli/context.ts";
import { newProgram, runProgram } from "./lib/cli/program.ts";
import { validateCommand } from "./lib/cli/validate.ts";
import { schemaCommand } from "./lib/cli/schema.ts";
import { manifestsCommand } from "./lib/cli/manifests.ts";
import { planCommand } from "./lib/cli/plan.ts";
import { applyCommand } from "./lib/cli/apply.ts";
import { destroyCommand } from "./lib/cli/destroy.ts";
import { mergePlansCommand } from "./lib/cli/merge_plans.ts";
import { completionCommand } from "./lib/cli/completion.ts";
import { statusCommand } from "./lib/cli/status.ts";

// Signals, safe output and the run's temporary files first (lib/cli/lifecycle.ts).
const cli = startCli();
const program = newProgram(cli);
for (
  const command of [
    validateCommand,
    schemaCommand,
    manifestsCommand,
    planCommand,
    applyCommand,
    destroyCommand,
    mergePlansCommand,
    completionCommand,
    statusCommand,
  ]
) {
  command(program, cli);
}
await runProgram(program, cli, Deno.args);
