/**
 * A user's own `kustomization.yaml` (patches on the Flux components) is honoured when Flux is
 * installed, as flux bootstrap does: the folder is built with `kubectl kustomize`, confined to the
 * clone as flux confines its build (see kustomize_confine.ts).
 */
import { join } from "node:path";
import { parseObjects } from "./render.ts";
import type { KubeObject } from "./types.ts";
import { assertKustomizationConfined } from "./kustomize_confine.ts";

/** Builds `folder` (relative to the clone `root`) with `kubectl kustomize`. */
export async function kustomizeBuild(root: string, folder: string): Promise<KubeObject[]> {
  await assertKustomizationConfined(root, folder);
  const dir = join(root, folder);
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command("kubectl", {
      // kubectl's default, said explicitly: files stay inside each kustomization's folder.
      args: ["kustomize", "--load-restrictor=LoadRestrictionsRootOnly", dir],
      stdin: "null",
    }).output();
  } catch (e) {
    throw new Error(
      `the repository has its own kustomization.yaml, which needs kubectl to build (${
        (e as Error).name
      }); install kubectl or remove the patches`,
    );
  }
  if (!out.success) {
    const why = new TextDecoder().decode(out.stderr).trim().split("\n")[0];
    throw new Error(`kubectl kustomize ${folder} failed: ${why}`);
  }
  return parseObjects(new TextDecoder().decode(out.stdout));
}
