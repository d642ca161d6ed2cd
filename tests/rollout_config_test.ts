/** `rollout:` in the manifest: validation at file:line:col, and which clusters go in which wave. */
import assert from "node:assert/strict";
import { parseManifest } from "../lib/config/load.ts";
import { ConfigError } from "../lib/config/errors.ts";
import { assignWaves, wavesFromFlags } from "../lib/rollout/waves.ts";

const GIT = `  git:
    url: https://git.example/fleet.git
    auth: { type: token, username: git, token: { env: GIT_PASSWORD } }
`;

function fleet(rollout: string): string {
  const clusters = ["a", "b", "c", "d", "e"].map((n, i) =>
    `  - name: ${n}\n    path: clusters/${n}\n    labels: { ring: ${i < 2 ? "canary" : "main"} }\n`
  ).join("");
  return `defaults:\n  flux: { version: v2.4.0, manifests: ./install.yaml }\n${GIT}clusters:\n${clusters}${rollout}`;
}

function errorsOf(text: string): string[] {
  try {
    parseManifest(text, "fleet.yaml");
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e.message.split("\n");
  }
  assert.fail("manifest was accepted");
}

Deno.test("rollout: a cluster in no wave is an error at the waves' line and column, naming it", () => {
  const text = fleet(`rollout:\n  waves:\n    - selector: { ring: canary }\n    - percent: 50\n`);
  // 3 remain after the canaries; 50% of 3 rounds up to 2: e is in no wave.
  assert.deepEqual(errorsOf(text), [
    "fleet.yaml:24:5: rollout.waves: cluster e is in no wave; add a wave that takes it (rest: true takes all that remain)",
  ]);
});

Deno.test("rollout: rest must come last; a wave takes one way; an empty wave; a bad field", () => {
  assert.deepEqual(
    errorsOf(fleet(`rollout:\n  waves:\n    - rest: true\n    - selector: { ring: canary }\n`)),
    [
      "fleet.yaml:24:13: rollout.waves.0.rest: rest takes every cluster that remains: it must be the last wave",
      "fleet.yaml:25:7: rollout.waves.1: wave 2 (ring=canary) takes no cluster: none matches, or all are in earlier waves",
    ],
  );
  assert.deepEqual(
    errorsOf(fleet(`rollout:\n  waves:\n    - { percent: 10, rest: true }\n`)),
    ["fleet.yaml:24:7: rollout.waves.0: a wave takes its clusters one way: percent or rest, not both"],
  );
  assert.deepEqual(
    errorsOf(fleet(`rollout:\n  waves:\n    - selector: { ring: edge }\n    - rest: true\n`)),
    [
      "fleet.yaml:24:7: rollout.waves.0: wave 1 (ring=edge) takes no cluster: none matches, or all are in earlier waves",
    ],
  );
  const bad = errorsOf(fleet(`rollout:\n  bake: soon\n  waves:\n    - rest: true\n`)).join("\n");
  assert.match(bad, /^fleet\.yaml:23:9: .*rollout\.bake/m);
});

Deno.test("rollout: waves in order — selector, a share of the remaining clusters, the rest; --wave replaces them", () => {
  const m = parseManifest(
    fleet(
      `rollout:\n  bake: 1m\n  maxParallel: 2\n  gates: [{ kind: HelmRelease, name: podinfo, namespace: apps }]\n  waves:\n    - { name: canary, selector: { ring: canary }, bake: 5s }\n    - percent: 34\n    - rest: true\n`,
    ),
    "fleet.yaml",
  );
  const { waves, unassigned } = assignWaves(m.rollout!, m.clusters);
  assert.deepEqual(unassigned, []);
  assert.deepEqual(
    waves.map((w) => [w.label, w.clusters, w.bakeMs, w.maxParallel, w.maxFailures]),
    [["canary", ["a", "b"], 5000, 2, 0], ["34%", ["c", "d"], 60_000, 2, 0], [
      "rest",
      ["e"],
      60_000,
      2,
      0,
    ]],
  );
  assert.deepEqual(waves[1].gates, [{
    kind: "HelmRelease",
    apiVersion: "helm.toolkit.fluxcd.io/v2",
    name: "podinfo",
    namespace: "apps",
  }]);
  const flags = wavesFromFlags(["ring=main", "rest"], m.rollout);
  assert.deepEqual(
    assignWaves(flags, m.clusters).waves.map((w) => [w.label, w.clusters, w.bakeMs]),
    [["ring=main", ["c", "d", "e"], 60_000], ["rest", ["a", "b"], 60_000]],
  );
  assert.throws(() => wavesFromFlags(["150%"], undefined), /--wave 150%: a percentage/);
  assert.throws(() => wavesFromFlags(["ring in (a)"], undefined), /--wave ring in \(a\): expected/);
});
