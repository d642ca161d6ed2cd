/**
 * A fleet in one run: many clusters over a few repositories, one commit per repository, a push
 * racing another push, one cluster with a bad token.
 */
import assert from "node:assert/strict";
import {
  contextNames,
  type FleetEnv,
  manifestYaml,
  mergeCommits,
  withFleetEnv,
} from "../helpers/harness.ts";
import { makeGitHttp } from "../../lib/git/transports/isomorphic/http.ts";
import {
  checkoutRepo,
  commitAndPush,
  httpsRemote,
} from "../../lib/git/transports/isomorphic/mod.ts";

const TOKEN = "canary-fleet-token-31d9";
const OTHER = "canary-fleet-other-token-8a8a";

/** Cluster c<i> on repository fleet-<i mod repos>, its token in the variable tokenFor(i). */
function withFleet(
  opts: { clusters: number; repos: number; tokenFor?: (i: number) => string },
  fn: (f: FleetEnv) => Promise<void>,
): Promise<void> {
  return withFleetEnv({
    prefix: "fluxfleet-fleet-",
    git: { users: { git: TOKEN, other: OTHER } },
    repos: Array.from({ length: opts.repos }, (_, r) => `fleet-${r}`),
    contexts: contextNames(opts.clusters),
    // No periodic re-resolve by the Flux stand-in: its git requests would mix with fluxfleet's
    // in the request counts below (it still resolves whenever an object is written).
    kube: { reconcileDelayMs: 10, sourcePollMs: 0 },
    manifestName: "fleet.yaml",
    cliEnv: { GIT_PASSWORD: TOKEN },
    manifest: ({ git }) =>
      manifestYaml({
        timeout: "20s",
        git: ["allowInsecureHttp: true", "author: { name: fleet, email: fleet@example.com }"],
        clusters: contextNames(opts.clusters).map((name, i) => ({
          name,
          lines: [`labels: { repo: r${i % opts.repos} }`],
          git: [
            `url: ${git.repoUrl(`fleet-${i % opts.repos}`)}`,
            `auth: { type: token, token: { env: ${opts.tokenFor?.(i) ?? "GIT_PASSWORD"} } }`,
          ],
        })),
      }),
  }, fn);
}

function cli(f: FleetEnv, args: string[], env: Record<string, string> = {}) {
  return f.cli([...args, f.manifest], env);
}

Deno.test("12 clusters on 3 repositories: one apply, one commit per repository, then no changes", async () => {
  await withFleet({ clusters: 12, repos: 3 }, async (f) => {
    const r = await cli(f, ["apply", "--auto-approve", "--concurrency", "6"]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /Apply: 12 changed, 0 unchanged, 0 failed\./);
    for (let repo = 0; repo < 3; repo++) {
      const log = await f.git.log(`fleet-${repo}`, "main");
      assert.equal(log.length, 1, `repository fleet-${repo} must get exactly one commit`);
      const names = [0, 1, 2, 3].map((k) => `c${repo + 3 * k}`);
      assert.equal(log[0].message, `Add Flux v2.4.0 manifests for clusters ${names.join(", ")}`);
    }
    // One fetch per repository during a no-op plan: one ref advertisement + one upload-pack each.
    f.git.requests.length = 0;
    for (const k of f.kubes) k.resetRequests();
    const plan = await cli(f, ["plan", "--detailed-exitcode"]);
    assert.equal(plan.code, 0, plan.stdout + plan.stderr);
    const uploads = f.git.requests.filter((q) =>
      q.method === "POST" && q.service === "git-upload-pack"
    );
    assert.equal(uploads.length, 3);
    const adverts = f.git.requests.filter((q) =>
      q.method === "GET" && q.service === "git-upload-pack"
    );
    assert.equal(adverts.length, 3, "one ref advertisement per repository");
    for (const k of f.kubes) {
      assert.ok(k.requests.length <= 3, `API round trips: ${k.requests.length}`);
    }
    // The next plan finds every branch at the commit the last one read: its files come from the
    // commit cache, one ref advertisement per repository and no fetch.
    f.git.requests.length = 0;
    const again = await cli(f, ["plan", "--detailed-exitcode"]);
    assert.equal(again.code, 0, again.stdout + again.stderr);
    assert.match(again.stdout, /No changes\./);
    assert.deepEqual(gitCalls(f), { adverts: 3, uploads: 0 });
  });
});

/** The upload-pack requests the git server got: ref advertisements and fetches. */
function gitCalls(f: FleetEnv) {
  const of = (method: string) =>
    f.git.requests.filter((q) => q.method === method && q.service === "git-upload-pack").length;
  return { adverts: of("GET"), uploads: of("POST") };
}

/** Someone else's commit on fleet-0's main. */
async function pushElsewhere(f: FleetEnv, path: string, content: string): Promise<void> {
  const h = makeGitHttp({ allowInsecureHttp: true, timeoutMs: 10_000 });
  try {
    const remote = httpsRemote({
      url: f.git.repoUrl("fleet-0"),
      username: "other",
      password: OTHER,
    }, h);
    const co = await checkoutRepo(remote, "main", `${f.dir}/elsewhere-${crypto.randomUUID()}`);
    await commitAndPush(co, remote, [{ path, content }], "Someone else", {
      name: "Someone",
      email: "someone@example.com",
    });
  } finally {
    h.close();
  }
}

Deno.test("the commit cache serves a plan only while the branch is at the commit it read", async () => {
  await withFleet({ clusters: 2, repos: 1 }, async (f) => {
    const cache = `${f.dir}/commit-cache`;
    const env = { FLUXFLEET_COMMIT_CACHE: cache };
    const plan = async (expect: number, extra: Record<string, string> = env) => {
      f.git.requests.length = 0;
      const r = await cli(f, ["plan", "--detailed-exitcode"], extra);
      assert.equal(r.code, expect, r.stdout + r.stderr);
      return { out: r.stdout, calls: gitCalls(f) };
    };
    assert.equal((await cli(f, ["apply", "--auto-approve"], env)).code, 0);
    // An apply keeps nothing (it fetches to disk); the first plan fetches and keeps what it read.
    assert.deepEqual((await plan(0)).calls, { adverts: 1, uploads: 1 });
    const entries = [...Deno.readDirSync(cache)];
    assert.equal(entries.length, 1);
    assert.equal(Deno.statSync(cache).mode! & 0o777, 0o700);
    assert.equal(Deno.statSync(`${cache}/${entries[0].name}`).mode! & 0o777, 0o600);
    assert.deepEqual((await plan(0)).calls, { adverts: 1, uploads: 0 });
    // --debug says where the files came from.
    const said = await cli(f, ["plan", "--debug"], env);
    assert.match(
      said.stderr,
      /debug: git: http:\/\/127\.0\.0\.1:\d+\/fleet-0\.git main at [0-9a-f]{40}: files from the commit cache, not fetched/,
    );
    assert.doesNotMatch(said.stderr, /debug: git: POST /);

    // Someone changes c0's sync file: the branch is at another commit, which is fetched, and the
    // change is seen.
    const sync = "clusters/c0/flux-system/gotk-sync.yaml";
    await pushElsewhere(f, sync, "# changed elsewhere\n");
    const moved = await plan(2);
    const fetched = await cli(f, ["plan", "--debug"], { FLUXFLEET_COMMIT_CACHE: `${f.dir}/empty` });
    assert.match(fetched.stderr, /main at [0-9a-f]{40}: not in the commit cache, fetched/);
    assert.match(fetched.stderr, /debug: git: POST \S+\/git-upload-pack -> 200/);
    assert.deepEqual(moved.calls, { adverts: 1, uploads: 1 });
    assert.match(moved.out, /c0[\s\S]*gotk-sync\.yaml/);
    assert.deepEqual((await plan(2)).calls, { adverts: 1, uploads: 0 });

    // A damaged entry is no entry: fetched again, the same plan.
    const file = `${cache}/${[...Deno.readDirSync(cache)][0].name}`;
    Deno.writeTextFileSync(
      file,
      Deno.readTextFileSync(file).replace("changed elsewhere", "changed elsewhare"),
    );
    const damaged = await plan(2);
    assert.deepEqual(damaged.calls, { adverts: 1, uploads: 1 });
    assert.equal(damaged.out, moved.out);

    // A path no plan read at this commit (only c0 was planned): fetched after all, once.
    await pushElsewhere(f, "apps/app.yaml", "kind: App\n");
    f.git.requests.length = 0;
    const one = await cli(f, ["plan", "--detailed-exitcode", "--cluster", "c0"], env);
    assert.equal(one.code, 2, one.stdout + one.stderr);
    assert.deepEqual(gitCalls(f), { adverts: 1, uploads: 1 });
    const both = await plan(2);
    assert.equal(both.calls.uploads, 1);
    assert.equal(both.out, moved.out);
    assert.deepEqual((await plan(2)).calls, { adverts: 1, uploads: 0 });

    // The folder loosened so others may write to it (they could have forged an entry): the plan
    // reads nothing there, fetches, and --debug says why.
    Deno.chmodSync(cache, 0o777);
    f.git.requests.length = 0;
    const loose = await cli(f, ["plan", "--debug"], env);
    assert.match(
      loose.stderr,
      /debug: commit cache \S+\/commit-cache: not a folder of this user's that only it may write, not used/,
    );
    assert.deepEqual(gitCalls(f), { adverts: 1, uploads: 1 });
    Deno.chmodSync(cache, 0o700);
    assert.deepEqual((await plan(2)).calls, { adverts: 1, uploads: 0 });

    // Off: every plan fetches, nothing is kept.
    await Deno.remove(cache, { recursive: true });
    assert.deepEqual((await plan(2, { FLUXFLEET_COMMIT_CACHE: "off" })).calls, {
      adverts: 1,
      uploads: 1,
    });
    assert.equal(await Deno.stat(cache).then(() => true, () => false), false);
  });
});

Deno.test("--cluster and --selector pick the right clusters", async () => {
  await withFleet({ clusters: 4, repos: 2 }, async (f) => {
    const r = await cli(f, ["plan", "--output", "json", "--selector", "repo=r1"]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout).clusters.map((c: { cluster: string }) => c.cluster), [
      "c1",
      "c3",
    ]);
    const both = await cli(f, [
      "plan",
      "--output",
      "json",
      "--selector",
      "repo=r1",
      "--cluster",
      "c3",
    ]);
    assert.deepEqual(JSON.parse(both.stdout).clusters.map((c: { cluster: string }) => c.cluster), [
      "c3",
    ]);
    assert.equal(f.kubes[0].requests.length, 0, "an unselected cluster is not contacted");
    // kubectl's selector syntax: != and set-based requirements, comma = and.
    const planned = async (selector: string) => {
      const r = await cli(f, ["plan", "--output", "json", "-l", selector]);
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout).clusters.map((c: { cluster: string }) => c.cluster);
    };
    assert.deepEqual(await planned("repo!=r1"), ["c0", "c2"]);
    assert.deepEqual(await planned("repo in (r0,r1),repo notin (r0)"), ["c1", "c3"]);
  });
});

Deno.test("a push from elsewhere during apply is retried on the new head; both changes survive, history linear", async () => {
  await withFleet({ clusters: 2, repos: 1 }, async (f) => {
    // Hold fluxfleet's push long enough for another push to land first.
    f.git.failNext({ phase: "receive", delayMs: 1500 });
    const child = f.spawn(["apply", "--auto-approve", f.manifest]);
    const outText = new Response(child.stdout).text();
    const errText = new Response(child.stderr).text();
    const deadline = Date.now() + 30_000;
    while (
      !f.git.requests.some((q) => q.method === "POST" && q.service === "git-receive-pack") &&
      Date.now() < deadline
    ) await new Promise((r) => setTimeout(r, 50));
    await pushElsewhere(f, "apps/app.yaml", "kind: App\n");
    const status = await child.status;
    const out = await outText;
    assert.equal(status.code, 0, out + (await errText));
    assert.equal(await f.git.readFile("fleet-0", "main", "apps/app.yaml"), "kind: App\n");
    assert.ok(await f.git.readFile("fleet-0", "main", "clusters/c1/flux-system/gotk-sync.yaml"));
    const log = await f.git.log("fleet-0", "main");
    // Whichever push lost the race was re-applied on the winner: two commits, one line of history.
    assert.deepEqual(log.map((c) => c.message.split("\n")[0]).sort(), [
      "Add Flux v2.4.0 manifests for clusters c0, c1",
      "Someone else",
    ]);
    assert.equal(await mergeCommits(f.git, "fleet-0"), "", "history must be linear");
    assert.equal((await cli(f, ["plan", "--detailed-exitcode"])).code, 0);
  });
});

Deno.test("one cluster with a bad token fails, the others succeed; a re-run finishes only that one", async () => {
  await withFleet({
    clusters: 3,
    repos: 3,
    tokenFor: (i) => (i === 1 ? "C1_TOKEN" : "GIT_PASSWORD"),
  }, async (f) => {
    const r = await cli(f, ["apply", "--auto-approve"], { C1_TOKEN: "canary-bad-token-0" });
    assert.equal(r.code, 1);
    assert.match(r.stdout, /c1: failed: git server rejected the credentials .*\(HTTP 401\)/);
    assert.match(r.stdout, /Apply: 2 changed, 0 unchanged, 1 failed\./);
    const again = await cli(f, ["apply", "--auto-approve"], { C1_TOKEN: TOKEN });
    assert.equal(again.code, 0, again.stdout + again.stderr);
    assert.match(again.stdout, /c0: unchanged/);
    assert.match(again.stdout, /c1: changed/);
    assert.match(again.stdout, /c2: unchanged/);
  });
});
