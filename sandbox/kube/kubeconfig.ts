/**
 * Kubeconfigs pointing at sandboxes: certificate-authority-data + token, real TLS
 * verification (no insecure-skip), one context per sandbox.
 */

import YAML from "yaml";
import type { KubeSandbox } from "./server.ts";

export interface KubeconfigEntry {
  context: string;
  sandbox: KubeSandbox;
}

export function kubeconfigYaml(entries: KubeconfigEntry[], currentContext?: string): string {
  const pieces = entries.map((e) => e.sandbox.kubeconfigCluster(e.context));
  const config = {
    apiVersion: "v1",
    kind: "Config",
    preferences: {},
    clusters: pieces.map((p) => p.cluster),
    users: pieces.map((p) => p.user),
    contexts: pieces.map((p) => p.context),
    "current-context": currentContext ?? entries[0]?.context ?? "",
  };
  return YAML.stringify(config);
}

export async function writeKubeconfig(
  path: string,
  entries: KubeconfigEntry[],
  currentContext?: string,
): Promise<void> {
  // The file holds bearer tokens: keep it private to the user.
  await Deno.writeTextFile(path, kubeconfigYaml(entries, currentContext), { mode: 0o600 });
}
