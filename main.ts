/**
 * fluxfleet command line: parse arguments, call lib/, print. No logic of its own.
 *
 *   fluxfleet validate FILE [--full]
 *   fluxfleet plan FILE [--output text|json] [--detailed-exitcode] [--cluster NAME]...
 *   fluxfleet apply FILE [--auto-approve] [--output text|json] [--cluster NAME]...
 *   fluxfleet destroy FILE [--auto-approve] [--output text|json] [--cluster NAME]...
 *   fluxfleet schema
 *   fluxfleet manifests pull VERSION DIR [--url URL] [--sha256 HEX]
 *   fluxfleet --version
 */
import "./lib/util/no_deprecation.ts";
import { Command, InvalidArgumentError, Option } from "commander";
import { loadManifest } from "./lib/config/load.ts";
import { ConfigError, formatProblem } from "./lib/config/errors.ts";
import { manifestSchema } from "./lib/config/schema.ts";
import { processSecretSource } from "./lib/config/secrets.ts";
import type { Manifest } from "./lib/config/types.ts";
import { type FleetRun, planFleet } from "./lib/apply/fleet.ts";
import {
  renderApplyText,
  renderDestroyPlanText,
  renderDestroyText,
  renderPlanText,
} from "./lib/report/text.ts";
import {
  applyDocument,
  destroyDocument,
  jsonText,
  PLAN_FORMAT_VERSION,
  planDocument,
  planFileDocument,
  planFileText,
  plannedViews,
} from "./lib/report/json.ts";
import { type SavedPlan, staleReasons } from "./lib/plan/stale.ts";
import { errorMessage, redact, safeText } from "./lib/util/redact.ts";
import { createProgress, type Progress } from "./lib/report/progress.ts";
import { setDebugSink } from "./lib/util/debug.ts";
import { DEFAULT_RETRY } from "./lib/util/retry.ts";
import { parseDuration } from "./lib/config/duration.ts";
import { DEFAULT_LIMITS, describeLimits, type Limits, withLimitOption } from "./lib/util/limits.ts";
import { pullManifests } from "./lib/manifests/pull.ts";
import { startLifecycle } from "./lib/cli/lifecycle.ts";
import { selectClusters } from "./lib/cli/select.ts";
import { fileReport, fullReport } from "./lib/cli/validate.ts";
import { VERSION } from "./lib/version.ts";

/**
 * Signals, writes that never throw (a closed pipe), temp files removed on every exit path
 * (lib/cli/lifecycle.ts). Everything fluxfleet prints goes through print/printErr: control
 * characters and escape sequences (what a server may have slipped into a message or a repository
 * file) are removed, then secrets are redacted. The live progress display alone writes escapes of
 * its own (cursor moves, colour): it strips what it is given itself and writes through
 * drawProgress, which only redacts.
 */
const life = startLifecycle({ filter: safeText, drawFilter: redact });
const print = life.out;
const printErr = life.err;
const drawProgress = life.draw;

interface CommonOptions {
  output: "text" | "json";
  cluster: string[];
  selector: string[];
  concurrency: number;
  quiet?: boolean;
  failFast?: boolean;
  force?: boolean;
  rotate: string[];
  retries: number;
  timeout?: number;
  clusterTimeout: number;
  debug?: boolean;
  limit: Limits;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("must be a whole number ≥ 1");
  return n;
}

function duration(value: string): number {
  let ms: number;
  try {
    ms = parseDuration(value);
  } catch {
    throw new InvalidArgumentError("must be a duration such as 30s, 2m or 1m30s");
  }
  if (ms < 1) throw new InvalidArgumentError("must be longer than 0");
  return ms;
}

function limitOption(value: string, previous: Limits): Limits {
  try {
    return withLimitOption(previous, value);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
}

/** `--limit NAME=SIZE`, repeatable; its default shown in words. */
function limitsOption(description: string): Option {
  return new Option("--limit <name=size>", description)
    .argParser(limitOption)
    .default(DEFAULT_LIMITS, describeLimits(DEFAULT_LIMITS));
}

function outputFormat(value: string): "text" | "json" {
  if (value !== "text" && value !== "json") throw new InvalidArgumentError("must be text or json");
  return value;
}

let progress: Progress | undefined;

function startProgress(quiet: boolean): Progress {
  const tty = Deno.stderr.isTerminal();
  progress = createProgress({
    quiet,
    tty,
    color: !Deno.env.get("NO_COLOR"),
    write: drawProgress,
    size: terminalSize,
  });
  // A resized terminal gets a frame of its new size at once.
  if (tty && !quiet) Deno.addSignalListener("SIGWINCH", () => progress?.redraw());
  return progress;
}

function terminalSize(): { columns: number; rows: number } {
  try {
    return Deno.consoleSize();
  } catch {
    return { columns: 80, rows: 24 };
  }
}

/** Interrupted (Ctrl-C, SIGTERM, SIGHUP, stdout closed): the exit code it asks for. */
function exitIfInterrupted(): void {
  const code = life.interruptedCode();
  if (code !== undefined) Deno.exitCode = code;
}

async function startRun(
  file: string,
  opts: CommonOptions,
): Promise<{ manifest: Manifest; run: FleetRun }> {
  if (opts.debug) setDebugSink(printErr);
  const manifest = await loadManifest(file);
  const clusters = selectClusters(manifest, opts.cluster, opts.selector);
  const shown = startProgress(opts.quiet === true || opts.output === "json");
  const run = await planFleet(manifest, clusters, {
    // Errors found before any contact are printed alone, without a progress stage before them.
    onChecked: () => shown.stage("planning", clusters.map((c) => c.name)),
    concurrency: opts.concurrency,
    secrets: processSecretSource(),
    onEvent: shown.event,
    onQueued: shown.queued,
    onEnd: shown.end,
    timeoutMs: opts.timeout,
    clusterTimeoutMs: opts.clusterTimeout,
    signal: life.signal,
    failFast: opts.failFast,
    force: opts.force,
    rotate: opts.rotate,
    retry: { ...DEFAULT_RETRY, attempts: opts.retries },
    limits: opts.limit,
  });
  progress?.done();
  if (life.signal.aborted) {
    await run.close();
    life.exit(life.interruptedCode() ?? 130);
  }
  return { manifest, run };
}

async function fileDigest(path: string): Promise<string> {
  const bytes = await Deno.readFile(path);
  const hash = await crypto.subtle.digest("SHA-256", bytes);
  return "sha256:" +
    Array.from(new Uint8Array(hash), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function readPlanFile(path: string): Promise<SavedPlan> {
  let doc: { kind?: string; formatVersion?: number; clusters?: unknown };
  try {
    doc = JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    throw new Error(`--plan-file: cannot read ${path}: ${(e as Error).message}`);
  }
  if (doc.kind === "fluxfleet.plan" && doc.formatVersion !== PLAN_FORMAT_VERSION) {
    throw new Error(
      `--plan-file: ${path} is in format version ${doc.formatVersion}; this fluxfleet reads ` +
        `version ${PLAN_FORMAT_VERSION}: run plan again`,
    );
  }
  if (doc.kind !== "fluxfleet.plan" || !Array.isArray(doc.clusters)) {
    throw new Error(
      `--plan-file: ${path} is not a fluxfleet plan (format version ${PLAN_FORMAT_VERSION})`,
    );
  }
  return doc as SavedPlan;
}

async function confirm(question: string): Promise<boolean> {
  printErr(question);
  const buf = new Uint8Array(64);
  const n = await Deno.stdin.read(buf);
  return n !== null && new TextDecoder().decode(buf.subarray(0, n)).trim() === "yes";
}

const program = new Command()
  .name("fluxfleet")
  .description("Bootstrap Flux CD onto a fleet of Kubernetes clusters from one manifest.")
  .version(`fluxfleet ${VERSION}`, "-V, --version", "print the version")
  // A typo gets the error, a "did you mean" and one line pointing to --help, not the whole help.
  .showHelpAfterError('(run "fluxfleet --help" for usage)')
  .showSuggestionAfterError()
  .configureOutput({ writeOut: print, writeErr: printErr })
  .exitOverride();

/** A subcommand whose usage errors point to its own --help. */
function subcommand(name: string): Command {
  return program.command(name).showHelpAfterError(`(run "fluxfleet ${name} --help" for usage)`);
}

subcommand("validate")
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
    for (const w of m.warnings ?? []) printErr(`warning: ${formatProblem(w)}\n`);
    print(opts.full ? await fullReport(m, processSecretSource()) : fileReport(m));
  });

subcommand("schema")
  .description("print the manifest's JSON Schema (for editors)")
  .action(() => {
    print(JSON.stringify(manifestSchema, null, 2) + "\n");
  });

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
    print(
      `wrote ${pulled.archive} (${pulled.files.length} release files, sha256 ${pulled.sha256})\n` +
        `and ${pulled.archive}.sha256\n\n` +
        "use it in flux-bootstrap.yaml, under defaults.flux (or a cluster's flux):\n\n" +
        pulled.manifestLines.map((l) => `    ${l}\n`).join(""),
    );
  });

function withCommon(cmd: Command): Command {
  return cmd
    .argument("<file>", "flux-bootstrap.yaml")
    .option("-o, --output <format>", "text or json", outputFormat, "text")
    .option("-c, --cluster <name>", "only this cluster (repeatable)", collect, [])
    .option(
      "-l, --selector <selector>",
      "only clusters whose labels match, kubectl's syntax: env=prod, env!=dev, " +
        "'region in (eu,us)', 'tier notin (test)', team, !legacy; comma = and (repeatable)",
      collect,
      [],
    )
    .option("--concurrency <n>", "clusters handled at once", positiveInt, 8)
    .option("-q, --quiet", "no progress lines")
    .option("--fail-fast", "stop starting new work as soon as one cluster fails")
    .option(
      "--force",
      "take over Flux CRDs that another tool manages (app.kubernetes.io/managed-by)",
    )
    .option(
      "--rotate <cluster>",
      "replace this cluster's credentials on purpose (repeatable)",
      collect,
      [],
    )
    .option(
      "--retries <n>",
      "attempts for transient faults (429, 5xx, network), with backoff",
      positiveInt,
      4,
    )
    .option(
      "--timeout <duration>",
      "time one request may take (git, Kubernetes API, SSH, provider API); default 60s for git, 30s for the others",
      duration,
    )
    .option(
      "--cluster-timeout <duration>",
      "deadline for one cluster's work in one stage (observing, or applying its steps; the health wait is bounded by flux.timeout)",
      duration,
      parseDuration("10m"),
    )
    .option("--debug", "log every request (method, path, status; redacted) on stderr")
    .addOption(
      limitsOption(
        'change a read limit (repeatable; see README, "Failure behaviour and security")',
      ),
    );
}

withCommon(subcommand("plan"))
  .description("observe every cluster and repository and show what apply would change")
  .option(
    "--detailed-exitcode",
    "exit 0 when nothing changes, 2 when changes are planned, 1 on error",
  )
  .option("--out <plan-file>", "also save the plan (mode 0600), for `apply --plan-file`")
  .action(
    async (file: string, opts: CommonOptions & { detailedExitcode?: boolean; out?: string }) => {
      const { manifest, run } = await startRun(file, opts);
      try {
        const plans = run.plans;
        if (opts.out) {
          const doc = planFileDocument(
            manifest.file,
            run.plan.clusters,
            await fileDigest(manifest.file),
          );
          await Deno.writeTextFile(opts.out, planFileText(doc), { mode: 0o600 });
        }
        print(
          opts.output === "json"
            ? jsonText(planDocument(manifest.file, plans))
            : renderPlanText(plans),
        );
        if (plans.some((p) => p.error)) Deno.exitCode = 1;
        else if (opts.detailedExitcode && plans.some((p) => p.steps.length > 0)) Deno.exitCode = 2;
      } finally {
        await run.close();
      }
    },
  );

withCommon(subcommand("apply"))
  .description("plan, then carry out the plan: push files, install Flux, wait until it is Ready")
  .option("--auto-approve", "do not ask for confirmation")
  .option("--plan-file <file>", "apply a plan saved by `plan --out`; refused when it is stale")
  .action(
    async (file: string, opts: CommonOptions & { autoApprove?: boolean; planFile?: string }) => {
      const saved = opts.planFile ? await readPlanFile(opts.planFile) : undefined;
      if (saved) opts.cluster = saved.clusters.map((c) => c.cluster);
      const { manifest, run } = await startRun(file, opts);
      try {
        const plans = run.plans;
        if (saved) {
          const reasons = staleReasons(
            saved,
            await fileDigest(manifest.file),
            plannedViews(run.plan.clusters),
          );
          if (reasons.length > 0) {
            throw new Error(
              `the saved plan ${opts.planFile} is stale: ${reasons.join("; ")}. Run plan again.`,
            );
          }
        }
        const changes = plans.some((p) => p.steps.length > 0);
        if (opts.output === "text") print(renderPlanText(plans));
        // A saved plan was reviewed when it was made: applying it is the approval (as Terraform).
        if (changes && !opts.autoApprove && !saved) {
          if (!Deno.stdin.isTerminal()) {
            throw new Error(
              "refusing to apply without confirmation: no terminal; pass --auto-approve",
            );
          }
          // With -o json stdout holds only the JSON document: the plan to approve goes to stderr.
          if (opts.output === "json") printErr(renderPlanText(plans));
          if (!(await confirm("Apply these changes? Only 'yes' is accepted: "))) {
            throw new Error("apply cancelled");
          }
        }
        progress?.stage("applying", plans.map((p) => p.cluster), { persist: true });
        const results = await run.apply();
        progress?.done();
        print(
          opts.output === "json"
            ? jsonText(applyDocument(manifest.file, plans, results))
            : "\n" + renderApplyText(results),
        );
        if (results.some((r) => r.outcome === "failed")) Deno.exitCode = 1;
        exitIfInterrupted();
      } finally {
        await run.close();
      }
    },
  );

withCommon(subcommand("destroy"))
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
    const { manifest, run } = await startRun(file, opts);
    try {
      const plans = run.destroyPlans({
        keepNamespace: opts.keepNamespace ?? false,
        deleteGitManifests: opts.deleteGitManifests ?? false,
      });
      if (opts.output === "text") print(renderDestroyPlanText(plans));
      const changes = plans.some((p) => p.steps.length > 0);
      if (changes && !opts.autoApprove) {
        if (!Deno.stdin.isTerminal()) {
          throw new Error(
            "refusing to destroy without confirmation: no terminal; pass --auto-approve",
          );
        }
        if (opts.output === "json") printErr(renderDestroyPlanText(plans));
        if (!(await confirm("Uninstall Flux as shown? Only 'yes' is accepted: "))) {
          throw new Error("destroy cancelled");
        }
      }
      progress?.stage("destroying", plans.map((p) => p.cluster), { persist: true });
      const results = await run.destroy(plans);
      progress?.done();
      print(
        opts.output === "json"
          ? jsonText(destroyDocument(manifest.file, plans, results))
          : "\n" + renderDestroyText(results),
      );
      if (results.some((r) => r.outcome === "failed")) Deno.exitCode = 1;
      exitIfInterrupted();
    } finally {
      await run.close();
    }
  });

try {
  await program.parseAsync(Deno.args, { from: "user" });
  // Plan's output may be what broke (`plan | head`): exit as a shell reports it.
  exitIfInterrupted();
} catch (e) {
  const code = (e as { code?: string }).code;
  if (code === "commander.helpDisplayed" || code === "commander.version") life.exit(0);
  if (code?.startsWith("commander.")) life.exit(1); // commander already printed the problem
  progress?.done();
  if (e instanceof ConfigError) printErr(e.message + "\n");
  else printErr(`error: ${errorMessage(e)}\n`);
  life.exit(life.interruptedCode() ?? 1);
}
