/**
 * `merge-plans`: shards' plan documents as one, valid under the output schema; documents that do
 * not belong together are refused, naming the files.
 */
import assert from "node:assert/strict";
import {
  mergePlanDocuments,
  type NamedDocument,
  readPlanDocument,
} from "../lib/cli/merge_plans.ts";
import type { PlanDocument } from "../lib/report/json.ts";
import { planSchemaErrors } from "../lib/report/plan_schema.ts";

const DIGEST = `sha256:${"a".repeat(64)}`;

function cluster(name: string, steps: number) {
  return {
    cluster: name,
    repository: {
      url: `https://git.example.com/${name}.git`,
      branch: "main",
      dir: `clusters/${name}/flux-system`,
    },
    steps: Array.from(
      { length: steps },
      (_, i) => ({ kind: "namespace", action: "create", name: `ns${i}` }),
    ),
    status: [],
    warnings: [],
    notes: [],
  };
}

function shard(
  index: number,
  count: number,
  names: string[],
  extra: Partial<PlanDocument> = {},
): NamedDocument {
  const clusters = names.map((n, i) => cluster(n, i % 2 ? 0 : 2));
  const changed = clusters.filter((c) => c.steps.length > 0).length;
  return {
    file: `plan-${index}.json`,
    doc: {
      formatVersion: 2,
      kind: "fluxfleet.plan",
      manifest: `/runner-${index}/fleet.yaml`,
      manifestDigest: DIGEST,
      fluxfleetVersion: "0.1.0",
      shard: { index, count, selected: 5 },
      clusters,
      summary: {
        clusters: clusters.length,
        changed,
        unchanged: clusters.length - changed,
        failed: 0,
        skipped: 0,
        steps: clusters.reduce((n, c) => n + c.steps.length, 0),
      },
      ...extra,
    } as PlanDocument,
  };
}

Deno.test("merge-plans: the shards' clusters in shard order, summaries added, valid under the schema", () => {
  const parts = [shard(2, 3, ["c", "d"]), shard(1, 3, ["a", "b"]), shard(3, 3, ["e"])];
  for (const p of parts) assert.deepEqual(planSchemaErrors(p.doc), []);
  const merged = mergePlanDocuments(parts);
  assert.deepEqual(planSchemaErrors(merged), []);
  assert.deepEqual(merged.clusters.map((c) => c.cluster), ["a", "b", "c", "d", "e"]);
  assert.deepEqual(merged.summary, {
    clusters: 5,
    changed: 3,
    unchanged: 2,
    failed: 0,
    skipped: 0,
    steps: 6,
  });
  assert.equal(merged.shard, undefined);
  assert.equal(merged.manifestDigest, DIGEST);
  assert.equal(merged.manifest, "/runner-2/fleet.yaml");
});

Deno.test("merge-plans refuses what does not belong together, naming the files", () => {
  const ok = () => [shard(1, 2, ["a", "b"]), shard(2, 2, ["c", "d", "e"])];
  const refused: [NamedDocument[], string][] = [
    [
      [
        shard(1, 2, ["a", "b"]),
        shard(2, 2, ["c", "d", "e"], { manifestDigest: `sha256:${"b".repeat(64)}` }),
      ],
      "plan-1.json and plan-2.json were planned from different manifests (sha256:aaaaaaaaaaaa… and sha256:bbbbbbbbbbbb…): plan every shard from the same manifest",
    ],
    [
      [shard(1, 2, ["a", "b"]), shard(2, 2, ["c", "d", "e"], { fluxfleetVersion: "0.2.0" })],
      "plan-1.json was planned by fluxfleet 0.1.0 and plan-2.json by 0.2.0: plan every shard with the same version",
    ],
    [
      [shard(1, 2, ["a", "b"]), shard(2, 2, ["b", "d", "e"])],
      "cluster b is in both plan-1.json and plan-2.json",
    ],
    [
      [shard(1, 2, ["a", "b"]), { ...shard(1, 2, ["c", "d", "e"]), file: "again.json" }],
      "plan-1.json and again.json are both shard 1/2",
    ],
    [
      [ok()[0]],
      "shard 2/2 missing: merge the plans of all 2 shards (a partial merge would understate the plan)",
    ],
    [
      [shard(1, 2, ["a", "b"]), shard(2, 3, ["c", "d", "e"])],
      "plan-1.json is shard 1/2 and plan-2.json shard 2/3: the shard counts differ",
    ],
    [
      [ok()[0], shard(2, 2, ["c", "d", "e"], { shard: { index: 2, count: 2, selected: 9 } })],
      "plan-1.json was planned over 5 selected clusters and plan-2.json over 9: every shard must run with the same --cluster and --selector",
    ],
    [
      [ok()[0], shard(2, 2, ["c", "d"])],
      "the shards hold 4 clusters, but 5 were selected: were they planned with the same manifest, --cluster and --selector?",
    ],
    [
      [ok()[0], shard(2, 2, ["c", "d", "e"], { shard: undefined })],
      "plan-2.json is a plan of every selected cluster and plan-1.json one of a shard: merge the shards' plans only",
    ],
    [
      [ok()[0], shard(2, 2, ["c", "d", "e"], { manifestDigest: undefined })],
      "plan-2.json does not say which manifest it was planned from (no manifestDigest): plan again with this fluxfleet",
    ],
  ];
  for (const [docs, message] of refused) {
    assert.throws(() => mergePlanDocuments(docs), { message }, message);
  }
  // Whole plans (other --cluster selections) merge when they do not overlap.
  const whole = (i: number, names: string[]) => shard(i, 1, names, { shard: undefined });
  assert.equal(mergePlanDocuments([whole(1, ["a"]), whole(2, ["b"])]).clusters.length, 2);
});

Deno.test("merge-plans reads only plan documents of this format version that the schema accepts", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fluxfleet-merge-" });
  try {
    const write = async (name: string, text: string) => {
      await Deno.writeTextFile(`${dir}/${name}`, text);
      return `${dir}/${name}`;
    };
    const read = (file: string) => readPlanDocument(file, planSchemaErrors);
    const cases: [string, string, string][] = [
      ["bad.json", "{", "bad.json is not JSON: "],
      [
        "apply.json",
        '{"kind":"fluxfleet.apply","formatVersion":2}',
        "apply.json is a fluxfleet.apply document; merge-plans merges the output of plan --output json",
      ],
      [
        "v1.json",
        '{"kind":"fluxfleet.plan","formatVersion":1}',
        "v1.json is in format version 1; this fluxfleet reads version 2: plan again with this version",
      ],
      ["list.json", "[]", "list.json is not a fluxfleet plan document (plan --output json)"],
      [
        "odd.json",
        JSON.stringify({ ...shard(1, 1, ["a"]).doc, clusters: [{ cluster: "a" }] }),
        "odd.json is not a valid plan document: /clusters/0 must have required property 'repository'",
      ],
    ];
    for (const [name, text, message] of cases) {
      const file = await write(name, text);
      await assert.rejects(read(file), (e: Error) => {
        assert.ok(e.message.startsWith(`${dir}/${message}`), e.message);
        return true;
      });
    }
    await assert.rejects(read(`${dir}/none.json`), /^Error: cannot read .*none\.json: /);
    const good = await write(
      "good.json",
      JSON.stringify(shard(1, 1, ["a", "b", "c", "d", "e"]).doc),
    );
    assert.equal((await read(good)).doc.clusters.length, 5);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
