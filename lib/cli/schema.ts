/** `fluxfleet schema`: the manifest's JSON Schema, for editors. */
import type { Command } from "commander";
import { manifestSchema } from "../config/schema.ts";
import type { Cli } from "./context.ts";
import { subcommand } from "./program.ts";

export function schemaCommand(program: Command, cli: Cli): void {
  subcommand(program, "schema")
    .description("print the manifest's JSON Schema (for editors)")
    .action(() => {
      cli.print(JSON.stringify(manifestSchema, null, 2) + "\n");
    });
}
