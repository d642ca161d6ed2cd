/** The digests a saved plan pins (lib/plan/digest.ts): equal observations agree, any change shows. */
import assert from "node:assert/strict";
import { observedDigest } from "../lib/plan/digest.ts";
import { EMPTY_CLUSTER } from "./helpers/fixtures.ts";
import type { ObservedRepo } from "../lib/plan/types.ts";

const COMPONENTS = "clusters/c0/flux-system/gotk-components.yaml";
const SYNC = "clusters/c0/flux-system/gotk-sync.yaml";

function repo(components: string | null, sync: string | null): ObservedRepo {
  return {
    branchExists: true,
    head: "a".repeat(40),
    files: { [COMPONENTS]: components, [SYNC]: sync },
  };
}

Deno.test("observed digest: equal files read by other repositories (other strings) give the same digest", () => {
  const text = "kind: Namespace\n".repeat(1000);
  // Two strings of the same content, as two repositories' checkouts decode them.
  const copy = [...text].join("");
  assert.equal(
    observedDigest(repo(text, "a: 1\n"), EMPTY_CLUSTER),
    observedDigest(repo(copy, "a: 1\n"), EMPTY_CLUSTER),
  );
});

Deno.test("observed digest: one changed character, a missing file or an empty one each change it", () => {
  const text = "kind: Namespace\n".repeat(1000);
  const base = observedDigest(repo(text, "a: 1\n"), EMPTY_CLUSTER);
  const changed = [
    observedDigest(repo(text.replace("Namespace", "NameSpace"), "a: 1\n"), EMPTY_CLUSTER),
    observedDigest(repo(text, "a: 2\n"), EMPTY_CLUSTER),
    observedDigest(repo(null, "a: 1\n"), EMPTY_CLUSTER),
    observedDigest(repo("", "a: 1\n"), EMPTY_CLUSTER),
    // The same contents under each other's names.
    observedDigest(repo("a: 1\n", text), EMPTY_CLUSTER),
  ];
  for (const d of changed) assert.notEqual(d, base);
  assert.equal(new Set(changed).size, changed.length);
  assert.match(base, /^sha256:[0-9a-f]{64}$/);
});
