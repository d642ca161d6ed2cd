/**
 * The generated cluster key in plans (pure: no servers): a key that does not exist is named by
 * its kind and never shown; a key in the secret is shown with whether the repository accepts it;
 * a saved plan that showed another key than the secret holds is stale.
 */
import assert from "node:assert/strict";
import { planCluster } from "../lib/plan/plan.ts";
import { planAccessKey } from "../lib/providers/bitbucket-server/plan.ts";
import { describeClusterKey, generatedKeyKind } from "../lib/plan/cluster_key.ts";
import { staleReasons } from "../lib/plan/stale.ts";
import { describeStep } from "../lib/report/text.ts";
import { planDocument } from "../lib/report/json.ts";
import type { ClusterPlan, DesiredCluster } from "../lib/plan/types.ts";
import { converged, desired, EMPTY_CLUSTER, EMPTY_REPO } from "./helpers/fixtures.ts";
import { outputSchemaErrors } from "./helpers/output_schema.ts";
import { credentialsDigest } from "../lib/plan/credentials_digest.ts";

const KNOWN_HOSTS =
  "[ssh.example.com]:22 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n";
const PUB = "ecdsa-sha2-nistp384 AAAAE2VjZHNhLXNoYTItbmlzdHAzODQAAAAIbmlzdHAzODQ= fluxfleet-dev";
const FP = "SHA256:W2BnabMqGOpWMCCpu//S6P4slZ+hJkwzouG/zEq0h6A";

/** A generated-key cluster whose key apply makes (no key in the secret yet, or rotated). */
function generating(): DesiredCluster {
  const d = desired();
  return {
    ...d,
    secret: { ...d.secret, data: { known_hosts: KNOWN_HOSTS }, generateAtApply: "ecdsa-p384" },
  };
}

Deno.test("generated key kinds are named as the plan prints them", () => {
  assert.equal(generatedKeyKind({ algorithm: "ecdsa", ecdsaCurve: "p384" }), "ecdsa-p384");
  assert.equal(generatedKeyKind({ algorithm: "ecdsa" }), "ecdsa-p384");
  assert.equal(generatedKeyKind({ algorithm: "rsa", rsaBits: 4096 }), "rsa-4096");
  assert.equal(generatedKeyKind({ algorithm: "ed25519" }), "ed25519");
});

Deno.test("a key generated at apply: the secret step names its kind, never a value", () => {
  const plan = planCluster(generating(), EMPTY_REPO, EMPTY_CLUSTER);
  const secret = plan.steps.filter((s) => s.kind === "secret");
  assert.deepEqual(secret.map(describeStep), [
    "+ create secret flux-system/flux-system (identity, identity.pub, known_hosts; SSH key ecdsa-p384 generated at apply)",
  ]);
  assert.deepEqual(outputSchemaErrors(planDocument("f.yaml", [plan])), []);
});

Deno.test("rotating a generated key: an update of identity and identity.pub, whatever the digest says", () => {
  const d = generating();
  const { repo, cluster } = converged(desired());
  cluster.secret = { identity: "old-private", "identity.pub": PUB, known_hosts: KNOWN_HOSTS };
  cluster.secretDigest = credentialsDigest(cluster.secret);
  const plan = planCluster({ ...d, rotate: true }, repo, cluster);
  assert.deepEqual(plan.steps.map(describeStep), [
    "~ update secret flux-system/flux-system (identity, identity.pub changed; SSH key ecdsa-p384 generated at apply)",
  ]);
  assert.deepEqual(plan.warnings, [], "not reported as a change made in the cluster");
  // known_hosts that differs too is named with them.
  cluster.secret = { ...cluster.secret, known_hosts: "other\n" };
  assert.deepEqual(planCluster(d, repo, cluster).steps.map(describeStep), [
    "~ update secret flux-system/flux-system (identity, identity.pub, known_hosts changed; SSH key ecdsa-p384 generated at apply)",
  ]);
});

Deno.test("Bitbucket access key for a key generated at apply: registered then, replacing the cluster's old one", () => {
  const want = {
    label: "fluxfleet-dev-clusters-dev-flux-system",
    publicKey: null,
    permission: "read" as const,
    generatedKey: "ecdsa-p384",
  };
  assert.deepEqual(planAccessKey(want, []).map(describeStep), [
    "+ register SSH access key fluxfleet-dev-clusters-dev-flux-system (read-only) with the SSH key ecdsa-p384 generated at apply",
  ]);
  const old = { id: 7, label: want.label, publicKey: PUB, permission: "read" as const };
  const other = { id: 8, label: "someone-else", publicKey: PUB, permission: "read" as const };
  const [step] = planAccessKey(want, [old, other]);
  assert.equal(step.kind === "accessKey" && step.action, "replace");
  assert.deepEqual(step.kind === "accessKey" && step.remove, [7]);
});

Deno.test("what the plan says of the cluster key: unknown before apply, then shown with its acceptance", () => {
  const before = describeClusterKey({ generateAtApply: "ed25519", registeredByApi: false });
  assert.deepEqual(before.sshKey, {
    generatedAtApply: true,
    algorithm: "ed25519",
    publicKey: null,
    fingerprint: null,
  });
  assert.deepEqual(before.notes, [
    "after apply, add the cluster's public key to the repository as a read-only deploy key (shown then)",
  ]);
  // Bitbucket registers it: the access-key step says so, no note.
  assert.deepEqual(
    describeClusterKey({ generateAtApply: "ed25519", registeredByApi: true }).notes,
    [],
  );
  const pending = describeClusterKey({
    existing: {
      publicKey: PUB,
      fingerprint: FP,
      acceptance: { accepted: false, reason: "refused\x1b[31m\nby the server" },
    },
    registeredByApi: false,
  });
  assert.deepEqual(pending.notes, [
    `add this public key to the repository as a read-only deploy key: ${PUB} (fingerprint ${FP})`,
  ]);
  assert.deepEqual(pending.warnings, [
    `the cluster's SSH key ${FP} is not accepted yet by the repository (refused [31m by the server)`,
  ]);
  assert.equal(pending.sshKey.accepted, false);
  const long = describeClusterKey({
    existing: {
      publicKey: PUB,
      fingerprint: FP,
      acceptance: { accepted: false, reason: "x".repeat(10_000) },
    },
    registeredByApi: false,
  });
  assert.ok(long.sshKey.reason!.length < 400, "a server's answer is bounded");
  const accepted = describeClusterKey({
    existing: { publicKey: PUB, fingerprint: FP, acceptance: { accepted: true } },
    registeredByApi: false,
  });
  assert.deepEqual([accepted.notes, accepted.warnings], [[], []]);
  assert.deepEqual(accepted.sshKey, {
    generatedAtApply: false,
    publicKey: PUB,
    fingerprint: FP,
    accepted: true,
  });
  for (const r of [before, pending, accepted]) {
    const plan: ClusterPlan = {
      ...planCluster(desired(), EMPTY_REPO, EMPTY_CLUSTER),
      sshKey: r.sshKey,
    };
    assert.deepEqual(outputSchemaErrors(planDocument("f.yaml", [plan])), []);
  }
});

Deno.test("a saved plan that showed another key than the secret holds is stale; acceptance is not", () => {
  const base = planCluster(desired(), EMPTY_REPO, EMPTY_CLUSTER);
  const withKey = (publicKey: string | null, accepted?: boolean): ClusterPlan => ({
    ...base,
    observed: "sha256:" + "0".repeat(64),
    sshKey: publicKey === null
      ? { generatedAtApply: true, algorithm: "ecdsa-p384", publicKey: null, fingerprint: null }
      : { generatedAtApply: false, publicKey, fingerprint: FP, accepted: accepted ?? false },
  });
  const saved = (p: ClusterPlan) => ({ manifestDigest: "m", clusters: [p] });
  assert.deepEqual(staleReasons(saved(withKey(null)), "m", [withKey(null)]), []);
  assert.deepEqual(staleReasons(saved(withKey(PUB, false)), "m", [withKey(PUB, true)]), []);
  const other = PUB.replace("AAAAE2", "AAAAE3");
  const reasons = staleReasons(saved(withKey(PUB)), "m", [withKey(other)]);
  assert.equal(reasons.length, 1);
  assert.match(
    reasons[0],
    /cluster "dev": the SSH key in its secret is not the one the plan showed/,
  );
  assert.equal(staleReasons(saved(withKey(PUB)), "m", [withKey(null)]).length, 1);
});
