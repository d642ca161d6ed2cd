/** The command line itself: commander's program, its subcommands' usage, and how a run ends. */
import { Command } from "commander";
import { ConfigError } from "../config/errors.ts";
import { errorMessage } from "../util/redact.ts";
import { VERSION } from "../version.ts";
import { DEFAULT_FLUX_VERSION } from "../config/defaults.ts";

/** `fluxfleet --version`: this version, and the Flux release a manifest without flux.version gets. */
export const VERSION_TEXT = `fluxfleet ${VERSION}, Flux ${DEFAULT_FLUX_VERSION} by default`;
import type { Cli } from "./context.ts";

export function newProgram(cli: Cli): Command {
  return new Command()
    .name("fluxfleet")
    .description("Bootstrap Flux CD onto a fleet of Kubernetes clusters from one manifest.")
    .version(
      VERSION_TEXT,
      "-V, --version",
      "print the version and the Flux version it installs by default",
    )
    // A typo gets the error, a "did you mean" and one line pointing to --help, not the whole help.
    .showHelpAfterError('(run "fluxfleet --help" for usage)')
    .showSuggestionAfterError()
    .configureOutput({ writeOut: cli.print, writeErr: cli.printErr })
    .exitOverride();
}

/** A subcommand whose usage errors point to its own --help. */
export function subcommand(program: Command, name: string): Command {
  return program.command(name).showHelpAfterError(`(run "fluxfleet ${name} --help" for usage)`);
}

/** Parses the arguments and runs the command; every error ends here, in words. */
export async function runProgram(program: Command, cli: Cli, args: string[]): Promise<void> {
  try {
    await program.parseAsync(args, { from: "user" });
    // Plan's output may be what broke (`plan | head`): exit as a shell reports it.
    cli.exitIfInterrupted();
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === "commander.helpDisplayed" || code === "commander.version") cli.life.exit(0);
    if (code?.startsWith("commander.")) cli.life.exit(1); // commander already printed the problem
    cli.progress?.done();
    if (e instanceof ConfigError) cli.printErr(e.message + "\n");
    else cli.printErr(`error: ${errorMessage(e)}\n`);
    cli.life.exit(cli.life.interruptedCode() ?? 1);
  }
}
