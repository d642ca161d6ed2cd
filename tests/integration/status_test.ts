/**
 * `fluxfleet status` on a mixed fleet (issue 18): one healthy cluster, one whose Kustomization
 * fails, one with a controller unavailable, one without Flux. Read-only, and at most one list
 * call per resource kind per cluster, counted on the sandbox API servers.
 */
import assert from "node:assert/strict";
import { withRolloutFleet } from "../helpers/rollout_fleet.ts";
import { ROOT } from "../helpers/harness.ts";
import { shellQuote, withTerminal } from "../helpers/tmux.ts";
import { missing } from "../helpers/tools.ts";

const WAVES =
  `rollout:\n  waves:\n    - { name: canary, selector: { ring: canary } }\n    - rest: true\n`;

async function until(what: string, check: () => boolean, ms = 60_000) {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

Deno.test("status: a mixed fleet in one table, failing first; JSON; --selector; GETs only, one list per cluster", async () => {
  await withRolloutFleet(4, (i) => ({ ring: i < 2 ? "canary" : "main" }), async (f) => {
    const { env } = f;
    await f.writeManifest("v2.4.0", WAVES);
    const boot = await f.apply("-c", "c0", "-c", "c1", "-c", "c2", "-q");
    assert.equal(boot.code, 0, boot.stderr + boot.stdout);
    const message = "kustomize build failed: accumulating resources: 'apps' not found";
    env.kubes[1].flux.setKustomizationOutcome({ kind: "fail", reason: "BuildFailed", message });
    env.kubes[2].flux.setDeploymentUnavailable("helm-controller");
    await until("c1 failing and c2 degraded", () => {
      const ks = env.kubes[1].getObject(
        "kustomize.toolkit.fluxcd.io/v1",
        "Kustomization",
        "flux-system",
        "flux-system",
      ) as { status?: { conditions?: { type: string; status: string }[] } };
      const helm = env.kubes[2].getObject(
        "apps/v1",
        "Deployment",
        "flux-system",
        "helm-controller",
      ) as { status?: { conditions?: { type: string; status: string }[] } };
      return ks.status?.conditions?.some((c) => c.type === "Ready" && c.status === "False") ===
          true &&
        helm.status?.conditions?.some((c) => c.type === "Available" && c.status === "False") ===
          true;
    });
    for (const k of env.kubes) k.resetRequests();

    const json = await env.cli(["status", env.manifest, "-o", "json"]);
    assert.equal(json.code, 1, json.stderr);
    const doc = JSON.parse(json.stdout);
    assert.equal(doc.kind, "fluxfleet.status");
    const rows = doc.clusters as Record<string, unknown>[];
    assert.deepEqual(rows.map((r) => [r.cluster, r.health, r.wave]), [
      ["c1", "failing", "1 (canary)"],
      ["c2", "degraded", "2 (rest)"],
      ["c3", "not installed", "2 (rest)"],
      ["c0", "ready", "1 (canary)"],
    ]);
    assert.equal(rows[0].summary, `Kustomization BuildFailed: ${message}`);
    assert.match(String(rows[1].summary), /^helm-controller unavailable/);
    const c0 = rows[3] as {
      controllers: { name: string; version: string; release: string; available: boolean }[];
      source: { revision: string; url: string; ready: string };
      credentials: { kind: string; created: string };
    };
    const head = await env.git.headSha("fleet", "main");
    assert.equal(c0.source.revision, `main@sha1:${head}`);
    assert.equal(c0.source.ready, "True");
    assert.deepEqual(
      c0.controllers.find((c) => c.name === "source-controller"),
      { name: "source-controller", version: "v1.4.1", release: "v2.4.0", available: true },
    );
    assert.equal(c0.credentials.kind, "token");
    assert.ok(!json.stdout.includes("canary-token"), "no secret value in the output");

    // Reads only; per cluster one list call (the Deployments), the rest GETs of single objects.
    env.kubes.forEach((k, i) => {
      const seen = k.requests.map((r) => `${r.method} ${r.path}`);
      assert.ok(seen.every((r) => r.startsWith("GET ")), `c${i}: ${seen}`);
      const lists = seen.filter((r) =>
        /\/(deployments|gitrepositories|kustomizations|secrets)$/.test(r)
      );
      assert.deepEqual(lists, ["GET /apis/apps/v1/namespaces/flux-system/deployments"], `c${i}`);
      assert.ok(seen.length <= 4, `c${i}: ${seen}`);
    });

    const text = await env.cli(["status", env.manifest]);
    assert.equal(text.code, 1);
    const lines = text.stdout.split("\n");
    assert.match(
      lines[0],
      /^CLUSTER\s+WAVE\s+FLUX\s+CONTROLLERS\s+REVISION\s+AGE\s+STATUS\s+CREDENTIALS$/,
    );
    assert.deepEqual(lines.slice(1, 5).map((l) => l.split(/\s+/)[0]), ["c1", "c2", "c3", "c0"]);
    assert.match(
      lines[4],
      new RegExp(
        `^c0\\s+1 \\(canary\\)\\s+v2\\.4\\.0\\s+helm v1\\.1\\.0, .*source v1\\.4\\.1.*main@${
          head!.slice(0, 7)
        }\\s+\\d+[smh]\\s+Ready\\s+token \\(secret \\d+[smh] old\\)$`,
      ),
    );
    assert.match(lines[2], /helm v1\.1\.0!/);
    assert.match(text.stdout, /4 clusters: 1 ready, 3 need attention/);

    const canary = await env.cli(["status", env.manifest, "-l", "ring=canary", "-o", "json"]);
    assert.deepEqual(
      JSON.parse(canary.stdout).clusters.map((r: { cluster: string }) => r.cluster),
      ["c1", "c0"],
    );

    // Shards as plan and apply make them: one repository here, so one shard holds every cluster.
    const shards = await Promise.all(
      [1, 2].map((i) => env.cli(["status", env.manifest, "--shard", `${i}/2`, "-o", "json"])),
    );
    const byShard = shards.map((r) =>
      (JSON.parse(r.stdout).clusters as { cluster: string }[]).map((c) => c.cluster).sort()
    );
    assert.deepEqual(byShard.flat().sort(), ["c0", "c1", "c2", "c3"], "the shards cover the fleet");
    assert.ok(byShard.some((names) => names.length === 0), `one repository, one shard: ${byShard}`);
    const byIndex = await env.cli(["status", env.manifest, "--shard-count", "2", "-o", "json"], {
      JOB_COMPLETION_INDEX: "1",
    });
    assert.deepEqual(
      (JSON.parse(byIndex.stdout).clusters as { cluster: string }[]).map((c) => c.cluster).sort(),
      byShard[1],
      "JOB_COMPLETION_INDEX=1 is shard 2/2",
    );

    const watch = await env.cli(["status", env.manifest, "--watch"]);
    assert.equal(watch.code, 1);
    assert.match(watch.stderr, /--watch redraws a table on a terminal/);
  });
});

Deno.test({
  name: "status --watch: the table is redrawn in place on a terminal as the cluster changes",
  ignore: missing("tmux"),
}, async () => {
  await withRolloutFleet(1, () => ({}), async (f) => {
    const { env } = f;
    await f.writeManifest("v2.4.0", "");
    const boot = await f.apply("-q");
    assert.equal(boot.code, 0, boot.stderr + boot.stdout);
    const command = [Deno.execPath(), "run", "-A", `${ROOT}main.ts`, "status", env.manifest]
      .concat(["--watch", "--interval", "1"]).map(shellQuote).join(" ");
    const vars = { TMPDIR: env.tmp, TERM: "xterm-256color", NO_COLOR: "1" };
    await withTerminal({ columns: 200, rows: 12 }, command, vars, async (term) => {
      const row = async () => (await term.screen()).find((l) => l.startsWith("c0 ")) ?? "";
      const seen = async (what: RegExp) => {
        const end = Date.now() + 60_000;
        while (!what.test(await row())) {
          if (Date.now() > end) assert.fail(`no ${what} on the screen: ${await term.screen()}`);
          await new Promise((r) => setTimeout(r, 200));
        }
      };
      await seen(/\bReady\b/);
      env.kube.flux.setKustomizationOutcome({
        kind: "fail",
        reason: "BuildFailed",
        message: "bad",
      });
      await seen(/Kustomization BuildFailed: bad/);
      const screen = await term.screen();
      assert.equal(screen.filter((l) => l.startsWith("CLUSTER")).length, 1, "one table on screen");
      assert.match(screen[0], /^\d{4}-\d\d-\d\dT.*\(every 1s; Ctrl-C to stop\)$/);
    });
  });
});
