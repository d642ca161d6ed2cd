/**
 * Against a real cluster, only when FLUXFLEET_E2E_KUBECONFIG is set. The cluster's Flux must be
 * able to reach the repository, so a real git URL and token are needed too:
 *   FLUXFLEET_E2E_KUBECONFIG  kubeconfig file (its current context is used, or FLUXFLEET_E2E_CONTEXT)
 *   FLUXFLEET_E2E_GIT_URL     https:// URL of a repository the token can push to
 *   FLUXFLEET_E2E_GIT_TOKEN   the token (username from FLUXFLEET_E2E_GIT_USERNAME, default git)
 *   FLUXFLEET_E2E_MANIFESTS   path or URL of the Flux release install.yaml
 *                             (default: the reduced fixture, whose images do not run for real)
 */
import assert from "node:assert/strict";

const kubeconfig = Deno.env.get("FLUXFLEET_E2E_KUBECONFIG");
const ROOT = new URL("../../", import.meta.url).pathname;

Deno.test({
  name: "real cluster: plan → apply → plan shows no changes",
  ignore: kubeconfig === undefined,
  async fn() {
    const url = Deno.env.get("FLUXFLEET_E2E_GIT_URL");
    const token = Deno.env.get("FLUXFLEET_E2E_GIT_TOKEN");
    assert.ok(url && token, "set FLUXFLEET_E2E_GIT_URL and FLUXFLEET_E2E_GIT_TOKEN too");
    const dir = await Deno.makeTempDir({ prefix: "fluxfleet-real-" });
    try {
      const context = Deno.env.get("FLUXFLEET_E2E_CONTEXT");
      const manifests = Deno.env.get("FLUXFLEET_E2E_MANIFESTS") ??
        `${ROOT}fixtures/flux-install.yaml`;
      const manifest = `${dir}/flux-bootstrap.yaml`;
      await Deno.writeTextFile(
        manifest,
        `defaults:
  flux: { version: v2.4.0, manifests: ${manifests}, timeout: 5m }
clusters:
  - name: e2e
    kube: { kubeconfig: ${kubeconfig}${context ? `, context: ${context}` : ""} }
    path: clusters/fluxfleet-e2e
    git:
      url: ${url}
      auth: { type: token, username: ${
          Deno.env.get("FLUXFLEET_E2E_GIT_USERNAME") ?? "git"
        }, token: { env: GIT_PASSWORD } }
`,
      );
      const run = async (args: string[]) => {
        const out = await new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", `${ROOT}main.ts`, ...args, manifest],
          env: { GIT_PASSWORD: token },
          stdin: "null",
        }).output();
        const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
        assert.ok(!text.includes(token), "token leaked");
        return { code: out.code, text };
      };
      const apply = await run(["apply", "--auto-approve"]);
      assert.equal(apply.code, 0, apply.text);
      const plan = await run(["plan", "--detailed-exitcode"]);
      assert.equal(plan.code, 0, plan.text);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
