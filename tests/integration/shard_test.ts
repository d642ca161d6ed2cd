/**
 * `--shard`: 40 clusters over 8 repositories applied as 4 shards by 4 processes at once end in
 * exactly the state one run produces (each repository one commit, same files, same objects in
 * every cluster), and the shards' plans are disjoint and cover the selection.
 */
import assert from "node:assert/strict";
import {
  contextNames,
  type FleetEnv,
  fluxObject,
  manifestYaml,
  sourceSecret,
  withFleetEnv,
} from "../helpers/harness.ts";
import { outputSchemaErrors } from "../helpers/output_schema.ts";

const TOKEN = "canary-shard-token-5c1e";
const CLUSTERS = 40;
const REPOS = 8;
const SHARDS = 4;

function withShardFleet(fn: (f: FleetEnv) => Promise<void>): Promise<void> {
  return withFleetEnv({
    prefix: "fluxfleet-shard-",
    git: { users: { git: TOKEN } },
    repos: Array.from({ length: REPOS }, (_, r) => `fleet-${r}`),
    contexts: contextNames(CLUSTERS),
    kube: { reconcileDelayMs: 10, sourcePollMs: 0 },
    manifestName: "fleet.yaml",
    cliEnv: { GIT_PASSWORD: TOKEN },
    manifest: ({ git }) =>
      manifestYaml({
        timeout: "60s",
        git: ["allowInsecureHttp: true", "author: { name: fleet, email: fleet@example.com }"],
        clusters: contextNames(CLUSTERS).map((name, i) => ({
          name,
          git: [
            `url: ${git.repoUrl(`fleet-${i % REPOS}`)}`,
            "auth: { type: token, token: { env: GIT_PASSWORD } }",
          ],
        })),
      }),
  }, fn);
}

async function gitOut(args: string[]): Promise<string> {
  const out = await new Deno.Command("git", { args, stdin: "null" }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout);
}

/** What a run leaves behind, without what differs between two sandboxes (ports, commit ids). */
async function fleetState(f: FleetEnv): Promise<unknown> {
  const origin = new URL(f.git.repoUrl("x")).origin;
  const same = (text: string) => text.replaceAll(origin, "GIT");
  const repos: Record<string, unknown> = {};
  for (let r = 0; r < REPOS; r++) {
    const dir = `${f.git.root}/fleet-${r}.git`;
    const paths = (await gitOut(["--git-dir", dir, "ls-tree", "-r", "--name-only", "main"]))
      .trim().split("\n");
    const files: Record<string, string> = {};
    for (const p of paths) files[p] = same((await f.git.readFile(`fleet-${r}`, "main", p))!);
    const log = await f.git.log(`fleet-${r}`, "main");
    repos[`fleet-${r}`] = { commits: log.map((c) => [c.author, c.message]), files };
  }
  const clusters = f.kubes.map((k) => {
    const spec = (kind: "GitRepository" | "Kustomization") =>
      JSON.parse(same(JSON.stringify(fluxObject(k, kind)?.spec ?? null)));
    return {
      namespace: k.getObject("v1", "Namespace", undefined, "flux-system") !== undefined,
      gitRepository: spec("GitRepository"),
      kustomization: spec("Kustomization"),
      secret: sourceSecret(k),
    };
  });
  return { repos, clusters };
}

interface PlanDoc {
  shard?: { index: number; count: number; selected: number };
  clusters: { cluster: string; repository: { url: string } }[];
}

Deno.test("40 clusters on 8 repositories: 4 shards in 4 processes end as one run does; destroy too", async () => {
  let single: unknown;
  await withShardFleet(async (f) => {
    const r = await f.cli(["apply", "--auto-approve", "--concurrency", "8", f.manifest]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    single = await fleetState(f);
  });

  await withShardFleet(async (f) => {
    const shards = Array.from({ length: SHARDS }, (_, i) => `${i + 1}/${SHARDS}`);
    // The shards' plans: disjoint, covering, each repository in one shard.
    const plans = await Promise.all(
      shards.map((s) => f.cli(["plan", "--shard", s, "--output", "json", f.manifest])),
    );
    const docs = plans.map((p, i) => {
      assert.equal(p.code, 0, `shard ${shards[i]}: ${p.stderr}`);
      const doc = JSON.parse(p.stdout) as PlanDoc;
      assert.deepEqual(outputSchemaErrors(doc), []);
      assert.deepEqual(doc.shard, { index: i + 1, count: SHARDS, selected: CLUSTERS });
      return doc;
    });
    const names = docs.flatMap((d) => d.clusters.map((c) => c.cluster));
    assert.equal(new Set(names).size, names.length, "shards must be disjoint");
    assert.deepEqual(names.sort(), contextNames(CLUSTERS).sort(), "shards must cover the fleet");
    for (let r = 0; r < REPOS; r++) {
      const url = f.git.repoUrl(`fleet-${r}`);
      const holding = docs.filter((d) => d.clusters.some((c) => c.repository.url === url));
      assert.equal(holding.length, 1, `fleet-${r} in ${holding.length} shards`);
    }

    // One document again: merge-plans, as JSON (valid under the schema) and for a comment.
    const files = await Promise.all(plans.map(async (p, i) => {
      await Deno.writeTextFile(`${f.dir}/plan-${i + 1}.json`, p.stdout);
      return `${f.dir}/plan-${i + 1}.json`;
    }));
    const merged = await f.cli(["merge-plans", ...[...files].reverse()]);
    assert.equal(merged.code, 0, merged.stderr);
    const whole = JSON.parse(merged.stdout);
    assert.deepEqual(outputSchemaErrors(whole), []);
    assert.equal(whole.clusters.length, CLUSTERS);
    assert.deepEqual(whole.summary, {
      clusters: 40,
      changed: 40,
      unchanged: 0,
      failed: 0,
      skipped: 0,
      steps: 320,
    });
    const comment = await f.cli(["merge-plans", "--output", "markdown", ...files]);
    // Punctuation is written as character references (lib/report/markdown.ts): "Plan: …, … ."
    assert.match(
      comment.stdout,
      /^### fluxfleet plan: .*\n\n\*\*Plan&#58; 320 changes in 40 clusters&#44; 0 unchanged&#46;\*\*\n/,
    );
    assert.equal(comment.stdout.match(/<details>/g)?.length, 40);
    const partial = await f.cli(["merge-plans", ...files.slice(1)]);
    assert.equal(partial.code, 1);
    assert.equal(
      partial.stderr,
      "error: shard 1/4 missing: merge the plans of all 4 shards (a partial merge would " +
        "understate the plan)\n",
    );

    // The same shards applied by 4 processes at once.
    const applied = await Promise.all(
      shards.map((s) =>
        f.cli(["apply", "--auto-approve", "--shard", s, "--concurrency", "4", f.manifest])
      ),
    );
    applied.forEach((a, i) => {
      assert.equal(a.code, 0, `shard ${shards[i]}: ${a.stdout}${a.stderr}`);
      assert.match(a.stderr, new RegExp(`^shard ${shards[i]}: \\d+ of 40 selected clusters$`, "m"));
    });
    assert.deepEqual(await fleetState(f), single);
    // One commit per repository, and nothing left to do for a run over the whole fleet.
    for (let r = 0; r < REPOS; r++) assert.equal((await f.git.log(`fleet-${r}`, "main")).length, 1);
    const again = await f.cli(["plan", "--detailed-exitcode", f.manifest]);
    assert.equal(again.code, 0, again.stdout + again.stderr);

    // destroy in the same 4 shards at once: every cluster uninstalled, one commit per repository.
    const destroyed = await Promise.all(shards.map((s) =>
      f.cli([
        "destroy",
        "--auto-approve",
        "--delete-git-manifests",
        "--shard",
        s,
        "--concurrency",
        "4",
        f.manifest,
      ])
    ));
    let count = 0;
    destroyed.forEach((d, i) => {
      assert.equal(d.code, 0, `shard ${shards[i]}: ${d.stdout}${d.stderr}`);
      count += Number(/Destroy: (\d+) destroyed, 0 unchanged, 0 failed\./.exec(d.stdout)?.[1]);
    });
    assert.equal(count, CLUSTERS);
    for (const k of f.kubes) {
      assert.equal(k.getObject("v1", "Namespace", undefined, "flux-system"), undefined);
    }
    for (let r = 0; r < REPOS; r++) {
      assert.equal((await f.git.log(`fleet-${r}`, "main")).length, 2, `fleet-${r}`);
      assert.equal(
        await f.git.readFile(`fleet-${r}`, "main", `clusters/c${r}/flux-system/gotk-sync.yaml`),
        null,
      );
    }
  });
});

Deno.test("--shard-count takes the index a Kubernetes Indexed Job or GitLab sets; bad values fail early", async () => {
  await withShardFleet(async (f) => {
    const plan = (args: string[], env: Record<string, string> = {}) =>
      f.cli(["plan", "--output", "json", ...args, f.manifest], env);
    const apply = (args: string[], env: Record<string, string> = {}) =>
      f.cli(["apply", "--auto-approve", ...args, f.manifest], env);
    const byOption = JSON.parse((await plan(["--shard", "3/4"])).stdout) as PlanDoc;
    const job = await plan(["--shard-count", "4"], { JOB_COMPLETION_INDEX: "2" });
    assert.equal(job.code, 0, job.stderr);
    assert.deepEqual(JSON.parse(job.stdout), byOption);
    const gitlab = await plan(["--shard-count", "4"], { CI_NODE_INDEX: "3", CI_NODE_TOTAL: "4" });
    assert.deepEqual(JSON.parse(gitlab.stdout), byOption);

    const refused: [string[], Record<string, string>, string][] = [
      [
        ["--shard", "0/4"],
        {},
        "error: option '--shard <index/count>' argument '0/4' is invalid. " +
        "the shard index counts from 1 to 4 (1/4 … 4/4), not 0\n",
      ],
      [
        ["--shard-count", "4"],
        { JOB_COMPLETION_INDEX: "4" },
        "error: JOB_COMPLETION_INDEX=4 is not below --shard-count 4: " +
        "the Job's completions must equal --shard-count\n",
      ],
      [
        ["--shard-count", "4"],
        {},
        "error: --shard-count 4: no shard index in the environment (JOB_COMPLETION_INDEX of a " +
        "Kubernetes Indexed Job, or CI_NODE_INDEX of GitLab's parallel); elsewhere pass " +
        "--shard INDEX/COUNT\n",
      ],
    ];
    // The markdown plan of one shard says which.
    const markdown = await plan(["--shard", "3/4", "--output", "markdown"]);
    assert.equal(markdown.code, 0, markdown.stderr);
    assert.match(
      markdown.stdout,
      /^### fluxfleet plan: .* \(shard 3\/4 of 40 selected clusters\)\n/,
    );
    assert.equal(
      markdown.stdout.match(/<details><summary><b>/g)?.length,
      byOption.clusters.length,
    );

    const requests = f.kubes.map((k) => k.requests.length);
    refused.push(
      [
        ["--output", "markdown"],
        {},
        "error: option '-o, --output <format>' argument 'markdown' is invalid. must be text or json\n",
      ],
      [
        ["--plan-file", `${f.dir}/none.json`, "--shard", "1/4"],
        {},
        "error: --plan-file: a saved plan holds its shard's clusters already; drop --shard/--shard-count\n",
      ],
    );
    for (const [args, env, message] of refused) {
      const r = await (args.includes("--plan-file") || args.includes("markdown") ? apply : plan)(
        args,
        env,
      );
      assert.equal(r.code, 1);
      assert.equal(r.stdout, "");
      assert.equal(r.stderr.split('(run "')[0], message);
    }
    assert.deepEqual(f.kubes.map((k) => k.requests.length), requests, "bad values contact nothing");
  });
});
