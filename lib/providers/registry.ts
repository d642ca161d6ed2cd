/**
 * Every provider fluxfleet knows, and the only switch over them: the rest of fluxfleet asks the
 * registry, never names a provider. Adding one is a folder under lib/providers and a line here.
 */
import type { Step, StepView } from "../plan/types.ts";
import type { ProviderModule } from "./types.ts";
import { provider as generic } from "./generic/mod.ts";
import { provider as bitbucketServer } from "./bitbucket-server/mod.ts";
import { provider as github } from "./github/mod.ts";
import { provider as gitea } from "./gitea/mod.ts";
import { provider as gitlab } from "./gitlab/mod.ts";

export const PROVIDERS: readonly ProviderModule[] = [
  generic,
  bitbucketServer,
  github,
  gitea,
  gitlab,
];

/** The provider of `git.provider: <kind>`; unknown kinds are refused by the schema before. */
export function providerFor(kind: string): ProviderModule {
  const found = PROVIDERS.find((p) => p.kind === kind);
  if (!found) throw new Error(`unknown git provider "${kind}"`);
  return found;
}

/** The default of `git.provider`. */
export const DEFAULT_PROVIDER = generic.kind;

/** A provider step's permission as its provider names it (REPO_WRITE, say). */
export function permissionWord(step: Extract<Step, { kind: "group" | "accessKey" }>): string {
  return providerFor(step.provider).permissionWord(step.permission);
}

/** What a step's provider calls a group and the cluster's key ("team", "deploy key"). */
export function providerWords(
  step: Extract<Step, { kind: "group" | "accessKey" }>,
): { group: string; key: string } {
  return providerFor(step.provider).words ?? { group: "group", key: "SSH access key" };
}

/**
 * A step as plans show it (text, JSON, progress): a provider step's permission in the provider's
 * words, without the provider's name; the keys in the order the JSON output has always had.
 */
export function stepView(step: Step): StepView {
  switch (step.kind) {
    case "repository":
      return step.action === "defaultBranch"
        ? {
          kind: step.kind,
          action: step.action,
          name: step.name,
          branch: step.branch,
          from: step.from,
        }
        : {
          kind: step.kind,
          action: step.action,
          name: step.name,
          private: step.private,
          ...(step.visibility ? { visibility: step.visibility } : {}),
        };
    case "group":
      return {
        kind: step.kind,
        action: step.action,
        group: step.group,
        permission: permissionWord(step),
      };
    case "accessKey":
      return {
        kind: step.kind,
        action: step.action,
        label: step.label,
        permission: permissionWord(step),
        remove: step.remove,
        ...(step.generatedKey ? { generatedKey: step.generatedKey } : {}),
      };
    default:
      return step;
  }
}
