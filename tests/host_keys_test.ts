import assert from "node:assert/strict";
import { type KnownHosts, sharedHostKeys } from "../lib/apply/host_keys.ts";
import type { HostKeySettings } from "../lib/apply/host_keys.ts";

const scan: HostKeySettings = { knownHosts: { scan: true } } as HostKeySettings;
const pinned: HostKeySettings = { knownHosts: { lines: "h ssh-ed25519 AAAA" } } as HostKeySettings;

Deno.test("sharedHostKeys: one scan per server and setting in a run, a failed one tried again", async () => {
  const asked: string[] = [];
  let fail = true;
  const learn = sharedHostKeys((git, host, port): Promise<KnownHosts> => {
    asked.push(`${host}:${port}:${"scan" in git.knownHosts ? "scan" : "pinned"}`);
    if (host === "flaky" && fail) {
      fail = false;
      return Promise.reject(new Error("no answer"));
    }
    return Promise.resolve({ text: `${host} key\n` });
  });
  // Clusters of one host at the same moment share the one scan.
  const same = await Promise.all([1, 2, 3].map(() => learn(scan, "git.example", 22)));
  assert.deepEqual(same.map((k) => k.text), Array(3).fill("git.example key\n"));
  assert.deepEqual(asked, ["git.example:22:scan"]);
  // Another port, or another manifest setting, is another server as far as trust goes.
  await learn(scan, "git.example", 2222);
  await learn(pinned, "git.example", 22);
  assert.equal(asked.length, 3);
  // A failure is not remembered: the next cluster tries again.
  await assert.rejects(learn(scan, "flaky", 22), /no answer/);
  assert.equal((await learn(scan, "flaky", 22)).text, "flaky key\n");
  assert.equal(asked.filter((a) => a.startsWith("flaky")).length, 2);
});
