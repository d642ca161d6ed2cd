/**
 * What a cluster is doing, as the progress display shows it: a step in words ("granting group
 * devs REPO_WRITE on the repository"), never the step's internal kind ("group").
 */
import type { Step } from "../plan/types.ts";
import type { DestroyStep } from "../plan/destroy.ts";
import { plural } from "../util/words.ts";
import { permissionWord, providerWords } from "../providers/registry.ts";

export function stepProgress(step: Step): string {
  switch (step.kind) {
    case "file":
      return `committing ${step.path}`;
    case "namespace":
      return `creating namespace ${step.name}`;
    case "components":
      return `installing Flux components (${plural(step.objects, "object")})`;
    case "secret":
      return `${
        step.action === "create" ? "creating" : "updating"
      } secret ${step.namespace}/${step.name}`;
    case "pullSecret":
      return `${
        step.action === "create" ? "creating" : "updating"
      } image pull secret ${step.namespace}/${step.name}`;
    case "repository":
      if (step.action === "defaultBranch") {
        return `setting default branch of repository ${step.name} to ${step.branch}`;
      }
      return step.action === "create"
        ? `creating repository ${step.name}`
        : `making repository ${step.name} ${
          step.visibility ?? (step.private ? "private" : "public")
        }`;
    case "group":
      return `granting ${providerWords(step).group} ${step.group} ${
        permissionWord(step)
      } on the repository`;
    case "accessKey":
      return `${step.action === "create" ? "registering" : "replacing"} ${
        providerWords(step).key
      } ${step.label}`;
    case "migrate":
      return `migrating ${step.crd} to ${step.version}`;
    case "sync":
      return `applying ${step.object} ${step.namespace}/${step.name}`;
  }
}

export function destroyStepProgress(step: DestroyStep): string {
  switch (step.kind) {
    case "finalizers":
      return "removing finalizers from Flux custom resources";
    case "sync":
      return `deleting ${step.object} ${step.namespace}/${step.name}`;
    case "components":
      return `deleting Flux components (${plural(step.objects, "object")})`;
    case "crds":
      return `deleting ${plural(step.names.length, "Flux CRD")}`;
    case "namespace":
      return `deleting namespace ${step.name}`;
    case "secret":
      return `deleting secret ${step.namespace}/${step.name}`;
    case "pullSecret":
      return `deleting image pull secret ${step.namespace}/${step.name}`;
    case "file":
      return `deleting ${step.path} in git`;
    case "accessKey":
      return `removing deploy key ${step.label}`;
  }
}
