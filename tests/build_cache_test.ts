/** lib/manifests/build_cache.ts: entries by inputs, nothing read that is not a whole entry. */
import assert from "node:assert/strict";
import { plantTempFiles } from "./helpers/cache_temps.ts";
import { createHash } from "node:crypto";
import {
  buildCacheDir,
  buildKey,
  formatBuild,
  kubectlIdentity,
  loadBuild,
  MAX_ENTRIES,
  parseBuild,
  saveBuild,
} from "../lib/manifests/build_cache.ts";
import { setDebugSink } from "../lib/util/debug.ts";

const BUILD = {
  built: "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: flux-system\n",
  objects: [{ apiVersion: "v1", kind: "Namespace", metadata: { name: "flux-system" } }],
};
const KEY = "a".repeat(64);

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "fluxfleet-build-cache-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("the folder: FLUXFLEET_BUILD_CACHE, off, else under XDG_CACHE_HOME or ~/.cache", () => {
  const saved = ["FLUXFLEET_BUILD_CACHE", "XDG_CACHE_HOME", "HOME"].map((
    k,
  ) => [k, Deno.env.get(k)]);
  try {
    Deno.env.set("FLUXFLEET_BUILD_CACHE", "/somewhere");
    assert.equal(buildCacheDir(), "/somewhere");
    Deno.env.set("FLUXFLEET_BUILD_CACHE", "off");
    assert.equal(buildCacheDir(), undefined);
    Deno.env.delete("FLUXFLEET_BUILD_CACHE");
    Deno.env.set("XDG_CACHE_HOME", "/xdg");
    assert.equal(buildCacheDir(), "/xdg/fluxfleet/builds");
    Deno.env.delete("XDG_CACHE_HOME");
    Deno.env.set("HOME", "/home/u");
    assert.equal(buildCacheDir(), "/home/u/.cache/fluxfleet/builds");
    Deno.env.delete("HOME");
    assert.equal(buildCacheDir(), undefined);
  } finally {
    for (const [k, v] of saved) v === undefined ? Deno.env.delete(k!) : Deno.env.set(k!, v);
  }
});

Deno.test("the key changes with any file's name or content and with the kubectl, not with order", () => {
  const files: [string, string | Uint8Array][] = [
    ["rbac.yaml", "kind: ClusterRole\n"],
    ["source-controller.yaml", new TextEncoder().encode("kind: Deployment\n")],
  ];
  const key = buildKey("kubectl-1", files);
  assert.match(key, /^[0-9a-f]{64}$/);
  assert.equal(buildKey("kubectl-1", [...files].reverse()), key);
  // Bytes and text of the same content are the same input.
  assert.equal(
    buildKey("kubectl-1", [files[0], ["source-controller.yaml", "kind: Deployment\n"]]),
    key,
  );
  assert.notEqual(buildKey("kubectl-2", files), key);
  assert.notEqual(
    buildKey("kubectl-1", [files[0], ["source-controller.yaml", "kind: Service\n"]]),
    key,
  );
  assert.notEqual(
    buildKey("kubectl-1", [files[0], ["helm-controller.yaml", "kind: Deployment\n"]]),
    key,
  );
  assert.notEqual(buildKey("kubectl-1", [files[0]]), key);
});

Deno.test("an entry is read back only whole, with its checksum, for its own key", () => {
  const text = formatBuild(KEY, BUILD);
  assert.deepEqual(parseBuild(text, KEY), BUILD);
  assert.equal(parseBuild(text, "b".repeat(64)), undefined, "another key");
  assert.equal(parseBuild(text.slice(0, -1), KEY), undefined, "cut short");
  assert.equal(parseBuild(text.replace("flux-system", "flux-systen"), KEY), undefined, "changed");
  assert.equal(parseBuild("", KEY), undefined);
  // Bodies with their own right checksum that are not entries of this format.
  const withSum = (json: string) => `${createHash("sha256").update(json).digest("hex")}\n${json}`;
  assert.deepEqual(
    parseBuild(withSum(JSON.stringify({ format: 1, key: KEY, ...BUILD })), KEY),
    BUILD,
  );
  for (
    const body of [
      { format: 2, key: KEY, ...BUILD },
      { format: 1, key: KEY, built: 1, objects: BUILD.objects },
      { format: 1, key: KEY, built: BUILD.built, objects: {} },
      { format: 1, key: KEY, built: BUILD.built, objects: [null] },
      { format: 1, key: KEY, built: BUILD.built, objects: [{ metadata: {} }] },
      [KEY, BUILD],
    ]
  ) {
    const json = JSON.stringify(body);
    assert.equal(parseBuild(withSum(json), KEY), undefined, json);
  }
  assert.equal(parseBuild(withSum("{not json"), KEY), undefined);
});

Deno.test("saved private and read back; a link, a FIFO, a damaged or other file is no entry", async () => {
  await withDir(async (root) => {
    const dir = `${root}/builds`;
    assert.equal(await loadBuild(dir, KEY), undefined, "no folder yet");
    await saveBuild(dir, KEY, BUILD);
    assert.deepEqual(await loadBuild(dir, KEY), BUILD);
    assert.equal((await Deno.stat(dir)).mode! & 0o777, 0o700);
    assert.equal((await Deno.stat(`${dir}/${KEY}.json`)).mode! & 0o777, 0o600);
    assert.deepEqual(
      [...Deno.readDirSync(dir)].map((e) => e.name),
      [`${KEY}.json`],
      "no temp left",
    );

    // A symbolic link to a whole entry is not followed.
    const other = "c".repeat(64);
    await Deno.writeTextFile(`${root}/elsewhere.json`, formatBuild(other, BUILD));
    await Deno.symlink(`${root}/elsewhere.json`, `${dir}/${other}.json`);
    assert.equal(await loadBuild(dir, other), undefined);
    // A FIFO is not opened (that would wait for a writer).
    const fifo = "d".repeat(64);
    const mk = await new Deno.Command("mkfifo", { args: [`${dir}/${fifo}.json`] }).output();
    assert.ok(mk.success);
    assert.equal(await loadBuild(dir, fifo), undefined);
    // Damaged: one byte changed.
    const path = `${dir}/${KEY}.json`;
    const text = await Deno.readTextFile(path);
    await Deno.writeTextFile(path, text.replace("Namespace", "Namespacf"));
    assert.equal(await loadBuild(dir, KEY), undefined);
    // Not UTF-8.
    await Deno.writeFile(path, new Uint8Array([0xff, 0xfe, 0x0a]));
    assert.equal(await loadBuild(dir, KEY), undefined);
  });
});

Deno.test("a folder or entry others may write is not used: nothing read from it or written to it", async () => {
  await withDir(async (root) => {
    const dir = `${root}/builds`;
    await saveBuild(dir, KEY, BUILD);
    assert.deepEqual(await loadBuild(dir, KEY), BUILD);
    const path = `${dir}/${KEY}.json`;
    // The entry writable by the group (or anyone): not read.
    for (const mode of [0o620, 0o602]) {
      await Deno.chmod(path, mode);
      assert.equal(await loadBuild(dir, KEY), undefined, mode.toString(8));
    }
    await Deno.chmod(path, 0o600);
    assert.deepEqual(await loadBuild(dir, KEY), BUILD);
    // The folder writable by others (someone could have swapped an entry in): not read, not written,
    // and --debug says why.
    await Deno.chmod(dir, 0o777);
    const lines: string[] = [];
    setDebugSink((l) => lines.push(l));
    try {
      assert.equal(await loadBuild(dir, KEY), undefined);
    } finally {
      setDebugSink(undefined);
    }
    assert.deepEqual(lines, [
      `debug: build cache ${dir}: not a folder of this user's that only it may write, not used\n`,
    ]);
    const other = "e".repeat(64);
    await saveBuild(dir, other, BUILD);
    assert.equal(await Deno.lstat(`${dir}/${other}.json`).catch(() => undefined), undefined);
    await Deno.chmod(dir, 0o700);
    assert.deepEqual(await loadBuild(dir, KEY), BUILD);
    // The folder a link to a private folder: not followed.
    await Deno.symlink(dir, `${root}/link`);
    assert.equal(await loadBuild(`${root}/link`, KEY), undefined);
    // Owned by someone else (root can hand it over; the test runs as root under CI).
    if (Deno.uid() === 0) {
      await Deno.chown(path, 1234, 1234);
      assert.equal(await loadBuild(dir, KEY), undefined, "another user's entry");
      await Deno.chown(path, 0, 0);
      await Deno.chown(dir, 1234, 1234);
      assert.equal(await loadBuild(dir, KEY), undefined, "another user's folder");
    }
  });
});

Deno.test("a cache that cannot be written is only slower: saving never throws", async () => {
  await withDir(async (root) => {
    await Deno.writeTextFile(`${root}/file`, "");
    // The folder's place is a file: mkdir fails, and the run goes on.
    await saveBuild(`${root}/file/builds`, KEY, BUILD);
    assert.equal(await loadBuild(`${root}/file/builds`, KEY), undefined);
  });
});

Deno.test(`past ${MAX_ENTRIES} entries, those unused the longest are removed`, async () => {
  await withDir(async (dir) => {
    const keys = Array.from({ length: MAX_ENTRIES }, (_, i) => i.toString(16).padStart(64, "0"));
    const old = new Date(Date.now() - 3_600_000);
    for (const [i, key] of keys.entries()) {
      await saveBuild(dir, key, BUILD);
      // Written in order, an hour ago (one second apart).
      const at = new Date(old.getTime() + i * 1000);
      await Deno.utime(`${dir}/${key}.json`, at, at);
    }
    // The oldest written is used now: it stays; the second oldest goes when one more is saved.
    assert.deepEqual(await loadBuild(dir, keys[0]), BUILD);
    await Deno.writeTextFile(`${dir}/unrelated.txt`, "not an entry");
    // Temporary files: one a killed run left two hours ago, one being written now.
    const { stale, fresh } = await plantTempFiles(dir);
    await saveBuild(dir, "f".repeat(64), BUILD);
    const left = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assert.equal(left.length, MAX_ENTRIES + 2);
    assert.ok(!left.includes(stale), "a leftover temporary file is removed");
    assert.ok(left.includes(fresh), "one being written is not");
    assert.ok(left.includes(`${keys[0]}.json`), "the entry just used stays");
    assert.ok(!left.includes(`${keys[1]}.json`), "the one unused the longest is gone");
    assert.ok(left.includes(`${"f".repeat(64)}.json`));
    assert.ok(left.includes("unrelated.txt"), "other files are left alone");
  });
});

Deno.test("kubectl is named by the first executable one on PATH, and changes when it is replaced", async () => {
  await withDir(async (dir) => {
    await Deno.mkdir(`${dir}/a`);
    await Deno.mkdir(`${dir}/b`);
    await Deno.mkdir(`${dir}/c`);
    assert.equal(await kubectlIdentity(`${dir}/a:${dir}/b`), undefined, "none");
    // Not executable, or a folder: skipped, as the system skips them.
    await Deno.writeTextFile(`${dir}/a/kubectl`, "#!/bin/sh\n", { mode: 0o644 });
    await Deno.mkdir(`${dir}/b/kubectl`);
    await Deno.writeTextFile(`${dir}/c/kubectl`, "#!/bin/sh\necho one\n", { mode: 0o755 });
    const first = await kubectlIdentity(`:${dir}/a:${dir}/b:${dir}/c`);
    assert.ok(first?.includes(`${dir}/c/kubectl`), first);
    // A link is named by what it points to.
    await Deno.mkdir(`${dir}/d`);
    await Deno.symlink(`${dir}/c/kubectl`, `${dir}/d/kubectl`);
    assert.equal(await kubectlIdentity(`${dir}/d`), first);
    // Upgraded in place (another size and time), or another file put there: another identity.
    await Deno.writeTextFile(`${dir}/c/kubectl`, "#!/bin/sh\necho two, longer\n");
    const upgraded = await kubectlIdentity(`${dir}/c`);
    assert.notEqual(upgraded, first);
    await Deno.remove(`${dir}/c/kubectl`);
    await Deno.writeTextFile(`${dir}/c/kubectl`, "#!/bin/sh\necho two, longer\n", { mode: 0o755 });
    const at = new Date(2020, 0, 1);
    await Deno.utime(`${dir}/c/kubectl`, at, at);
    const replaced = await kubectlIdentity(`${dir}/c`);
    assert.notEqual(replaced, upgraded);
    // Rewritten in place with the same size and its old modification time put back (as `tar`
    // or `cp -p` do): the inode's change time still tells (Deno gives it in whole seconds).
    await new Promise((r) => setTimeout(r, 1100));
    await Deno.writeTextFile(`${dir}/c/kubectl`, "#!/bin/sh\necho six, longer\n");
    await Deno.utime(`${dir}/c/kubectl`, at, at);
    assert.equal(
      (await Deno.stat(`${dir}/c/kubectl`)).size,
      "#!/bin/sh\necho two, longer\n".length,
    );
    assert.notEqual(await kubectlIdentity(`${dir}/c`), replaced);
  });
});
