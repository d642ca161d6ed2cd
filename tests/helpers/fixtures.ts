/** Shared test data: a desired cluster built from the fixture install manifest. */
import { parseManifest } from "../../lib/config/load.ts";
import type { ClusterConfig } from "../../lib/config/types.ts";
import {
  componentsFor,
  desiredCluster,
  installOptions,
  tokenSecretData,
} from "../../lib/plan/desired.ts";
import type { DesiredCluster, ObservedCluster, ObservedRepo } from "../../lib/plan/types.ts";

export const ROOT = new URL("../../", import.meta.url).pathname;
export const INSTALL_YAML = Deno.readTextFileSync(`${ROOT}fixtures/flux-install.yaml`);

export function clusterConfig(overrides: string = ""): ClusterConfig {
  const text = `
defaults:
  flux: { version: v2.4.0, manifests: ./fixtures/flux-install.yaml }
clusters:
  - name: dev
    path: clusters/dev
    git:
      url: https://git.example.com/org/fleet.git
      auth: { type: token, token: { env: GIT_PASSWORD } }
${overrides}`;
  return parseManifest(text, `${ROOT}flux-bootstrap.yaml`).clusters[0];
}

export function desiredFor(c: ClusterConfig, token = "s3cr3t-token"): DesiredCluster {
  return desiredCluster(
    c,
    componentsFor(INSTALL_YAML, installOptions(c)),
    tokenSecretData("git", token),
  );
}

export function desired(token = "s3cr3t-token"): DesiredCluster {
  return desiredFor(clusterConfig(), token);
}

export const EMPTY_REPO: ObservedRepo = { branchExists: false, head: null, files: {} };
export const EMPTY_CLUSTER: ObservedCluster = { namespace: false };

/** What a cluster and repository look like right after a successful apply of `d`. */
export function converged(d: DesiredCluster): { repo: ObservedRepo; cluster: ObservedCluster } {
  const files: Record<string, string> = {};
  for (const f of d.files) files[f.path] = f.content;
  const ready = { type: "Ready", status: "True", reason: "Succeeded", message: "ok" };
  return {
    repo: { branchExists: true, head: "abc", files },
    cluster: {
      namespace: true,
      secret: { ...d.secret.data },
      gitRepository: {
        spec: structuredClone(d.gitRepository.spec as Record<string, unknown>),
        generation: 1,
        observedGeneration: 1,
        ready,
        revision: "main@sha1:abc",
        suspended: false,
      },
      kustomization: {
        spec: { ...(d.kustomization.spec as Record<string, unknown>), force: false },
        generation: 1,
        observedGeneration: 1,
        ready,
        revision: "main@sha1:abc",
        suspended: false,
      },
    },
  };
}
