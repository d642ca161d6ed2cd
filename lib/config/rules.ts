/**
 * The manifest's rules beyond its schema: unique names, the provider's settings (lib/providers,
 * through provider_settings.ts), paths inside the repository, the flux options that go together,
 * and no two clusters writing the same files.
 */
import { isAbsolute } from "node:path";
import type { ConfigProblem } from "./errors.ts";
import { locate, type PathSegment, type SourceMap } from "./locate.ts";
import { repositoryKey } from "../git/url.ts";
import type { RawManifest } from "./types.ts";
import { providerProblems, providerView } from "./provider_settings.ts";
import { accessKeyLabel } from "../plan/cluster_key.ts";
import { DEFAULT_COMPONENTS, DEFAULT_FLUX_VERSION, DEFAULT_SECRET_NAME } from "./defaults.ts";
import { SOURCE_WATCHER, sourceWatcherProblem } from "../manifests/flux_cli.ts";

export function semanticProblems(map: SourceMap, raw: RawManifest): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const names = new Map<string, number>();
  const targets = new Map<string, string>();
  const keyLabels = new Map<string, string>();
  raw.clusters.forEach((c, i) => {
    const at = (field: PathSegment[], message: string, fieldName?: string): void => {
      problems.push({
        location: locate(map, ["clusters", i, ...field]),
        cluster: c.name,
        field: fieldName ?? field.join("."),
        message,
      });
    };
    /** A problem with a value the cluster may inherit: located where the value was written. */
    const atInherited = (
      section: "git" | "flux",
      key: string,
      message: string,
      field = `${section}.${key}`,
    ): void => {
      const own = (c[section] as Record<string, unknown> | undefined)?.[key] !== undefined;
      problems.push({
        location: locate(map, own ? ["clusters", i, section, key] : ["defaults", section, key]),
        cluster: c.name,
        field,
        message,
      });
    };
    const first = names.get(c.name);
    if (first !== undefined) {
      at(["name"], `duplicate cluster name (first used by cluster #${first + 1})`);
    } else names.set(c.name, i);

    const git = { ...raw.defaults?.git, ...c.git };
    problems.push(...providerProblems(map, raw, i));

    if (git.signing && git.transport === "system") {
      // The system transport commits with the git binary, which fluxfleet keeps away from keys.
      atInherited(
        "git",
        "signing",
        "is not supported with transport: system (the git binary makes the commit there); use the builtin transport to sign commits",
      );
    }

    const pathProblem = checkRepoPath(c.path);
    if (pathProblem) at(["path"], pathProblem);

    const flux = { ...raw.defaults?.flux, ...c.flux };
    // flux bootstrap: "--registry-creds requires --image-pull-secret to be set"; the secret needs
    // a name.
    if (flux.registryCredentials && !flux.imagePullSecret) {
      atInherited(
        "flux",
        "registryCredentials",
        "is required with flux.registryCredentials: it names the dockerconfigjson secret fluxfleet creates (as flux --registry-creds needs --image-pull-secret)",
        "flux.imagePullSecret",
      );
    } else if (
      flux.registryCredentials &&
      flux.imagePullSecret === (flux.secretName ?? DEFAULT_SECRET_NAME)
    ) {
      atInherited(
        "flux",
        "imagePullSecret",
        `"${flux.imagePullSecret}" is also the source secret's name (flux.secretName); the image pull secret needs its own name`,
      );
    }
    if (
      typeof flux.manifests === "string" && /^http:\/\//i.test(flux.manifests) &&
      !flux.allowInsecureHttp
    ) {
      // The install would run whatever a machine on the way put there.
      atInherited(
        "flux",
        "manifests",
        "plain http:// lets anyone on the way change what is installed; use https://, or set flux.allowInsecureHttp: true and pin the download with flux.manifestsSha256",
      );
    }
    const components = flux.components ?? DEFAULT_COMPONENTS;
    for (const required of ["source-controller", "kustomize-controller"]) {
      if (!components.includes(required)) {
        const where = c.flux?.components ? ["flux", "components"] : ["name"];
        at(where, `must include ${required} (Flux cannot sync without it)`, "flux.components");
      }
    }
    if (flux.componentsExtra?.includes(SOURCE_WATCHER)) {
      const problem = sourceWatcherProblem(flux.version ?? DEFAULT_FLUX_VERSION);
      if (problem) atInherited("flux", "componentsExtra", problem);
    }
    if (flux.sparseCheckout !== undefined) {
      for (const problem of sparseCheckoutProblems(flux.sparseCheckout, c.path, pathProblem)) {
        atInherited("flux", "sparseCheckout", problem);
      }
    }
    if (git.sshUser !== undefined && !/^[^\s@:/-][^\s@:/]*$/.test(git.sshUser)) {
      atInherited(
        "git",
        "sshUser",
        "must be a user name without '@', ':', '/' or spaces, not starting with '-' (it goes into the cluster's ssh:// URL)",
      );
    }
    // The same repository however its URL is spelled (lib/git/url.ts), as the commits are grouped.
    const url = repositoryUrl(raw, i) ?? git.url;
    const target = `${url === undefined ? "" : repositoryKey(url)}#${git.branch ?? "main"}#${
      normalisePath(c.path)
    }`;
    const other = targets.get(target);
    if (other !== undefined && !pathProblem) {
      at(
        ["path"],
        `same repository, branch and path as cluster "${other}": they would overwrite each other's files`,
      );
    } else targets.set(target, c.name);
    // Providers find a cluster's deploy key (or deploy token) by this label: two clusters of one
    // repository with the same label would delete each other's key on every run.
    if (url !== undefined && !pathProblem) {
      const label = accessKeyLabel(c.name, normalisePath(c.path), flux.namespace ?? "flux-system");
      const labelKey = `${repositoryKey(url)}#${label}`;
      const holder = keyLabels.get(labelKey);
      if (holder !== undefined && other === undefined) {
        at(
          ["name"],
          `its deploy key would be titled "${label}" in the repository, as cluster "${holder}"'s is: rename one of them or move its path`,
        );
      } else keyLabels.set(labelKey, c.name);
    }
  });
  return problems;
}

/** The repository URL the provider resolves to (its convention), when its settings are valid. */
function repositoryUrl(raw: RawManifest, i: number): string | undefined {
  const view = providerView(raw, i);
  if (view.module.validate(view.input).length > 0) return undefined;
  return view.module.resolve(view.input).url;
}

/** `path` and the sparse checkout folders: a folder inside the repository, written plainly. */
function checkRepoPath(path: string): string | undefined {
  // deno-lint-ignore no-control-regex
  if (/[\x00-\x1f\x7f]/.test(path)) return "must not contain control characters";
  if (path.includes("\\")) return "must use '/' between folders, not '\\'";
  if (isAbsolute(path) || path.startsWith("/") || /^[A-Za-z]:/.test(path)) {
    return "must be relative to the repository root";
  }
  const segments = normalisePath(path).split("/");
  if (segments.some((s) => s === "..")) return "must not leave the repository ('..')";
  // git refuses .git in a tree, in any case and with the trailing dots and spaces Windows drops.
  if (segments.some((s) => /^\.git[. ]*$/i.test(s))) {
    return "must not contain a .git folder (git keeps its own data there)";
  }
  if (normalisePath(path) === "") return "must name a folder inside the repository";
  return undefined;
}

/**
 * flux bootstrap --sparse-checkout: "the configured --path must be one of them" — the cluster's
 * path must be one of the folders or inside one, or Flux cannot read its own files.
 */
function sparseCheckoutProblems(
  folders: string[],
  path: string,
  pathProblem: string | undefined,
): string[] {
  const out: string[] = [];
  for (const folder of folders) {
    const problem = checkRepoPath(folder);
    if (problem) out.push(`"${folder}" ${problem}`);
  }
  if (out.length > 0 || pathProblem || folders.length === 0) return out;
  const own = normalisePath(path);
  const covered = folders.some((f) => {
    const folder = normalisePath(f);
    return own === folder || own.startsWith(`${folder}/`);
  });
  if (!covered) {
    out.push(
      `must include the cluster's path ${own} (or a folder above it): Flux reads its own files from there`,
    );
  }
  return out;
}

export function normalisePath(path: string): string {
  return path.split("/").filter((s) => s !== "" && s !== ".").join("/");
}
