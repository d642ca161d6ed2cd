/**
 * The baseline: the same no-op check done the way a for-loop shell script around git and
 * kubectl does it — per cluster, one after another, a shallow `git clone`, read the three
 * flux-system files, three `kubectl get`.
 */
import { run, stop } from "./proc.ts";
import { loadAverage } from "./proc.ts";
import { clusterName, type Fleet, repoName, type World } from "./world.ts";

export interface BaselineRun {
  ms: number;
  cloneMs: number;
  kubectlMs: number;
  kubectlCalls: number;
  failures: number;
  gitRequests: number;
  load: number;
}

function basicAuth(user: string, password: string): string {
  return btoa(String.fromCharCode(...new TextEncoder().encode(`${user}:${password}`)));
}

export async function baseline(world: World, f: Fleet, cacheDir: string): Promise<BaselineRun> {
  const header = `http.extraHeader=Authorization: Basic ${basicAuth("git", world.env.token)}`;
  // Like a script run by a user: no system config, no prompts, but otherwise plain git.
  const gitEnv = { GIT_TERMINAL_PROMPT: "0", GIT_CONFIG_NOSYSTEM: "1", LANG: "C" };
  const res: BaselineRun = {
    ms: 0,
    cloneMs: 0,
    kubectlMs: 0,
    kubectlCalls: 0,
    failures: 0,
    gitRequests: 0,
    load: await loadAverage(),
  };
  const gitBefore = world.git.requests.length;
  const started = performance.now();
  await Deno.mkdir(`${world.env.work}/baseline`, { recursive: true });
  for (const i of f.members) {
    if (stop.signal.aborted) throw new Error("interrupted");
    const dir = `${world.env.work}/baseline/${clusterName(i)}`;
    const url = world.git.repoUrl(repoName(f.repoOf(i)));
    const clone = await run("git", [
      "-c",
      header,
      "clone",
      "--quiet",
      "--depth",
      "1",
      "--branch",
      "main",
      "--single-branch",
      url,
      dir,
    ], { env: gitEnv, timeoutMs: 60_000 });
    res.cloneMs += clone.ms;
    if (clone.code !== 0) res.failures++;
    // The script then compares what it needs: the three files of this cluster.
    for (const file of ["gotk-components.yaml", "gotk-sync.yaml", "kustomization.yaml"]) {
      await Deno.readTextFile(`${dir}/clusters/${clusterName(i)}/flux-system/${file}`).catch(() => {
        res.failures++;
        return "";
      });
    }
    for (
      const what of ["secret/flux-system", "gitrepository/flux-system", "kustomization/flux-system"]
    ) {
      const k = await run("kubectl", [
        "--kubeconfig",
        f.kubeconfig,
        "--context",
        clusterName(i),
        "--cache-dir",
        cacheDir,
        "-n",
        "flux-system",
        "get",
        what,
        "-o",
        "json",
      ], { timeoutMs: 60_000 });
      res.kubectlMs += k.ms;
      res.kubectlCalls++;
      if (k.code !== 0) res.failures++;
    }
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  res.ms = performance.now() - started;
  res.gitRequests = world.git.requests.length - gitBefore;
  return res;
}
