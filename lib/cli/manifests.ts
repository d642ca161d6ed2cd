/** `fluxfleet manifests pull`: a Flux release's manifests archive for use without network access. */
import type { Command } from "commander";
import { pullManifests } from "../manifests/pull.ts";
import { DEFAULT_RETRY } from "../util/retry.ts";
import type { Limits } from "../util/limits.ts";
import type { Cli } from "./context.ts";
import { limitsOption, positiveInt } from "./options.ts";

export function manifestsCommand(program: Command, cli: Cli): void {
  const manifests = program.command("manifests")
    .description("Flux release manifests for use without network access");

  manifests.command("pull")
    .description(
      "download and check a Flux release's manifests archive into DIR; print the flux.manifests lines that use it",
    )
    .argument("<version>", "Flux release, e.g. v2.4.0")
    .argument("<dir>", "folder to write the archive and its .sha256 into")
    .option("--url <url>", "download from here instead of the release on GitHub")
    .option("--sha256 <hex>", "refuse the download unless it has this SHA-256")
    .option("--allow-insecure-http", "allow a plain http:// --url (then pin the printed sha256)")
    .option("--retries <n>", "attempts for transient faults (429, 5xx, network)", positiveInt, 4)
    .addOption(limitsOption("change the manifests read limit"))
    .action(async (
      version: string,
      dir: string,
      opts: {
        url?: string;
        sha256?: string;
        allowInsecureHttp?: boolean;
        retries: number;
        limit: Limits;
      },
    ) => {
      const pulled = await pullManifests({
        version,
        dir,
        url: opts.url,
        sha256: opts.sha256,
        allowInsecureHttp: opts.allowInsecureHttp,
        retry: { ...DEFAULT_RETRY, attempts: opts.retries },
        maxBytes: opts.limit.manifests,
      });
      cli.print(
        `wrote ${pulled.archive} (${pulled.files.length} release files, sha256 ${pulled.sha256})\n` +
          `and ${pulled.archive}.sha256\n\n` +
          "use it in flux-bootstrap.yaml, under defaults.flux (or a cluster's flux):\n\n" +
          pulled.manifestLines.map((l) => `    ${l}\n`).join(""),
      );
    });
}
