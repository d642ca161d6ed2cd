/**
 * What is checked before anything is contacted (plan, apply, destroy and `validate --full`):
 * secrets, kubeconfig contexts, and no two clusters on one Flux installation.
 */
import { dirname } from "node:path";
import type { ClusterConfig, Manifest } from "../config/types.ts";
import { ConfigError, describeField } from "../config/errors.ts";
import {
  assertExecPluginsAllowed,
  registerKubeSecrets,
  resolveKubeContext,
} from "../kube/kubeconfig.ts";
import { type Credentials, resolveCredentials } from "./credentials.ts";
import { sharedInstallationProblems } from "./targets.ts";
import type { RunOptions } from "./options.ts";

/**
 * What is checked before anything is contacted (also `validate --full`): every secret reference
 * resolved (a missing variable, unreadable file or wrong passphrase stops the run here), every
 * cluster's kubeconfig context found in its local kubeconfig files (and its credential plugin
 * allowed), and no two clusters on one API server and Flux namespace.
 */
export async function resolveLocal(
  manifest: Manifest,
  clusters: ClusterConfig[],
  secrets: RunOptions["secrets"],
): Promise<Map<string, Credentials>> {
  const baseDir = dirname(manifest.file);
  // Errors name the setting where the manifest writes it: file:line:col, cluster, field.
  const fieldOf = (c: ClusterConfig) => (field: string) =>
    describeField({ location: manifest.locate?.(c.name, field), cluster: c.name, field });
  const creds = new Map<string, Credentials>();
  for (const c of clusters) {
    creds.set(c.name, await resolveCredentials(c, baseDir, secrets, fieldOf(c)));
    // The kubeconfig and its context are local files: check them before any contact too.
    try {
      resolveKubeContext(c.kube);
      assertExecPluginsAllowed(c.kube);
      registerKubeSecrets(c.kube);
    } catch (e) {
      const where = describeField({ location: manifest.locate?.(c.name, "kube"), cluster: c.name });
      throw new Error(`${where}: ${(e as Error).message}`);
    }
  }
  // Two clusters on one API server and Flux namespace would fight over one installation.
  const shared = sharedInstallationProblems(manifest);
  if (shared.length > 0) throw new ConfigError(shared);
  return creds;
}
