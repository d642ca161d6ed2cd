/**
 * The one confirmation of apply and destroy, and the exit codes every command ends with
 * (README, "Exit codes").
 */
import type { Cli } from "./context.ts";
import type { OutputFormat } from "./options.ts";
import { jsonText } from "../report/json.ts";

async function confirm(cli: Cli, question: string): Promise<boolean> {
  cli.printErr(question);
  const buf = new Uint8Array(64);
  const n = await Deno.stdin.read(buf);
  return n !== null && new TextDecoder().decode(buf.subarray(0, n)).trim() === "yes";
}

/**
 * Asks before changes are made, unless approved already (`--auto-approve`, or a saved plan: it
 * was reviewed when it was made). Without a terminal it refuses. With `-o json`, stdout holds
 * only the JSON document: the plan to approve goes to stderr.
 */
export async function requireApproval(
  cli: Cli,
  opts: {
    changes: boolean;
    approved: boolean;
    output: OutputFormat;
    /** "apply", "destroy" */
    verb: string;
    planText: () => string;
    question: string;
  },
): Promise<void> {
  if (!opts.changes || opts.approved) return;
  if (!Deno.stdin.isTerminal()) {
    throw new Error(
      `refusing to ${opts.verb} without confirmation: no terminal; pass --auto-approve`,
    );
  }
  if (opts.output === "json") cli.printErr(opts.planText());
  if (!(await confirm(cli, `${opts.question} Only 'yes' is accepted: `))) {
    throw new Error(`${opts.verb} cancelled`);
  }
}

/**
 * Apply's and destroy's stage: carried out with its progress, reported as text or JSON, then
 * the exit code: 1 when a cluster failed, else 0; an interruption (Ctrl-C, SIGTERM, SIGHUP, a
 * closed stdout) asks for its own code instead.
 */
export async function carryOut<R extends { outcome: string }>(
  cli: Cli,
  stage: { title: string; clusters: string[] },
  run: () => Promise<R[]>,
  report: { json: boolean; text(results: R[]): string; document(results: R[]): unknown },
): Promise<void> {
  cli.progress?.stage(stage.title, stage.clusters, { persist: true });
  const results = await run();
  cli.progress?.done();
  cli.print(
    report.json ? jsonText(report.document(results)) : "\n" + report.text(results),
  );
  if (results.some((r) => r.outcome === "failed")) Deno.exitCode = 1;
  cli.exitIfInterrupted();
}
