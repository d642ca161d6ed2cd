/**
 * The provider contract: the same scenarios against every provider's sandbox (issue 16). A
 * provider is a folder under lib/providers whose module passes these: a missing repository is
 * created, a group granted, a read-only key added and rotated — each once, a second run asks for
 * nothing that changes anything — and 401, 403 and 404 are said in words, without the secret. A
 * provider that cannot do something through an API says so (`can`), and the scenario checks
 * that it plans nothing instead.
 */
import assert from "node:assert/strict";
import type { Permission, ProviderModule, ProviderSession } from "../../lib/providers/types.ts";
import { publicKeyMaterial } from "../../lib/providers/types.ts";
import { fakeKey } from "../helpers/forge_git.ts";

export interface Held {
  keys: { key: string; permission: "read" | "write" }[];
  groups: Record<string, Permission>;
}

/** A provider's sandbox, as the contract drives it. */
export interface ContractSandbox {
  module: ProviderModule;
  /** What the provider does through its API. */
  can: { createRepository: boolean; grantGroups: boolean; registerKeys: boolean };
  /** A session for repository `name`, with the manifest's choices for it. */
  session(
    name: string,
    opts?: { groups?: { group: string; permission: Permission }[]; readWriteKey?: boolean },
  ): ProviderSession;
  /** Makes `name` exist, as the provider then finds it. */
  existing(name: string): Promise<void>;
  /** What the server holds for `name`; undefined when it does not exist. */
  holds(name: string): Held | undefined;
  /** Requests so far that changed something on the server. */
  mutations(): number;
  /** A group the server knows. */
  group: string;
  /** The provider's failures, each in words and without the secret it was given. */
  failures: { status: 401 | 403 | 404; run(): Promise<unknown>; words: RegExp; secret: string }[];
  close(): Promise<void>;
}

/** A well-formed ed25519 public key line (servers that parse keys accept it), never used to log in. */
function fakePublicKey(): string {
  return fakeKey("flux");
}

const LABEL = "fluxfleet-c0-clusters-c0-flux-system";

/** Carries out the steps as a run does; returns the warnings. */
export async function applyAll(
  session: ProviderSession,
  steps: Parameters<ProviderSession["apply"]>[0][],
  publicKey?: string,
): Promise<string[]> {
  const warnings: string[] = [];
  for (const step of steps) {
    await session.apply(step, { publicKey, warn: (w) => warnings.push(w) });
  }
  return warnings;
}

/** Registers the contract's tests for one provider. */
export function providerContract(kind: string, start: () => Promise<ContractSandbox>): void {
  const test = (name: string, fn: (sb: ContractSandbox) => Promise<void>) =>
    Deno.test(`provider contract, ${kind}: ${name}`, async () => {
      const sb = await start();
      try {
        assert.equal(sb.module.kind, kind);
        await fn(sb);
      } finally {
        await sb.close();
      }
    });

  test("a missing repository is created once, private; a second run finds it", async (sb) => {
    const s = sb.session("created");
    const facts = await s.observe();
    const plan = s.planRepository();
    if (!sb.can.createRepository) {
      // Without an API the repository is what git finds: nothing is planned for it.
      assert.equal(facts.exists, true);
      assert.deepEqual(plan.steps, []);
      return;
    }
    assert.equal(facts.exists, false);
    assert.deepEqual(plan.steps.map((st) => [st.kind, st.action]), [["repository", "create"]]);
    const created = await s.apply(plan.steps[0], { warn: () => {} });
    assert.equal(created?.exists, true);
    assert.ok(created?.httpUrl, "a created repository has its clone link");
    assert.ok(sb.holds("created"));
    const again = sb.session("created");
    assert.equal((await again.observe()).exists, true);
    assert.deepEqual(again.planRepository().steps, []);
  });

  test("a group is granted once, in neutral words", async (sb) => {
    await sb.existing("granted");
    const want = { groups: [{ group: sb.group, permission: "write" as const }] };
    const s = sb.session("granted", want);
    await s.observe();
    const { steps } = s.planRepository();
    if (!sb.can.grantGroups) {
      assert.deepEqual(steps, []);
      return;
    }
    assert.deepEqual(
      steps.map((st) => st.kind === "group" && [st.group, st.permission]),
      [[sb.group, "write"]],
    );
    assert.deepEqual(await applyAll(s, steps), []);
    assert.equal(sb.holds("granted")!.groups[sb.group], "write");
    const again = sb.session("granted", want);
    await again.observe();
    assert.deepEqual(again.planRepository().steps, []);
  });

  test("the cluster's key is added read-only, then rotated: the old one goes", async (sb) => {
    await sb.existing("keyed");
    const s = sb.session("keyed");
    await s.observe();
    assert.equal(s.registersKeys, sb.can.registerKeys);
    const first = fakePublicKey();
    const steps = s.planClusterAccess({ label: LABEL, publicKey: first });
    if (!sb.can.registerKeys) {
      // The user adds the key (the plan says which); the provider plans nothing.
      assert.deepEqual(steps, []);
      assert.equal(s.keyRegistered(first), false);
      return;
    }
    assert.deepEqual(
      steps.map((st) => st.kind === "accessKey" && [st.action, st.permission, st.remove]),
      [["create", "read", []]],
    );
    await applyAll(s, steps, first);
    assert.deepEqual(sb.holds("keyed")!.keys, [{
      key: publicKeyMaterial(first),
      permission: "read",
    }]);
    // Rotation: another key under the same label replaces it.
    const rotated = sb.session("keyed");
    await rotated.observe();
    assert.equal(rotated.keyRegistered(first), true);
    const second = fakePublicKey();
    const replace = rotated.planClusterAccess({ label: LABEL, publicKey: second });
    assert.deepEqual(replace.map((st) => st.kind === "accessKey" && st.action), ["replace"]);
    await applyAll(rotated, replace, second);
    assert.deepEqual(sb.holds("keyed")!.keys, [{
      key: publicKeyMaterial(second),
      permission: "read",
    }]);
  });

  test("a second run makes no call that changes anything", async (sb) => {
    const want = { groups: [{ group: sb.group, permission: "read" as const }] };
    const key = fakePublicKey();
    const first = sb.session("steady", want);
    await first.observe();
    await applyAll(first, first.planRepository().steps);
    await applyAll(first, first.planClusterAccess({ label: LABEL, publicKey: key }), key);
    const before = sb.mutations();
    const second = sb.session("steady", want);
    await second.observe();
    assert.deepEqual(second.planRepository().steps, []);
    assert.deepEqual(second.planClusterAccess({ label: LABEL, publicKey: key }), []);
    assert.equal(sb.mutations(), before);
  });

  test("401, 403 and 404 are said in words, without the secret", async (sb) => {
    assert.deepEqual(sb.failures.map((f) => f.status).sort(), [401, 403, 404]);
    for (const f of sb.failures) {
      const e = await f.run().then(() => assert.fail(`${f.status}: no failure`), (e: Error) => e);
      assert.match(e.message, f.words, `${f.status}: ${e.message}`);
      assert.ok(!e.message.includes(f.secret), `${f.status}: the secret is in the message`);
    }
  });
}
