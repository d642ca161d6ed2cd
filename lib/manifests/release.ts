/**
 * gotk-components.yaml built the way flux builds it from a release manifests archive
 * (flux2 pkg/manifestgen/install: manifests.go `generate` + `build`, install.go `Generate`):
 * the release files and flux's overlay (overlay.ts) go into a private temporary folder, which is
 * built with `kubectl kustomize` — the same krusty library flux links — and the header is put in
 * front of the build output unchanged. The bytes are then what `flux bootstrap` commits.
 *
 * Flux runs krusty with `krusty.Options{LoadRestrictions: None, PluginConfig: Disabled}`: no
 * managed-by label and no reordering (its Reorder option is left empty, so resources come out in
 * the order the kustomization lists them — Namespace, policies, RBAC, then each controller).
 * `kubectl kustomize` sorts in kustomize's legacy order unless told `--reorder none`, so that is
 * passed; KUSTOMIZE_* variables are not passed on.
 */
import { type Components, componentsHeader } from "./components.ts";
import type { InstallOptions } from "./options.ts";
import { fluxOverlay } from "./overlay.ts";
import { parseObjects } from "./render.ts";
import { buildCacheDir, buildKey, kubectlIdentity, loadBuild, saveBuild } from "./build_cache.ts";
import { debug } from "../util/debug.ts";

/** The flat files of a release's manifests.tar.gz (`<component>.yaml`, rbac.yaml, policies.yaml). */
export interface ReleaseFiles {
  /** Where they came from, for messages. */
  source: string;
  /** File name → bytes. */
  files: Map<string, Uint8Array>;
}

export const KUBECTL_MISSING =
  "flux.manifests is a release manifests archive, which is built with kubectl kustomize as flux does; " +
  "install kubectl or point flux.manifests at an install.yaml";

/** The release files the build reads, in the order flux's kustomization lists them. */
export function releaseFilesFor(release: ReleaseFiles, opts: InstallOptions): string[] {
  const needed = [
    ...(opts.networkPolicy ? ["policies.yaml"] : []),
    "rbac.yaml",
    ...opts.components.map((c) => `${c}.yaml`),
  ];
  const have = [...release.files.keys()].filter((f) => f.endsWith(".yaml")).sort();
  for (const c of opts.components) {
    if (!release.files.has(`${c}.yaml`)) {
      throw new Error(
        `flux.manifests: ${release.source} has no ${c}.yaml, so component "${c}" cannot be installed ` +
          `from it (it holds: ${have.join(", ") || "no .yaml files"})`,
      );
    }
  }
  for (const f of needed) {
    if (!release.files.has(f)) {
      throw new Error(
        `flux.manifests: ${release.source} has no ${f}; a Flux release manifests archive holds ` +
          `<component>.yaml, rbac.yaml and policies.yaml (it holds: ${
            have.join(", ") || "no .yaml files"
          })`,
      );
    }
  }
  return needed;
}

function kubectlEnv(): Record<string, string> {
  const env = Deno.env.toObject();
  for (const k of Object.keys(env)) if (k.startsWith("KUSTOMIZE_")) delete env[k];
  return env;
}

/** `kubectl kustomize --reorder none DIR`: stdout verbatim. */
export async function kustomizeLikeFlux(dir: string): Promise<string> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command("kubectl", {
      args: ["kustomize", "--reorder", "none", dir],
      clearEnv: true,
      env: kubectlEnv(),
      stdin: "null",
    }).output();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new Error(KUBECTL_MISSING);
    throw new Error(`${KUBECTL_MISSING} (${(e as Error).message})`);
  }
  if (!out.success) {
    const why = new TextDecoder().decode(out.stderr).trim().split("\n")
      .filter((l) => !l.startsWith("Flag --reorder has been deprecated")).join(" ");
    throw new Error(`building the Flux components with kubectl kustomize failed: ${why}`);
  }
  return new TextDecoder().decode(out.stdout);
}

/**
 * gotk-components.yaml from release files: header + `kubectl kustomize` output of the release
 * files with flux's overlay, plus the objects it holds. The folder is private (0700) and removed
 * whatever happens. Runs kubectl at most once (callers cache per (source, options)), and not at
 * all when `cacheDir` (default: build_cache.ts's folder; null: none) holds the build of the same
 * files with the same kubectl.
 */
export async function buildReleaseComponents(
  release: ReleaseFiles,
  opts: InstallOptions,
  cacheDir: string | null = buildCacheDir() ?? null,
): Promise<Components> {
  const needed = releaseFilesFor(release, opts);
  const rbac = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })
    .decode(release.files.get("rbac.yaml"));
  const inputs: [string, string | Uint8Array][] = [
    ...needed.map((f): [string, Uint8Array] => [f, release.files.get(f)!]),
    ...Object.entries(fluxOverlay(opts, rbac)),
  ];
  // No kubectl on PATH: no entry to look for (the build says kubectl is missing).
  const kubectl = cacheDir ? await kubectlIdentity() : undefined;
  const key = cacheDir && kubectl ? buildKey(kubectl, inputs) : undefined;
  let build = key ? await loadBuild(cacheDir!, key) : undefined;
  if (build) {
    debug(`${release.source}: the kubectl kustomize build from the build cache`);
  } else {
    if (key) debug(`${release.source}: built with kubectl (no usable entry in the build cache)`);
    const built = await kustomizeInPrivateDir(inputs);
    build = { built, objects: parseObjects(built) };
    if (key) await saveBuild(cacheDir!, key, build);
  }
  return { objects: build.objects, content: componentsHeader(opts) + "\n" + build.built };
}

/** `kubectl kustomize` of these files, written to a private folder removed afterwards. */
async function kustomizeInPrivateDir(files: [string, string | Uint8Array][]): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "fluxfleet-kustomize-" });
  try {
    await Deno.chmod(dir, 0o700);
    await Deno.mkdir(`${dir}/roles`, { mode: 0o700 });
    for (const [path, data] of files) {
      if (typeof data === "string") {
        await Deno.writeTextFile(`${dir}/${path}`, data, { mode: 0o600 });
      } else await Deno.writeFile(`${dir}/${path}`, data, { mode: 0o600 });
    }
    return await kustomizeLikeFlux(dir);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
