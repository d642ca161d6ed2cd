/**
 * `plan --output markdown`: the plan as a pull-request comment, in the shape Terraform's
 * pull-request bots use — a summary line, a table of the clusters that change or cannot be
 * planned, and per cluster a collapsible `<details>` with its steps and each file's diff in
 * fenced blocks (highlighted as diffs). Unchanged clusters are one collapsed list.
 *
 * What a repository, a server or a manifest puts here is data, never markup: text outside code
 * blocks has every ASCII punctuation character written as a numeric character reference (CommonMark
 * and GitHub's HTML sanitiser show them literally: no tag, link, emphasis, table cell break, `@`
 * mention or `#` reference can be formed), and code blocks are fenced with more backticks than
 * the longest run inside them, so no line of a file can close the fence or the `<details>`.
 * Secrets are redacted before the encoding (and once more by the CLI's output filter, which also
 * removes control characters, as for every output).
 */
import type { ClusterPlanView, Step, StepView } from "../plan/types.ts";
import { plural } from "../util/words.ts";
import { redact, safeText } from "../util/redact.ts";
import type { PlanDocument } from "./json.ts";
import { credentialsNote, describeStep, planSummary } from "./text.ts";

/** A diff longer than this is cut in the comment (GitHub refuses comments over 65,536 chars). */
export const MAX_DIFF_LINES = 120;

/** Text shown as it is, in Markdown and inline HTML alike (see the module comment). */
export function inlineText(text: string): string {
  // Redacted before encoding: a secret's characters are not the secret's once encoded.
  return redact(safeText(text)).replace(/\r?\n|\r/g, " ").replace(
    /[!-/:-@[-`{-~]/g,
    (ch) => `&#${ch.charCodeAt(0)};`,
  );
}

/** A fenced code block that nothing inside can close. */
export function fenced(text: string, info = ""): string {
  const body = redact(text);
  const longest = Math.max(0, ...[...body.matchAll(/`+/g)].map((m) => m[0].length));
  const fence = "`".repeat(Math.max(3, longest + 1));
  return `${fence}${info}\n${body.replace(/\n$/, "")}\n${fence}`;
}

function cappedDiff(diff: string): string {
  const lines = diff.trimEnd().split("\n");
  if (lines.length <= MAX_DIFF_LINES) return lines.join("\n");
  return [
    ...lines.slice(0, MAX_DIFF_LINES),
    `… ${lines.length - MAX_DIFF_LINES} more lines (run fluxfleet plan to see the whole diff)`,
  ].join("\n");
}

/** As the text plan says it; a provider's permission in the provider's words (as in JSON). */
function describeStepView(step: StepView): string {
  switch (step.kind) {
    case "group":
      return `+ grant group ${step.group} ${step.permission} on the repository`;
    case "accessKey":
      return `${
        step.action === "create" ? "+ register" : "~ replace"
      } SSH access key ${step.label} (${step.permission})${
        step.generatedKey ? ` with the SSH key ${step.generatedKey} generated at apply` : ""
      }`;
    case "repository":
      if (step.action === "defaultBranch") return describeStep(step as Step);
      return step.action === "create"
        ? `+ create repository ${step.name} (${step.private ? "private" : "public"})`
        : `~ make repository ${step.name} ${step.private ? "private" : "public"}`;
    default:
      return describeStep(step as Step);
  }
}

function stepLines(p: ClusterPlanView): string[] {
  if (p.error) {
    return [
      `x cannot plan: ${p.error}`,
      ...(p.kubeCredentials ? [`> ${credentialsNote(p.kubeCredentials)}`] : []),
    ];
  }
  const out = p.steps.map(describeStepView);
  if (p.repository.signing && p.steps.some((s) => s.kind === "file")) {
    out.push(`> the commit is ${p.repository.signing}`);
  }
  for (const s of p.status.filter((s) => !s.ready)) {
    out.push(`! ${s.object} ${s.namespace}/${s.name} not ready: ${s.message}`);
  }
  for (const w of p.warnings) {
    if (!p.status.some((s) => w.includes(s.message))) out.push(`! ${w}`);
  }
  for (const n of p.notes ?? []) out.push(`> ${n}`);
  if (p.kubeCredentials) out.push(`> ${credentialsNote(p.kubeCredentials)}`);
  return out;
}

function what(p: ClusterPlanView): string {
  return p.error ? "cannot plan" : plural(p.steps.length, "change");
}

function clusterDetails(p: ClusterPlanView): string {
  const parts = [
    `<details><summary><b>${inlineText(p.cluster)}</b>: ${what(p)}</summary>`,
    "",
    fenced(stepLines(p).join("\n"), "diff"),
  ];
  for (const s of p.steps) {
    if (s.kind !== "file" || !s.diff) continue;
    parts.push("", `${inlineText(s.path)}:`, "", fenced(cappedDiff(s.diff), "diff"));
  }
  parts.push("", "</details>");
  return parts.join("\n");
}

/** A plan document (`plan`, or `merge-plans` of several shards) as a pull-request comment. */
export function renderPlanMarkdown(doc: PlanDocument): string {
  const plans = doc.clusters;
  const shard = doc.shard
    ? ` (shard ${doc.shard.index}/${doc.shard.count} of ${
      plural(doc.shard.selected, "selected cluster")
    })`
    : "";
  const out = [
    `### fluxfleet plan: ${inlineText(doc.manifest)}${shard}`,
    "",
    `**${inlineText(planSummary(plans))}**`,
  ];
  const shown = plans.filter((p) => p.error || p.steps.length > 0 || stepLines(p).length > 0);
  if (shown.length > 0) {
    out.push(
      "",
      "| cluster | repository | branch | path | changes |",
      "| --- | --- | --- | --- | --- |",
    );
    for (const p of shown) {
      const r = p.repository;
      out.push(
        `| ${[p.cluster, r.url, r.branch, r.dir, what(p)].map(inlineText).join(" | ")} |`,
      );
    }
    for (const p of shown) out.push("", clusterDetails(p));
  }
  const quiet = plans.filter((p) => !shown.includes(p));
  if (quiet.length > 0) {
    out.push(
      "",
      `<details><summary>${plural(quiet.length, "cluster")} without changes</summary>`,
      "",
      quiet.map((p) => inlineText(p.cluster)).join(", "),
      "",
      "</details>",
    );
  }
  return out.join("\n") + "\n";
}
