/**
 * `validate` checks the file; `validate --full` also does everything plan does before it contacts
 * anything (lib/apply/local.ts resolveLocal): secret references resolved, kubeconfig contexts
 * found. It reaches no git server, cluster or release download. Both say what they checked.
 */
import type { Command } from "commander";
import type { ClusterConfig, Manifest, SecretRef } from "../config/types.ts";
import { processSecretSource, type SecretSource } from "../config/secrets.ts";
import { formatProblem } from "../config/errors.ts";
import { loadManifest } from "../config/load.ts";
import { resolveLocal } from "../apply/local.ts";
import { plural } from "../util/words.ts";
import type { Cli } from "./context.ts";
import { subcommand } from "./program.ts";

export function validateCommand(program: Command, cli: Cli): void {
  subcommand(program, "validate")
    .description(
      "check a manifest against the schema and the rules (the file only); with --full also " +
        "resolve secrets and kubeconfig contexts. Contacts nothing.",
    )
    .argument("<file>", "flux-bootstrap.yaml")
    .option(
      "--full",
      "also resolve every secret reference (environment variables, files, stdin, prompts) and " +
        "kubeconfig context, as plan does before contacting anything",
    )
    .action(async (file: string, opts: { full?: boolean }) => {
      const m = await loadManifest(file);
      // Deprecated forms work; they are said on stderr, where they do not disturb the report.
      for (const w of m.warnings ?? []) cli.printErr(`warning: ${formatProblem(w)}\n`);
      cli.print(opts.full ? await fullReport(m, processSecretSource()) : fileReport(m));
    });
}

/** `validate` without --full. */
export function fileReport(manifest: Manifest): string {
  return `ok: ${plural(manifest.clusters.length, "cluster")} (checked the file only: schema and ` +
    `rules; \`validate --full\` also resolves secrets and kubeconfig contexts)\n`;
}

function describeRef(ref: SecretRef): string {
  if ("env" in ref) return `$${ref.env}`;
  if ("file" in ref) return `file ${ref.file}`;
  if ("stdin" in ref) return "standard input";
  return "prompt";
}

/** The secret references of a cluster, by field. */
export function secretFields(c: ClusterConfig): [string, SecretRef][] {
  const out: [string, SecretRef][] = [];
  const auth = c.git.auth;
  if (auth.type === "token") out.push(["git.auth.token", auth.token]);
  else {
    out.push(["git.auth.privateKey", auth.privateKey]);
    if (auth.passphrase) out.push(["git.auth.passphrase", auth.passphrase]);
  }
  const signing = c.git.signing;
  if (signing && "gpg" in signing) {
    out.push(["git.signing.gpg.keyRing", signing.gpg.keyRing]);
    if (signing.gpg.passphrase) out.push(["git.signing.gpg.passphrase", signing.gpg.passphrase]);
  } else if (signing) {
    out.push(["git.signing.ssh.key", signing.ssh.key]);
    if (signing.ssh.passphrase) out.push(["git.signing.ssh.passphrase", signing.ssh.passphrase]);
  }
  const registry = c.flux.registryCredentials;
  if (registry) out.push(["flux.registryCredentials.password", registry.password]);
  return out;
}

function describeKube(c: ClusterConfig): string {
  const where = c.kube.kubeconfig ?? Deno.env.get("KUBECONFIG") ?? "~/.kube/config";
  return c.kube.context
    ? `kube context ${c.kube.context} in ${where}`
    : `the current context of ${where}`;
}

/** `validate --full`: resolves locally (throws like plan would), then lists what was checked. */
export async function fullReport(manifest: Manifest, secrets: SecretSource): Promise<string> {
  await resolveLocal(manifest, manifest.clusters, secrets);
  const lines = [
    `ok: ${plural(manifest.clusters.length, "cluster")}: the file, secrets and kubeconfig ` +
    `contexts checked; nothing was contacted (plan reaches the git servers and clusters)`,
  ];
  for (const c of manifest.clusters) {
    const secretsRead = secretFields(c).map(([field, ref]) => `${field} (${describeRef(ref)})`);
    const files = c.git.caFile && c.git.auth.type === "token" ? ["git.caFile"] : [];
    lines.push(`  ${c.name}: ${[...secretsRead, ...files, describeKube(c)].join(", ")}`);
  }
  return lines.join("\n") + "\n";
}
