/**
 * examples/: each checked against its engine's published schema, then its command lines run here
 * as the engine would run them — with the variables it sets (a matrix value, CI_NODE_INDEX and
 * CI_NODE_TOTAL, JOB_COMPLETION_INDEX), fluxfleet installed by the example's own lines (the
 * README's command, from a clone of this checkout) — against the local git and Kubernetes
 * sandboxes.
 *
 * Checked dependencies (test only, run under Deno from npm): @action-validator/core 0.6.0
 * (SchemaStore's GitHub workflow schema compiled to WebAssembly, maintained, 2025), gitlab-ci-local
 * 4.75.1 (bundles GitLab's own ci.json schema and validates with it, expands `parallel`; maintained,
 * run as a command), kubernetes-models 5.1.0 (JSON schemas of the Kubernetes API objects; already
 * in the tree under @kubernetes-models/flux-cd).
 */
import assert from "node:assert/strict";
import { parse, parseAllDocuments } from "yaml";
import { validateWorkflow } from "@action-validator/core";
import { Job } from "kubernetes-models/batch/v1/Job";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import {
  type CommandResult,
  contextNames,
  type FleetEnv,
  manifestYaml,
  ROOT,
  runCli,
  runCommand,
  withFleetEnv,
} from "../helpers/harness.ts";

const EXAMPLES = `${ROOT}examples`;
const TOKEN = "canary-examples-token-0d4f";
const CLUSTERS = 8;
const REPOS = 4;

interface Step {
  id?: string;
  uses?: string;
  run?: string;
  env?: Record<string, string>;
}
interface GithubJob {
  strategy?: { matrix: { shard: number[] } };
  steps: Step[];
}
interface Workflow {
  env: Record<string, string>;
  jobs: Record<string, GithubJob>;
}
interface GitlabJob {
  parallel?: number;
  script: string[];
}
interface Pipeline {
  variables: Record<string, string>;
  default: { before_script: string[] };
  [job: string]: unknown;
}
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef: { name: string; key: string } };
}
interface JobObject {
  spec: {
    completions: number;
    template: {
      spec: { containers: { command: string[]; args: string[]; env: EnvVar[] }[] };
    };
  };
}

const read = (path: string) => Deno.readTextFileSync(`${EXAMPLES}/${path}`);

Deno.test("examples: the GitHub workflow is valid under SchemaStore's workflow schema", () => {
  const text = read("github-actions/fluxfleet.yaml");
  assert.deepEqual(validateWorkflow(text).errors, []);
  // The validator does find what GitHub would refuse.
  const broken = validateWorkflow(text.replace("runs-on: ubuntu-latest", "runs_on: ubuntu-latest"));
  assert.notDeepEqual(broken.errors, []);
  const workflow = parse(text) as Workflow;
  assert.deepEqual(Object.keys(workflow.jobs), ["plan", "comment", "apply"]);
  assert.deepEqual(workflow.jobs.plan.strategy?.matrix.shard, [1, 2, 3, 4]);
});

async function gitlabCiLocal(dir: string, args: string[]): Promise<CommandResult> {
  return await runCommand(Deno.execPath(), ["run", "-A", "npm:gitlab-ci-local@4.75.1", ...args], {
    cwd: dir,
    env: { NO_COLOR: "1" },
  });
}

Deno.test("examples: the GitLab pipeline is valid under GitLab's CI schema, parallel jobs expanded", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fluxfleet-gitlab-" });
  try {
    const git = (...args: string[]) =>
      runCommand("git", ["-c", "user.name=t", "-c", "user.email=t@example.com", ...args], {
        cwd: dir,
      });
    await git("init", "-q", "-b", "main");
    const text = read("gitlab-ci/.gitlab-ci.yml");
    await Deno.writeTextFile(`${dir}/.gitlab-ci.yml`, text);
    await git("add", "-A");
    await git("commit", "-qm", "pipeline");
    const listed = await gitlabCiLocal(dir, ["--list-json"]);
    assert.equal(listed.code, 0, listed.stdout + listed.stderr);
    const names = (JSON.parse(listed.stdout) as { name: string }[]).map((j) => j.name);
    assert.deepEqual(names, [
      ...[1, 2, 3, 4].map((i) => `plan: [${i}/4]`),
      "plan-report",
      ...[1, 2, 3, 4].map((i) => `apply: [${i}/4]`),
    ]);
    // The schema check does refuse what GitLab would.
    await Deno.writeTextFile(
      `${dir}/.gitlab-ci.yml`,
      text.replace("parallel: 4", 'parallel: "4x"'),
    );
    const broken = await gitlabCiLocal(dir, ["--list-json"]);
    assert.notEqual(broken.code, 0);
    assert.match(broken.stdout + broken.stderr, /'parallel' property type must be integer/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("examples: the Indexed Job and its ConfigMap are valid Kubernetes objects; the manifest validates", async () => {
  const [configMap, job] = parseAllDocuments(read("kubernetes/fluxfleet-job.yaml")).map((d) =>
    d.toJS()
  );
  new ConfigMap(configMap).validate();
  new Job(job).validate();
  assert.throws(() =>
    new Job({ ...job, spec: { ...job.spec, completionMode: "Sideways" } }).validate()
  );
  assert.equal(job.spec.completionMode, "Indexed");
  const env = (job as JobObject).spec.template.spec.containers[0].env;
  assert.equal(env.find((e) => e.name === "SHARDS")?.value, String(job.spec.completions));
  const dir = await Deno.makeTempDir({ prefix: "fluxfleet-job-manifest-" });
  try {
    await Deno.writeTextFile(`${dir}/flux-bootstrap.yaml`, configMap.data["flux-bootstrap.yaml"]);
    const r = await runCli(["validate", `${dir}/flux-bootstrap.yaml`]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^ok: 2 clusters/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * fluxfleet's source as the examples clone it: this checkout's HEAD commit (what a clean clone
 * holds; not uncommitted changes) pushed to branch main of a bare repository of the test's.
 */
async function sourceRepo(dir: string): Promise<{ FLUXFLEET_REPO: string; FLUXFLEET_REF: string }> {
  const bare = `${dir}/fluxfleet-source.git`;
  const init = await runCommand("git", ["init", "-q", "--bare", bare]);
  assert.equal(init.code, 0, init.stderr);
  // HEAD may be detached (a CI checkout): push the commit, whatever names it.
  const push = await runCommand("git", ["-C", ROOT, "push", "-q", bare, "HEAD:refs/heads/main"]);
  assert.equal(push.code, 0, push.stderr);
  return { FLUXFLEET_REPO: `file://${bare}`, FLUXFLEET_REF: "main" };
}

/**
 * The caches of this machine's npm and Deno, whatever HOME a run has: a runner's caches are warm
 * or not, and here a cold one would only download the same packages again.
 */
function caches(): Record<string, string> {
  const home = Deno.env.get("HOME") ?? "/root";
  return {
    npm_config_cache: Deno.env.get("npm_config_cache") ?? `${home}/.npm`,
    DENO_DIR: Deno.env.get("DENO_DIR") ??
      `${Deno.env.get("XDG_CACHE_HOME") ?? `${home}/.cache`}/deno`,
  };
}

type Source = Awaited<ReturnType<typeof sourceRepo>>;

/** A runner's own folder: a workspace holding the manifest, a temp dir, an npm prefix. */
async function runner(f: FleetEnv, name: string) {
  const base = `${f.dir}/runners/${name}`;
  const workspace = `${base}/workspace`;
  await Deno.mkdir(workspace, { recursive: true });
  await Deno.mkdir(`${base}/temp`);
  await Deno.copyFile(f.manifest, `${workspace}/flux-bootstrap.yaml`);
  return {
    base,
    workspace,
    temp: `${base}/temp`,
    // Locally, npm's global prefix must not be the machine's (the engines' images own theirs).
    prefix: `${base}/npm`,
    path: `${base}/npm/bin:/usr/local/bin:/usr/bin:/bin`,
  };
}

async function shell(
  script: string,
  cwd: string,
  env: Record<string, string>,
  argv = ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c"],
): Promise<CommandResult> {
  const r = await runCommand(argv[0], [...argv.slice(1), script], { cwd, env });
  return r;
}

/** GitHub's expressions in a text, for one matrix value; an unknown one fails the test. */
function expand(text: string, shard: number, total: number, secrets: Record<string, string>) {
  return text.replace(/\$\{\{\s*([^}]+?)\s*\}\}/g, (_m, expr: string) => {
    if (expr === "matrix.shard") return String(shard);
    if (expr === "strategy.job-total") return String(total);
    const secret = /^secrets\.(\w+)$/.exec(expr);
    if (secret && secrets[secret[1]] !== undefined) return secrets[secret[1]];
    throw new Error(`the test does not know the expression ${expr}`);
  });
}

/** One job of the workflow on one matrix value: its `run` steps in order (`uses` ones are done by the test). */
async function runGithubJob(
  f: FleetEnv,
  source: Source,
  workflow: Workflow,
  job: string,
  shard: number,
  where: Awaited<ReturnType<typeof runner>>,
  skip: string[] = [],
): Promise<CommandResult> {
  const total = workflow.jobs[job].strategy?.matrix.shard.length ?? 1;
  const secrets = {
    FLEET_KUBECONFIG: await Deno.readTextFile(`${f.dir}/kubeconfig`),
    FLEET_GIT_TOKEN: TOKEN,
  };
  let last: CommandResult = { code: 0, stdout: "", stderr: "" };
  for (const step of workflow.jobs[job].steps) {
    if (!step.run || (step.id && skip.includes(step.id))) continue;
    const env: Record<string, string> = {
      ...workflow.env,
      ...source,
      RUNNER_TEMP: where.temp,
      npm_config_prefix: where.prefix,
      PATH: where.path,
      ...caches(),
    };
    for (const [k, v] of Object.entries(step.env ?? {})) env[k] = expand(v, shard, total, secrets);
    last = await shell(expand(step.run, shard, total, secrets), where.workspace, env);
    if (last.code !== 0) return last;
  }
  return last;
}

/** One GitLab job (one of `parallel`): default.before_script, then its script, as bash -e. */
async function runGitlabJob(
  f: FleetEnv,
  source: Source,
  pipeline: Pipeline,
  job: string,
  node: number | undefined,
  where: Awaited<ReturnType<typeof runner>>,
): Promise<CommandResult> {
  const spec = pipeline[job] as GitlabJob;
  const env: Record<string, string> = {
    ...pipeline.variables,
    ...source,
    FLUXFLEET_DIR: `${where.base}/fluxfleet`,
    npm_config_prefix: where.prefix,
    PATH: where.path,
    ...caches(),
    // A CI/CD variable of type File is a path to its content.
    KUBECONFIG: `${f.dir}/kubeconfig`,
    GIT_TOKEN: TOKEN,
    ...(node !== undefined
      ? { CI_NODE_INDEX: String(node), CI_NODE_TOTAL: String(spec.parallel) }
      : {}),
  };
  const script = [...pipeline.default.before_script, ...spec.script].join("\n");
  return await shell(script, where.workspace, env);
}

/** One pod of the Indexed Job: the container's command with its env, as Kubernetes runs it. */
async function runJobPod(
  f: FleetEnv,
  source: Source,
  job: JobObject,
  index: number,
  where: Awaited<ReturnType<typeof runner>>,
): Promise<CommandResult> {
  const container = job.spec.template.spec.containers[0];
  const local: Record<string, string> = {
    ...source,
    HOME: where.base,
    npm_config_prefix: where.prefix,
    PATH: where.path,
    MANIFEST: `${where.workspace}/flux-bootstrap.yaml`,
    KUBECONFIG: `${f.dir}/kubeconfig`,
    GIT_TOKEN: TOKEN,
  };
  const env: Record<string, string> = { JOB_COMPLETION_INDEX: String(index), ...caches() };
  for (const e of container.env) env[e.name] = local[e.name] ?? e.value!;
  for (const name of Object.keys(local)) {
    assert.ok(container.env.some((e) => e.name === name), `the Job's container sets no ${name}`);
  }
  return await shell(container.args[0], where.workspace, env, container.command);
}

Deno.test("examples run here: GitHub matrix and GitLab parallel plans merged, the Indexed Job applies, then nothing left", async () => {
  const workflow = parse(read("github-actions/fluxfleet.yaml")) as Workflow;
  const pipeline = parse(read("gitlab-ci/.gitlab-ci.yml")) as Pipeline;
  const job = parseAllDocuments(read("kubernetes/fluxfleet-job.yaml"))[1].toJS() as JobObject;
  await withFleetEnv({
    prefix: "fluxfleet-examples-",
    git: { users: { git: TOKEN } },
    repos: Array.from({ length: REPOS }, (_, r) => `fleet-${r}`),
    contexts: contextNames(CLUSTERS),
    kube: { reconcileDelayMs: 10, sourcePollMs: 0 },
    manifest: ({ git }) =>
      manifestYaml({
        kubeconfig: null,
        // Four installs and applies at once on a busy machine: the health wait gets room.
        timeout: "90s",
        git: ["allowInsecureHttp: true", "author: { name: fleet, email: fleet@example.com }"],
        clusters: contextNames(CLUSTERS).map((name, i) => ({
          name,
          git: [
            `url: ${git.repoUrl(`fleet-${i % REPOS}`)}`,
            "auth: { type: token, token: { env: GIT_TOKEN } }",
          ],
        })),
      }),
  }, async (f) => {
    const source = await sourceRepo(f.dir);
    const ok = (r: CommandResult, what: string) =>
      assert.equal(r.code, 0, `${what}: ${r.stdout}${r.stderr}`);

    // GitHub, pull request: the plan job per matrix value, then the comment job's merge.
    const shards = workflow.jobs.plan.strategy!.matrix.shard;
    const comment = await runner(f, "github-comment");
    await Deno.mkdir(`${comment.workspace}/plans`);
    await Promise.all(shards.map(async (shard) => {
      const where = await runner(f, `github-plan-${shard}`);
      ok(await runGithubJob(f, source, workflow, "plan", shard, where), `github plan ${shard}`);
      // upload-artifact, then download-artifact with merge-multiple.
      await Deno.copyFile(
        `${where.workspace}/plans/plan-${shard}.json`,
        `${comment.workspace}/plans/plan-${shard}.json`,
      );
      assert.ok(
        !(await Deno.readTextFile(`${where.workspace}/plans/plan-${shard}.json`)).includes(TOKEN),
      );
      await assert.rejects(Deno.stat(`${where.temp}/kubeconfig`), "the kubeconfig is removed");
    }));
    ok(
      await runGithubJob(f, source, workflow, "comment", 1, comment, ["comment"]),
      "github comment",
    );
    const markdown = await Deno.readTextFile(`${comment.workspace}/plan.md`);
    assert.match(markdown, /^\*\*Plan&#58; 64 changes in 8 clusters&#44; 0 unchanged&#46;\*\*$/m);
    assert.equal(markdown.match(/<details><summary><b>/g)?.length, CLUSTERS);

    // GitLab, merge request: 4 parallel plan jobs, then plan-report on their artifacts.
    const report = await runner(f, "gitlab-report");
    const parallel = (pipeline.plan as GitlabJob).parallel!;
    await Promise.all(Array.from({ length: parallel }, async (_, i) => {
      const where = await runner(f, `gitlab-plan-${i + 1}`);
      ok(await runGitlabJob(f, source, pipeline, "plan", i + 1, where), `gitlab plan ${i + 1}`);
      await Deno.copyFile(
        `${where.workspace}/plan-${i + 1}.json`,
        `${report.workspace}/plan-${i + 1}.json`,
      );
    }));
    ok(
      await runGitlabJob(f, source, pipeline, "plan-report", undefined, report),
      "gitlab plan-report",
    );
    const merged = JSON.parse(await Deno.readTextFile(`${report.workspace}/plan.json`));
    assert.equal(merged.clusters.length, CLUSTERS);
    assert.equal(merged.summary.steps, 64);

    // Kubernetes: the Indexed Job's pods, all at once.
    const pods = await Promise.all(
      Array.from(
        { length: job.spec.completions },
        async (_, i) => runJobPod(f, source, job, i, await runner(f, `pod-${i}`)),
      ),
    );
    pods.forEach((p, i) => ok(p, `pod ${i}`));
    const changed = pods.map((p) => Number(/Apply: (\d+) changed/.exec(p.stdout)?.[1] ?? 0));
    assert.equal(
      changed.reduce((a, b) => a + b, 0),
      CLUSTERS,
      pods.map((p) => p.stdout).join("\n"),
    );
    for (let r = 0; r < REPOS; r++) assert.equal((await f.git.log(`fleet-${r}`, "main")).length, 1);

    // Main branch: GitHub's and GitLab's apply jobs find nothing left to do.
    await Promise.all(shards.map(async (shard) => {
      const r = await runGithubJob(
        f,
        source,
        workflow,
        "apply",
        shard,
        await runner(f, `github-apply-${shard}`),
      );
      ok(r, `github apply ${shard}`);
      assert.doesNotMatch(r.stdout, /[1-9]\d* changed/);
    }));
    await Promise.all(
      Array.from({ length: (pipeline.apply as GitlabJob).parallel! }, async (_, i) => {
        const r = await runGitlabJob(
          f,
          source,
          pipeline,
          "apply",
          i + 1,
          await runner(f, `gitlab-apply-${i + 1}`),
        );
        ok(r, `gitlab apply ${i + 1}`);
        assert.doesNotMatch(r.stdout, /[1-9]\d* changed/);
      }),
    );
    const again = await f.cli(["plan", "--detailed-exitcode", f.manifest], {
      KUBECONFIG: `${f.dir}/kubeconfig`,
      GIT_TOKEN: TOKEN,
    });
    assert.equal(again.code, 0, again.stdout + again.stderr);
  });
});
