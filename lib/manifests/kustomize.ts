/**
 * A user's own `kustomization.yaml` (patches on the Flux components) is honoured when Flux is
 * installed, as flux bootstrap does: the folder is built with `kubectl kustomize`.
 */
import { parseObjects } from "./render.ts";
import type { KubeObject } from "./types.ts";

export async function kustomizeBuild(dir: string): Promise<KubeObject[]> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command("kubectl", { args: ["kustomize", dir], stdin: "null" }).output();
  } catch (e) {
    throw new Error(
      `the repository has its own kustomization.yaml, which needs kubectl to build (${
        (e as Error).name
      }); install kubectl or remove the patches`,
    );
  }
  if (!out.success) {
    const why = new TextDecoder().decode(out.stderr).trim().split("\n")[0];
    throw new Error(`kubectl kustomize ${dir} failed: ${why}`);
  }
  return parseObjects(new TextDecoder().decode(out.stdout));
}
