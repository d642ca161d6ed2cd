/** Human-readable plan and apply reports (`+` add, `~` change, `=` in place, `!` warning, `x` error). */
import type { ClusterPlan, Step } from "../plan/types.ts";
import { type ClusterResult, type DestroyResult, shownOutcome } from "../plan/results.ts";
import { describeDestroyStep, type DestroyPlan } from "../plan/destroy.ts";
import { plural } from "../util/words.ts";
import { permissionWord, providerWords } from "../providers/registry.ts";

export function describeStep(step: Step): string {
  switch (step.kind) {
    case "file":
      return step.action === "create"
        ? `+ commit ${step.path}`
        : `~ commit ${step.path} (content differs from the manifest)`;
    case "namespace":
      return `+ create namespace ${step.name}`;
    case "components":
      return `+ install Flux components (${
        plural(step.objects, "object")
      }, server-side apply): ${step.reason}`;
    case "secret": {
      // A key made by apply is named by its kind, never shown: it does not exist yet.
      const generated = step.generatedKey
        ? `; SSH key ${step.generatedKey} generated at apply`
        : step.issuedCredentials
        ? `; ${step.issuedCredentials} issued at apply`
        : "";
      return step.action === "create"
        ? `+ create secret ${step.namespace}/${step.name} (${step.keys.join(", ")}${generated})`
        : `~ update secret ${step.namespace}/${step.name} (${
          step.keys.join(", ")
        } changed${generated})`;
    }
    case "pullSecret":
      return `${
        step.action === "create" ? "+ create" : "~ update"
      } image pull secret ${step.namespace}/${step.name} (${step.reason})`;
    case "repository":
      if (step.action === "defaultBranch") {
        return `~ set default branch of repository ${step.name} to ${step.branch} (was ${step.from})`;
      }
      return step.action === "create"
        ? `+ create repository ${step.name} (${visibilityWord(step)})`
        : `~ make repository ${step.name} ${visibilityWord(step)}`;
    case "group":
      return `+ grant ${providerWords(step).group} ${step.group} ${
        permissionWord(step)
      } on the repository`;
    case "accessKey":
      return `${step.action === "create" ? "+ register" : "~ replace"} ${
        providerWords(step).key
      } ${step.label} (${step.permission === "write" ? "read-write" : "read-only"})${
        step.generatedKey ? ` with the SSH key ${step.generatedKey} generated at apply` : ""
      }`;
    case "migrate":
      return `~ migrate CRD ${step.crd} storage: storedVersions [${
        step.storedVersions.join(", ")
      }] → [${step.version}] (every object written again in ${step.version}, as flux migrate; before the push)`;
    case "sync":
      return step.action === "create"
        ? `+ create ${step.object} ${step.namespace}/${step.name}`
        : `~ update ${step.object} ${step.namespace}/${step.name} (${
          step.fields.join(", ")
        } changed)`;
  }
}

/** "private", "public", or the provider's own word ("internal", say). */
export function visibilityWord(step: { private: boolean; visibility?: string }): string {
  return step.visibility ?? (step.private ? "private" : "public");
}

/** "credentials from exec plugin: aws": what runs to get the cluster's credentials. */
export function credentialsNote(c: NonNullable<ClusterPlan["kubeCredentials"]>): string {
  const source = c.plugin === "exec" ? "exec plugin" : `auth-provider ${c.provider}`;
  return `credentials from ${source}${c.command ? `: ${c.command}` : " (runs no command)"}`;
}

export function renderPlanText(plans: ClusterPlan[]): string {
  const out: string[] = [];
  for (const p of plans) {
    out.push(
      `cluster ${p.cluster}  (${p.repository.url} ${p.repository.branch}, ${p.repository.dir})`,
    );
    if (p.error) {
      out.push(`  x cannot plan: ${p.error}`);
      if (p.kubeCredentials) out.push(`  > ${credentialsNote(p.kubeCredentials)}`);
      continue;
    }
    const lastFile = p.steps.findLastIndex((s) => s.kind === "file");
    p.steps.forEach((s, i) => {
      out.push(`  ${describeStep(s)}`);
      if (s.kind === "file" && s.diff) {
        out.push(...s.diff.trimEnd().split("\n").map((l) => `      ${l}`));
      }
      // Said once, under the files the commit carries.
      if (i === lastFile && p.repository.signing) {
        out.push(`  > the commit is ${p.repository.signing}`);
      }
    });
    for (const s of p.status) {
      out.push(
        `  ${s.ready ? "=" : "!"} ${s.object} ${s.namespace}/${s.name} ${
          s.ready ? s.message : `not ready: ${s.message}`
        }`,
      );
    }
    for (const w of p.warnings) {
      if (!p.status.some((s) => w.includes(s.message))) out.push(`  ! ${w}`);
    }
    for (const n of p.notes ?? []) out.push(`  > ${n}`);
    if (p.kubeCredentials) out.push(`  > ${credentialsNote(p.kubeCredentials)}`);
    if (p.steps.length === 0 && p.status.length > 0) out.push("  (no changes)");
  }
  out.push("", planSummary(plans));
  return out.join("\n") + "\n";
}

export function planSummary(plans: { error?: string; steps: unknown[] }[]): string {
  const failed = plans.filter((p) => p.error).length;
  const changing = plans.filter((p) => !p.error && p.steps.length > 0);
  const steps = changing.reduce((n, p) => n + p.steps.length, 0);
  if (steps === 0 && failed === 0) return "No changes. Every cluster matches the manifest.";
  const parts = [
    `Plan: ${plural(steps, "change")} in ${plural(changing.length, "cluster")}`,
  ];
  parts.push(`${plans.length - changing.length - failed} unchanged`);
  if (failed > 0) parts.push(`${failed} failed`);
  return parts.join(", ") + ".";
}

export function renderApplyText(results: ClusterResult[]): string {
  const out = results.map((r) => {
    switch (r.outcome) {
      case "unchanged":
        return `${r.cluster}: unchanged`;
      case "changed":
        return `${r.cluster}: changed (${plural(r.applied.length, "step")})${
          r.revision ? `, synced ${r.revision}` : ""
        }`;
      case "skipped":
      case "interrupted":
        return `${r.cluster}: skipped (${r.reason ?? r.error})`;
      case "failed":
        return `${r.cluster}: failed: ${r.error}` +
          (r.applied.length > 0
            ? ` (after ${plural(r.applied.length, "step")} done; re-run to converge)`
            : "");
    }
  });
  const count = (o: string) => results.filter((r) => shownOutcome(r.outcome) === o).length;
  const skipped = count("skipped") > 0 ? `, ${count("skipped")} skipped` : "";
  const summary = `Apply: ${count("changed")} changed, ${count("unchanged")} unchanged, ` +
    `${count("failed")} failed${skipped}.`;
  out.push("", summary);
  return out.join("\n") + "\n";
}

export function renderDestroyPlanText(plans: DestroyPlan[]): string {
  const out: string[] = [];
  for (const p of plans) {
    out.push(`cluster ${p.cluster}`);
    if (p.error) out.push(`  x cannot plan: ${p.error}`);
    else if (p.steps.length === 0) out.push("  (nothing to remove)");
    for (const s of p.steps) out.push(`  ${describeDestroyStep(s)}`);
  }
  const n = plans.reduce((k, p) => k + p.steps.length, 0);
  out.push(
    "",
    n === 0
      ? "Nothing to destroy."
      : `Destroy: ${plural(n, "step")} in ${
        plural(plans.filter((p) => p.steps.length).length, "cluster")
      }.`,
  );
  return out.join("\n") + "\n";
}

export function renderDestroyText(results: DestroyResult[]): string {
  const out = results.map((r) => {
    switch (r.outcome) {
      case "failed":
        return `${r.cluster}: failed: ${r.error} (after ${
          plural(r.done.length, "step")
        }; re-run to finish)`;
      case "interrupted":
        return `${r.cluster}: skipped (${r.reason ?? r.error})`;
      default:
        return `${r.cluster}: ${r.outcome}${
          r.done.length ? ` (${plural(r.done.length, "step")})` : ""
        }`;
    }
  });
  const count = (o: string) => results.filter((r) => shownOutcome(r.outcome) === o).length;
  const skipped = count("skipped") > 0 ? `, ${count("skipped")} skipped` : "";
  out.push(
    "",
    `Destroy: ${count("destroyed")} destroyed, ${count("unchanged")} unchanged, ${
      count("failed")
    } failed${skipped}.`,
  );
  return out.join("\n") + "\n";
}
