/**
 * The commit cache's entries (lib/git/commit_cache.ts): what is kept is given back only for the
 * same repository, branch and commit, whole and unaltered; the advertisement's branch commit.
 */
import assert from "node:assert/strict";
import { plantTempFiles } from "./helpers/cache_temps.ts";
import {
  formatEntry,
  loadCommitFiles,
  MAX_ENTRY_BYTES,
  parseEntry,
  saveCommitFiles,
} from "../lib/git/commit_cache.ts";
import { advertisedOid } from "../lib/git/transports/isomorphic/advertised_head.ts";
import { createHash } from "node:crypto";

const URL_A = "https://git.example.com/fleet.git";
const C1 = "1".repeat(40);
const C2 = "2".repeat(40);
const keyOf = (url: string, branch: string) =>
  createHash("sha256").update(`${url}\n${branch}`).digest("hex");

const files = () =>
  new Map<string, string | null>([
    ["clusters/a/flux-system/gotk-components.yaml", "big: same\n"],
    ["clusters/b/flux-system/gotk-components.yaml", "big: same\n"],
    ["clusters/a/flux-system/gotk-sync.yaml", "sync: a\n"],
    ["clusters/b/flux-system/gotk-sync.yaml", null],
  ]);

Deno.test("an entry gives back its files for the same repository, branch and commit only", () => {
  const text = formatEntry(URL_A, "main", C1, files());
  // Each distinct text once.
  assert.equal(text.split("big: same").length - 1, 1);
  assert.deepEqual(parseEntry(text, keyOf(URL_A, "main"), C1), files());
  assert.equal(parseEntry(text, keyOf(URL_A, "main"), C2), undefined);
  assert.equal(parseEntry(text, keyOf(URL_A, "dev"), C1), undefined);
  assert.equal(
    parseEntry(text, keyOf("https://other.example.com/fleet.git", "main"), C1),
    undefined,
  );
});

Deno.test("a damaged, cut or foreign entry is no entry", () => {
  const key = keyOf(URL_A, "main");
  const text = formatEntry(URL_A, "main", C1, files());
  assert.equal(parseEntry(text.replace("sync: a", "sync: b"), key, C1), undefined);
  assert.equal(parseEntry(text.slice(0, -10), key, C1), undefined);
  assert.equal(parseEntry(text.split("\n")[1], key, C1), undefined);
  assert.equal(parseEntry("", key, C1), undefined);
  // Well formed, with its checksum, but pointing at a text it does not have.
  const body = JSON.stringify({ format: 1, key, commit: C1, files: { "a.yaml": 3 }, texts: ["x"] });
  const sum = createHash("sha256").update(body).digest("hex");
  assert.equal(parseEntry(`${sum}\n${body}`, key, C1), undefined);
  const bad = JSON.stringify({ format: 1, key, commit: C1, files: { "a.yaml": 0 }, texts: [7] });
  assert.equal(
    parseEntry(`${createHash("sha256").update(bad).digest("hex")}\n${bad}`, key, C1),
    undefined,
  );
});

Deno.test("saved privately, merged for the same commit, replaced by another commit", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const cache = `${dir}/commits`;
    await saveCommitFiles(cache, URL_A, "main", C1, new Map([["a", "1\n"]]));
    await saveCommitFiles(cache, URL_A, "main", C1, new Map([["b", null]]));
    assert.deepEqual(
      await loadCommitFiles(cache, URL_A, "main", C1),
      new Map([["a", "1\n"], ["b", null]]),
    );
    assert.equal((await Deno.stat(cache)).mode! & 0o777, 0o700);
    const [entry] = [...Deno.readDirSync(cache)];
    assert.equal((await Deno.stat(`${cache}/${entry.name}`)).mode! & 0o777, 0o600);
    await saveCommitFiles(cache, URL_A, "main", C2, new Map([["c", "3\n"]]));
    assert.equal(await loadCommitFiles(cache, URL_A, "main", C1), undefined);
    assert.deepEqual(await loadCommitFiles(cache, URL_A, "main", C2), new Map([["c", "3\n"]]));
    // One file per repository and branch, no temporary file left.
    assert.equal([...Deno.readDirSync(cache)].length, 1);
    // Too large to keep: not written (the older entry stays as it was).
    await saveCommitFiles(cache, URL_A, "main", C1, new Map([["x", "y".repeat(MAX_ENTRY_BYTES)]]));
    assert.deepEqual(await loadCommitFiles(cache, URL_A, "main", C2), new Map([["c", "3\n"]]));
    assert.equal([...Deno.readDirSync(cache)].length, 1);
    // A cache that cannot be written does not fail the run.
    await Deno.writeTextFile(`${dir}/file`, "");
    await saveCommitFiles(`${dir}/file/commits`, URL_A, "main", C1, new Map([["a", "1"]]));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

function pkt(s: string): string {
  return (s.length + 4).toString(16).padStart(4, "0") + s;
}

Deno.test("the branch's commit is read from a v1 advertisement only", () => {
  const enc = (s: string) => new TextEncoder().encode(s);
  const adv = pkt("# service=git-upload-pack\n") + "0000" +
    pkt(`${C1} HEAD\0multi_ack side-band-64k\n`) + pkt(`${C2} refs/heads/main\n`) +
    pkt(`${"3".repeat(40)} refs/heads/mainly\n`) + "0000";
  assert.equal(advertisedOid(enc(adv), "refs/heads/main"), C2);
  assert.equal(advertisedOid(enc(adv), "refs/heads/dev"), undefined);
  // A cut advertisement, one in protocol v2, or a refs line without an object id: none.
  assert.equal(advertisedOid(enc(adv.slice(0, -12)), "refs/heads/main"), undefined);
  assert.equal(advertisedOid(enc(pkt("version 2\n") + "0000"), "refs/heads/main"), undefined);
  assert.equal(
    advertisedOid(enc(pkt("nothex refs/heads/main\n") + "0000"), "refs/heads/main"),
    undefined,
  );
});

Deno.test("an entry that is a link, a FIFO or too large is no entry (not followed, not waited on, not read)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const cache = `${dir}/commits`;
    await saveCommitFiles(cache, URL_A, "main", C1, new Map([["a", "1\n"]]));
    const [entry] = [...Deno.readDirSync(cache)];
    const path = `${cache}/${entry.name}`;
    // The same valid entry, reached through a link.
    await Deno.rename(path, `${dir}/elsewhere.json`);
    await Deno.symlink(`${dir}/elsewhere.json`, path);
    assert.equal(await loadCommitFiles(cache, URL_A, "main", C1), undefined);
    await Deno.remove(path);
    // Larger than an entry may be: not read.
    await Deno.writeFile(path, new Uint8Array(MAX_ENTRY_BYTES + 1));
    assert.equal(await loadCommitFiles(cache, URL_A, "main", C1), undefined);
    await Deno.remove(path);
    const mkfifo = await new Deno.Command("mkfifo", { args: [path] }).output();
    assert.ok(mkfifo.success);
    assert.equal(await loadCommitFiles(cache, URL_A, "main", C1), undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a folder or entry others may write is not used: a forged entry cannot make a plan see the files it wants", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const cache = `${dir}/commits`;
    await saveCommitFiles(cache, URL_A, "main", C1, new Map([["a", "1\n"]]));
    const path = `${cache}/${keyOf(URL_A, "main")}.json`;
    assert.deepEqual(await loadCommitFiles(cache, URL_A, "main", C1), new Map([["a", "1\n"]]));
    // The entry writable by the group or by anyone (someone else could have written it): not read.
    for (const mode of [0o620, 0o602]) {
      await Deno.chmod(path, mode);
      assert.equal(await loadCommitFiles(cache, URL_A, "main", C1), undefined, mode.toString(8));
    }
    await Deno.chmod(path, 0o600);
    // The folder writable by others: not read, and nothing written there.
    await Deno.chmod(cache, 0o777);
    assert.equal(await loadCommitFiles(cache, URL_A, "main", C1), undefined);
    await saveCommitFiles(
      cache,
      "https://other.example.com/x.git",
      "main",
      C1,
      new Map([["b", "2"]]),
    );
    assert.equal([...Deno.readDirSync(cache)].length, 1, "nothing written to a shared folder");
    await Deno.chmod(cache, 0o700);
    assert.deepEqual(await loadCommitFiles(cache, URL_A, "main", C1), new Map([["a", "1\n"]]));
    // A link to the private folder: not followed.
    await Deno.symlink(cache, `${dir}/link`);
    assert.equal(await loadCommitFiles(`${dir}/link`, URL_A, "main", C1), undefined);
    // Another user's entry or folder (root can hand them over; CI runs as root).
    if (Deno.uid() === 0) {
      await Deno.chown(path, 1234, 1234);
      assert.equal(await loadCommitFiles(cache, URL_A, "main", C1), undefined, "another's entry");
      await Deno.chown(path, 0, 0);
      await Deno.chown(cache, 1234, 1234);
      assert.equal(await loadCommitFiles(cache, URL_A, "main", C1), undefined, "another's folder");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("temporary files killed runs left behind (an hour old) go when the run saves an entry", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const cache = `${dir}/commits`;
    await Deno.mkdir(cache, { mode: 0o700 });
    const { fresh } = await plantTempFiles(cache); // and a stale one, which must go
    const twoHours = new Date(Date.now() - 7_200_000);
    await Deno.writeTextFile(`${cache}/unrelated.tmp`, "not ours");
    await Deno.utime(`${cache}/unrelated.tmp`, twoHours, twoHours);
    await saveCommitFiles(cache, URL_A, "main", C1, new Map([["a", "1\n"]]));
    const left = [...Deno.readDirSync(cache)].map((e) => e.name).sort();
    assert.deepEqual(left, [`${keyOf(URL_A, "main")}.json`, fresh, "unrelated.tmp"].sort());
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
