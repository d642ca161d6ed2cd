/**
 * Label selectors: a table following k8s.io/apimachinery/pkg/labels (selector_test.go's
 * TestSelectorMatches, TestSetSelectorParser, TestSelectorParse), and the cluster selection built
 * on it.
 */
import assert from "node:assert/strict";
import {
  formatRequirement,
  matchesSelector,
  parseSelector,
  SelectorError,
} from "../lib/cli/selector.ts";
import { selectClusters } from "../lib/cli/select.ts";
import type { ClusterConfig, Manifest } from "../lib/config/types.ts";

const matches: [selector: string, labels: Record<string, string>, match: boolean][] = [
  ["", { x: "y" }, true],
  ["x=y", { x: "y" }, true],
  ["x=y,z=w", { x: "y", z: "w" }, true],
  ["x!=y,z!=w", { x: "z", z: "a" }, true],
  ["notin=in", { notin: "in" }, true], // in and notin as a key and a value
  ["x", { x: "z" }, true],
  ["!x", { y: "z" }, true],
  ["x>1", { x: "2" }, true],
  ["x<1", { x: "0" }, true],
  ["x=z", {}, false],
  ["x=y", { x: "z" }, false],
  ["x=y,z=w", { x: "w", z: "w" }, false],
  ["x!=y,z!=w", { x: "z", z: "w" }, false],
  ["x", { y: "z" }, false],
  ["!x", { x: "z" }, false],
  ["x>1", { x: "0" }, false],
  ["x<1", { x: "2" }, false],
  ["x>1", { x: "v2" }, false],
  ["foo=bar,foobar=bar,baz=blah", { foo: "bar", baz: "blah" }, false],
  // != and notin also match clusters without the label (as kubectl).
  ["env!=prod", {}, true],
  ["env!=prod", { env: "prod" }, false],
  ["env notin (prod,staging)", { region: "eu" }, true],
  ["env notin (prod,staging)", { env: "staging" }, false],
  ["env in (prod,staging)", { env: "staging" }, true],
  ["env in (prod,staging)", {}, false],
  ["env==prod", { env: "prod" }, true],
  ["env=prod,region=eu", { env: "prod", region: "eu" }, true],
  ["env=prod,region=eu", { env: "prod", region: "us" }, false],
  // Empty values: `x=` is x="" ; `()` and a trailing comma stand for "".
  ["x=", { x: "" }, true],
  ["x=", { x: "a" }, false],
  ["x in ()", { x: "" }, true],
  ["x in (abc,)", { x: "" }, true],
  ["x notin (),y", { y: "" }, true],
  ["x notin (),y", { x: "", y: "" }, false],
  // Whitespace between tokens.
  ["foo  in\t (abc)", { foo: "abc" }, true],
  ["x notin\n (abc)", { x: "abd" }, true],
  ["\rx", { x: "1" }, true],
  [
    "this-is-a-dns.domain.com/key-with-dash",
    { "this-is-a-dns.domain.com/key-with-dash": "1" },
    true,
  ],
  ["0.1.2.domain/99 notin (10.10.100.1, tick.tack.clock)", { "0.1.2.domain/99": "x" }, true],
];

for (const [selector, labels, match] of matches) {
  Deno.test(
    `selector ${JSON.stringify(selector)} ${match ? "matches" : "does not match"} ${
      JSON.stringify(labels)
    }`,
    () => {
      assert.equal(matchesSelector(parseSelector(selector), labels), match);
    },
  );
}

const invalid: [selector: string, position: number, reason: RegExp][] = [
  ["x=a||y=b", 3, /label value "a\|\|y"/],
  ["x==a==b", 5, /found "==", expected "," or the end/],
  ["!x=a", 3, /found "=", expected "," or the end/],
  ["x<a", 3, /"<" needs an integer, not "a"/],
  ["x>", 3, /">" needs an integer, not ""/],
  ["env in (prod", 13, /found "end of string", expected "," or "\)"/],
  ["env in prod", 8, /found "prod", expected "\("/],
  ["env in (a b)", 11, /found "b", expected "," or "\)"/],
  ["env=prod,", 10, /expected a label key or "!" after ","/],
  [",env", 1, /found ",", expected a label key or "!"/],
  ["env=prod region=eu", 10, /found "region", expected "," or the end/],
  ["-bad=x", 1, /label key "-bad"/],
  [`${"a".repeat(64)}=x`, 1, /label key/],
  ["Example.com/x=y", 1, /prefix must be a DNS subdomain/],
  [`x=${"v".repeat(64)}`, 3, /label value/],
  ["env=(prod)", 5, /found "\(", expected a value/],
];

for (const [selector, position, reason] of invalid) {
  Deno.test(`selector ${JSON.stringify(selector)} is invalid at position ${position}`, () => {
    let error: unknown;
    try {
      parseSelector(selector);
    } catch (e) {
      error = e;
    }
    assert.ok(error instanceof SelectorError, `no SelectorError: ${error}`);
    assert.equal(error.position, position, error.message);
    assert.match(error.reason, reason);
  });
}

Deno.test("selector: canonical text, as kubectl prints it", () => {
  assert.deepEqual(
    parseSelector("x in (def,abc),y notin (jkl), z ,!w,v!=a,u==b,t>2").map(formatRequirement),
    ["x in (abc,def)", "y notin (jkl)", "z", "!w", "v!=a", "u==b", "t>2"],
  );
});

function cluster(name: string, labels: Record<string, string>): ClusterConfig {
  return { name, labels } as ClusterConfig;
}

const fleet: Manifest = {
  file: "fleet.yaml",
  clusters: [
    cluster("eu-prod", { env: "prod", region: "eu" }),
    cluster("us-prod", { env: "prod", region: "us" }),
    cluster("eu-dev", { env: "dev", region: "eu" }),
    cluster("lab", {}),
  ],
};
const names = (cs: ClusterConfig[]) => cs.map((c) => c.name);

Deno.test("selectClusters: kubectl's selectors over the clusters' labels, repeatable (and)", () => {
  assert.deepEqual(names(selectClusters(fleet, [], ["env=prod,region=eu"])), ["eu-prod"]);
  assert.deepEqual(names(selectClusters(fleet, [], ["env!=prod"])), ["eu-dev", "lab"]);
  assert.deepEqual(names(selectClusters(fleet, [], ["region notin (us)"])), [
    "eu-prod",
    "eu-dev",
    "lab",
  ]);
  assert.deepEqual(names(selectClusters(fleet, [], ["!env"])), ["lab"]);
  assert.deepEqual(names(selectClusters(fleet, [], ["env", "region=eu"])), ["eu-prod", "eu-dev"]);
  assert.deepEqual(names(selectClusters(fleet, ["us-prod", "lab"], ["env"])), ["us-prod"]);
  assert.deepEqual(names(selectClusters(fleet, [], [])), names(fleet.clusters));
});

Deno.test("selectClusters: nothing matches → the labels in use; bad syntax → flag and position", () => {
  assert.throws(
    () => selectClusters(fleet, [], ["env=staging"]),
    {
      message: 'no cluster in fleet.yaml matches --selector "env=staging"; labels in use: ' +
        "env=dev (eu-dev), env=prod (eu-prod, us-prod), region=eu (eu-prod, eu-dev), " +
        "region=us (us-prod)",
    },
  );
  assert.throws(
    () => selectClusters(fleet, ["lab"], ["env"]),
    {
      message:
        'no cluster in fleet.yaml matches --cluster lab and --selector "env"; no cluster has labels',
    },
  );
  assert.throws(
    () => selectClusters(fleet, [], ["env=prod", "region in (eu"]),
    {
      message:
        '--selector: "region in (eu" at position 14: found "end of string", expected "," or ")"',
    },
  );
  assert.throws(
    () => selectClusters(fleet, ["nope"], []),
    { message: '--cluster: no cluster named "nope" in fleet.yaml' },
  );
});
