/**
 * The demo: a real local git server and two local Kubernetes API servers, a manifest for two
 * clusters, then `plan` → `apply` → `plan` through the real CLI, ending with "no changes".
 * `--provider github` (or `gitea`) uses that API sandbox instead of plain git: the repository is
 * created, each cluster gets its own read-only deploy key, and the cluster reads over SSH.
 * Everything runs on 127.0.0.1 and stops at the end.
 */
import "../lib/util/no_deprecation.ts";
import { startGitServer } from "./git/http_server.ts";
import { startKubeSandbox } from "./kube/server.ts";
import { writeKubeconfig } from "./kube/kubeconfig.ts";
import { type DemoForge, type DemoForgeKind, startDemoForge } from "./demo_forge.ts";

const providerArg = Deno.args.find((a) => a.startsWith("--provider"));
const providerKind = providerArg === "--provider"
  ? Deno.args[Deno.args.indexOf(providerArg) + 1]
  : providerArg?.split("=")[1];
if (providerKind !== undefined && providerKind !== "github" && providerKind !== "gitea") {
  console.error(`demo: --provider takes github or gitea (got ${providerKind})`);
  Deno.exit(2);
}

const root = new URL("../", import.meta.url).pathname;
const token = `demo-${crypto.randomUUID()}`;
const work = await Deno.makeTempDir({ prefix: "fluxfleet-demo-" });
const git = await startGitServer({ users: { git: token } });
const dev = await startKubeSandbox();
const prod = await startKubeSandbox();
const forge: DemoForge | undefined = providerKind
  ? await startDemoForge(providerKind as DemoForgeKind)
  : undefined;

// Bold banners only on a terminal: piped or saved output stays plain text.
const bold = Deno.stdout.isTerminal() && !Deno.env.get("NO_COLOR");

function banner(text: string) {
  console.log(bold ? `\n\x1b[1m==> ${text}\x1b[0m` : `\n==> ${text}`);
}

async function cli(args: string[]): Promise<{ code: number; ms: number }> {
  banner(`fluxfleet ${args.join(" ")}`);
  const started = performance.now();
  const before = forge?.calls();
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${root}main.ts`, ...args],
    // The commit and build caches in the demo's own folder: its servers are gone once it ends.
    env: {
      GIT_PASSWORD: token,
      FLUXFLEET_COMMIT_CACHE: `${work}/commit-cache`,
      FLUXFLEET_BUILD_CACHE: `${work}/build-cache`,
      ...forge?.env,
    },
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  const ms = performance.now() - started;
  console.log(`(exit code ${out.code}, ${(ms / 1000).toFixed(2)} s)`);
  if (forge && before) {
    const after = forge.calls();
    console.log(
      `(${providerKind} API: ${after.all - before.all} requests, ${
        after.changed - before.changed
      } of them changing something)`,
    );
  }
  return { code: out.code, ms };
}

let failed = false;
try {
  await git.createRepo("fleet");
  const kubeconfig = `${work}/kubeconfig`;
  await writeKubeconfig(kubeconfig, [{ context: "dev", sandbox: dev }, {
    context: "prod",
    sandbox: prod,
  }]);
  const manifest = `${work}/flux-bootstrap.yaml`;
  const gitLines = forge?.gitLines ?? [
    "auth: { type: token, username: git, token: { env: GIT_PASSWORD } }",
    "allowInsecureHttp: true   # the demo's git server is plain http on 127.0.0.1",
  ];
  const clusterGit = forge ? "" : `\n    git: { url: ${git.repoUrl("fleet")} }`;
  await Deno.writeTextFile(
    manifest,
    `# yaml-language-server: $schema=${root}schemas/flux-bootstrap.schema.json
defaults:
  flux: { version: v2.4.0, manifests: ${root}fixtures/flux-install.yaml, interval: 1m, timeout: 1m }
  git:
    branch: main
    author: { name: fluxfleet, email: fluxfleet@example.com }
${gitLines.map((l) => `    ${l}`).join("\n")}
  kube: { kubeconfig: ./kubeconfig }
clusters:
  - name: dev
    kube: { context: dev }
    path: clusters/dev${clusterGit}
  - name: prod
    kube: { context: prod }
    path: clusters/prod${clusterGit}
`,
  );
  banner(`manifest ${manifest}`);
  console.log(await Deno.readTextFile(manifest));

  const plan1 = await cli(["plan", manifest]);
  const apply = await cli(["apply", "--auto-approve", manifest]);
  const plan2 = await cli(["plan", "--detailed-exitcode", manifest]);

  banner("repository history");
  if (forge) { for (const line of await forge.log()) console.log(line); }
  else {
    for (const c of await git.log("fleet", "main")) {
      console.log(`${c.sha.slice(0, 12)} ${c.author}  ${c.message.split("\n")[0]}`);
    }
  }
  banner("summary");
  console.log(`first plan: ${(plan1.ms / 1000).toFixed(2)} s (exit ${plan1.code})`);
  console.log(`apply:      ${(apply.ms / 1000).toFixed(2)} s (exit ${apply.code})`);
  console.log(
    `re-plan:    ${(plan2.ms / 1000).toFixed(2)} s (exit ${plan2.code}: 0 means no changes)`,
  );
  failed = plan1.code !== 0 || apply.code !== 0 || plan2.code !== 0;
  console.log(failed ? "DEMO FAILED" : "demo ok: the second plan shows no changes");
} finally {
  await Promise.all([dev.close(), prod.close()]);
  await Promise.all([git.close(), forge?.close()]);
  await Deno.remove(work, { recursive: true });
}
Deno.exit(failed ? 1 : 0);
