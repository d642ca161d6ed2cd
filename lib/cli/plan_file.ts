/** Plan files (`plan --out`, `apply --plan-file`): read back, and the manifest's digest they pin. */
import { PLAN_FORMAT_VERSION } from "../report/json.ts";
import type { SavedPlan } from "../plan/stale.ts";

export async function fileDigest(path: string): Promise<string> {
  const bytes = await Deno.readFile(path);
  const hash = await crypto.subtle.digest("SHA-256", bytes);
  return "sha256:" +
    Array.from(new Uint8Array(hash), (b) => b.toString(16).padStart(2, "0")).join("");
}

export async function readPlanFile(path: string): Promise<SavedPlan> {
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
