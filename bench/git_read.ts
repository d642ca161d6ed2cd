/**
 * What a plan's git side costs in CPU: the shallow fetch of R repositories of 10 clusters each
 * (the same gotk-components.yaml, fixtures/flux-install.yaml, in every cluster folder) and the
 * reads of every cluster's three files, as a no-op plan does them, on disk (a run that may
 * apply) or in memory (a run that only plans, lib/git/memory_fs.ts). The git server (git
 * http-backend behind Deno.serve) runs in this process: its share of the CPU is the same in
 * both modes.
 *
 *   deno run -A bench/git_read.ts [--repos 10] [--rounds 6] [--mode disk|memory]
 *
 * Prints wall and CPU time (user + system of this process) per round; the first round warms up.
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { startGitServer } from "../sandbox/git/http_server.ts";
import { checkoutRepo, httpsRemote, makeGitHttp } from "../lib/git/transports/isomorphic/mod.ts";
import { forgetReadCache, readRepoFiles } from "../lib/git/checkout.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { repos: { type: "string" }, rounds: { type: "string" }, mode: { type: "string" } },
});
const repos = Number(values.repos ?? 10);
const rounds = Number(values.rounds ?? 6);
const mode = values.mode ?? "disk";
if (mode !== "disk" && mode !== "memory") throw new Error("--mode disk|memory");

const git = await startGitServer({ users: { git: "bench" } });
const work = await Deno.makeTempDir({ prefix: "fluxfleet-git-read-" });
try {
  const components = await Deno.readTextFile(
    new URL("../fixtures/flux-install.yaml", import.meta.url),
  );
  const folder = (r: number, c: number) => `clusters/c${r}-${c}/flux-system`;
  for (let r = 0; r < repos; r++) {
    const files: Record<string, string> = {};
    for (let c = 0; c < 10; c++) {
      files[`${folder(r, c)}/gotk-components.yaml`] = components;
      files[`${folder(r, c)}/gotk-sync.yaml`] = `# cluster ${r}-${c}\n`.repeat(30);
      files[`${folder(r, c)}/kustomization.yaml`] = "resources:\n- gotk-components.yaml\n";
    }
    await git.createRepo(`fleet-${r}`, { files });
  }
  const cpuMs = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  for (let round = 0; round < rounds; round++) {
    const cpu = cpuMs();
    const started = performance.now();
    await Promise.all(Array.from({ length: repos }, async (_, r) => {
      const http = makeGitHttp({ allowInsecureHttp: true, timeoutMs: 20_000 });
      try {
        const remote = httpsRemote(
          { url: git.repoUrl(`fleet-${r}`), username: "git", password: "bench" },
          http,
        );
        const dir = `${work}/${round}-${r}`;
        const co = await checkoutRepo(remote, "main", dir, undefined, mode === "memory");
        await Promise.all(Array.from({ length: 10 }, (_, c) =>
          readRepoFiles(co, [
            `${folder(r, c)}/gotk-components.yaml`,
            `${folder(r, c)}/gotk-sync.yaml`,
            `${folder(r, c)}/kustomization.yaml`,
          ])));
        forgetReadCache(co);
      } finally {
        http.close();
      }
    }));
    const wall = performance.now() - started;
    console.log(
      `${mode} round ${round}: wall ${wall.toFixed(0)} ms, CPU ${(cpuMs() - cpu).toFixed(0)} ms`,
    );
  }
} finally {
  await Deno.remove(work, { recursive: true });
  await git.close();
}
