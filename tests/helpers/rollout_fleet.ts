/**
 * A fleet for rollout tests: kube sandboxes whose Flux stand-in really applies what is in git
 * (`flux: { mode: "apply" }`), one git repository, a manifest with `rollout:`, and the release
 * to upgrade to (the fixture's install.yaml with every version and image tag moved on, as the
 * stand-in's own tests make it).
 */
import assert from "node:assert/strict";
import {
  contextNames,
  type FleetEnv,
  INSTALL_MANIFEST,
  manifestYaml,
  tokenGit,
  withFleetEnv,
} from "./harness.ts";
import type { KubeSandbox } from "../../sandbox/kube/server.ts";

export const ROLLOUT_TOKEN = "canary-token-rollout-7d3a";

/** Flux v2.5.1-like: every version label and image tag of the fixture moved on. */
export function upgradedInstall(yaml: string): string {
  return yaml.replaceAll("v2.4.0", "v2.5.1").replace(
    /(image: ghcr\.io\/fluxcd\/[a-z-]+:v)(\d+)\.(\d+)\.(\d+)/g,
    (_m, head, major, minor) => `${head}${major}.${Number(minor) + 1}.0`,
  );
}

export interface RolloutFleet {
  env: FleetEnv;
  /** Writes the manifest: every cluster labelled, at this release, with this `rollout:` block. */
  writeManifest(release: string, rollout: string, manifests?: string): Promise<void>;
  apply(...args: string[]): ReturnType<FleetEnv["cli"]>;
  /** The images a sandbox's source-controller Deployment runs. */
  image(kube: KubeSandbox): string;
  /** A file of the fleet repository at the branch's head. */
  repoFile(path: string): Promise<string>;
}

export function withRolloutFleet(
  n: number,
  labels: (i: number) => Record<string, string>,
  fn: (f: RolloutFleet) => Promise<void>,
  kube: { kubernetesVersion?: string } = {},
): Promise<void> {
  return withFleetEnv({
    prefix: "fluxfleet-rollout-",
    git: { users: { git: ROLLOUT_TOKEN } },
    repos: ["fleet"],
    contexts: contextNames(n),
    kube: { reconcileDelayMs: 20, flux: { mode: "apply" }, ...kube },
    cliEnv: { GIT_PASSWORD: ROLLOUT_TOKEN },
  }, async (env) => {
    const upgraded = `${env.dir}/install-v2.5.1.yaml`;
    await Deno.writeTextFile(upgraded, upgradedInstall(await Deno.readTextFile(INSTALL_MANIFEST)));
    const fleet: RolloutFleet = {
      env,
      async writeManifest(release, rollout, manifests) {
        const base = manifestYaml({
          git: tokenGit(env.git.repoUrl("fleet")),
          timeout: "40s",
          clusters: env.kubes.map((_, i) => ({
            name: `c${i}`,
            lines: [`labels: ${JSON.stringify(labels(i))}`],
          })),
        });
        const from = `version: v2.4.0, manifests: ${INSTALL_MANIFEST}`;
        assert.ok(base.includes(from));
        const install = manifests ?? (release === "v2.4.0" ? INSTALL_MANIFEST : upgraded);
        const text = base.replace(from, `version: ${release}, manifests: ${install}`);
        await Deno.writeTextFile(env.manifest, `${text}${rollout}`);
      },
      apply: (...args) => env.cli(["apply", env.manifest, "--auto-approve", ...args]),
      image(kube) {
        const d = kube.getObject("apps/v1", "Deployment", "flux-system", "source-controller") as
          | { spec: { template: { spec: { containers: { image: string }[] } } } }
          | undefined;
        return d?.spec.template.spec.containers[0].image ?? "(none)";
      },
      async repoFile(path) {
        const out = await new Deno.Command("git", {
          args: ["--git-dir", `${env.git.root}/fleet.git`, "show", `main:${path}`],
        }).output();
        assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
        return new TextDecoder().decode(out.stdout);
      },
    };
    await fn(fleet);
  });
}
