/** The release manifest from a URL: downloaded once, cached with its checksum, pins enforced. */
import assert from "node:assert/strict";
import { loadManifests, type ManifestSource } from "../../lib/manifests/source.ts";

/** The install.yaml text; a release archive or folder is an error here. */
async function loadInstallManifest(src: ManifestSource | string): Promise<string> {
  const m = await loadManifests(src);
  if (m.kind !== "install") {
    throw new Error(
      `flux.manifests: ${m.source} is a release manifests archive, not an install.yaml`,
    );
  }
  return m.text;
}
import { buildReleaseComponents, KUBECTL_MISSING } from "../../lib/manifests/release.ts";
import { FLUX_DEFAULT_OPTIONS } from "../helpers/flux_written.ts";
import { missing } from "../helpers/tools.ts";
import { setDebugSink } from "../../lib/util/debug.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const INSTALL = await Deno.readTextFile(`${ROOT}fixtures/flux-install.yaml`);

async function sha256(text: string): Promise<string> {
  const h = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(h), (b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test("a release URL is downloaded once, then read from the cache; pins and corruption are handled", async () => {
  let downloads = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
    downloads++;
    return new Response(INSTALL);
  });
  const cacheDir = await Deno.makeTempDir({ prefix: "fluxfleet-cache-" });
  try {
    const source =
      `http://127.0.0.1:${server.addr.port}/fluxcd/flux2/releases/download/v2.4.0/install.yaml`;
    assert.equal(await loadInstallManifest({ source, cacheDir, allowInsecureHttp: true }), INSTALL);
    assert.equal(await loadInstallManifest({ source, cacheDir, allowInsecureHttp: true }), INSTALL);
    assert.equal(downloads, 1, "the second run uses the cache");
    const pin = await sha256(INSTALL);
    assert.equal(
      await loadInstallManifest({ source, cacheDir, allowInsecureHttp: true, sha256: pin }),
      INSTALL,
    );
    await assert.rejects(
      loadInstallManifest({ source, cacheDir, allowInsecureHttp: true, sha256: "0".repeat(64) }),
      new RegExp(
        `flux.manifestsSha256: the cached copy of .* has sha256 ${pin}, the manifest pins 0{64}`,
      ),
    );
    // A damaged cache file is noticed and downloaded again.
    for await (const e of Deno.readDir(cacheDir)) {
      if (e.name.endsWith(".yaml")) await Deno.writeTextFile(`${cacheDir}/${e.name}`, "garbage");
    }
    assert.equal(await loadInstallManifest({ source, cacheDir, allowInsecureHttp: true }), INSTALL);
    assert.equal(downloads, 2);
  } finally {
    await server.shutdown();
    await Deno.remove(cacheDir, { recursive: true });
  }
});

Deno.test("a local manifest with a wrong pin is refused", async () => {
  await assert.rejects(
    loadInstallManifest({ source: `${ROOT}fixtures/flux-install.yaml`, sha256: "f".repeat(64) }),
    /flux.manifestsSha256: .*flux-install.yaml has sha256 [0-9a-f]{64}, the manifest pins f{64}/,
  );
});

// ---------------------------------------------------------------------------------------------
// Release manifests archives (manifests.tar.gz), as flux uses them.

const RELEASE_DIR = `${ROOT}fixtures/flux-manifests`;

async function run(cmd: string[], cwd: string) {
  const out = await new Deno.Command(cmd[0], { args: cmd.slice(1), cwd, stdin: "null" }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
}

async function releaseNames(): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(RELEASE_DIR)) if (e.name.endsWith(".yaml")) names.push(e.name);
  return names.sort();
}

/** A manifests.tar.gz as flux2's manifests/scripts/bundle.sh makes it: flat file names. */
async function releaseArchive(dir: string): Promise<string> {
  const archive = `${dir}/manifests.tar.gz`;
  await run(["tar", "-czf", archive, ...await releaseNames()], RELEASE_DIR);
  return archive;
}

Deno.test({
  name: "a .tar.gz made by the system tar reads as the release folder does, and builds the same",
  ignore: missing("kubectl"),
}, async () => {
  const dir = await Deno.makeTempDir({ prefix: "fluxfleet-tar-" });
  try {
    const archive = await releaseArchive(dir);
    // Another common shape: `tar -C dir .` (a ./ entry, ./-prefixed names, a README beside).
    await Deno.mkdir(`${dir}/tree`);
    for (const n of await releaseNames()) {
      await Deno.copyFile(`${RELEASE_DIR}/${n}`, `${dir}/tree/${n}`);
    }
    await Deno.writeTextFile(`${dir}/tree/README.md`, "not a manifest\n");
    const dotted = `${dir}/dotted.tgz`;
    await run(["tar", "-czf", dotted, "-C", `${dir}/tree`, "."], dir);

    const fromDir = await loadManifests(RELEASE_DIR);
    assert.equal(fromDir.kind, "release");
    for (const src of [archive, dotted]) {
      const m = await loadManifests(src);
      assert.equal(m.kind, "release", src);
      if (m.kind !== "release" || fromDir.kind !== "release") continue;
      assert.deepEqual([...m.files.keys()].sort(), await releaseNames());
      for (const [name, data] of fromDir.files) assert.deepEqual(m.files.get(name), data, name);
    }
    const a = await loadManifests(archive);
    if (a.kind !== "release" || fromDir.kind !== "release") throw new Error("not a release");
    const built = await buildReleaseComponents(a, FLUX_DEFAULT_OPTIONS);
    assert.equal(
      built.content,
      (await buildReleaseComponents(fromDir, FLUX_DEFAULT_OPTIONS)).content,
    );
    assert.match(built.content, /^---\n# This manifest was generated by flux\. DO NOT EDIT\.\n/);
    // An install.yaml source is still read as text; a release is not an install.yaml.
    await assert.rejects(
      loadInstallManifest(archive),
      /is a release manifests archive, not an install\.yaml/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("archives that reach outside their folder or hold links are refused", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fluxfleet-tar-" });
  try {
    await Deno.mkdir(`${dir}/work`);
    await Deno.writeTextFile(`${dir}/x`, "kind: Evil\n");
    // -P keeps the `../x` member name (GNU tar strips it otherwise).
    await run(["tar", "-czPf", `${dir}/dotdot.tar.gz`, "../x"], `${dir}/work`);
    await assert.rejects(
      loadManifests(`${dir}/dotdot.tar.gz`),
      /flux\.manifests: .*dotdot\.tar\.gz is not a usable \.tar\.gz: entry "\.\.\/x": "\.\." is not allowed in paths/,
    );
    await run(["tar", "-czPf", `${dir}/absolute.tar.gz`, `${dir}/x`], dir);
    await assert.rejects(loadManifests(`${dir}/absolute.tar.gz`), /absolute paths are not allowed/);
    await Deno.symlink("/etc/passwd", `${dir}/work/rbac.yaml`);
    await run(["tar", "-czf", `${dir}/link.tar.gz`, "rbac.yaml"], `${dir}/work`);
    await assert.rejects(
      loadManifests(`${dir}/link.tar.gz`),
      /"rbac\.yaml": links are not allowed/,
    );
    await Deno.writeTextFile(`${dir}/garbage.tar.gz`, "this is not gzip");
    await assert.rejects(loadManifests(`${dir}/garbage.tar.gz`), /is not a usable \.tar\.gz/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a release archive URL is downloaded once and cached; the pin is over the archive bytes", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fluxfleet-tar-" });
  const archive = await Deno.readFile(await releaseArchive(dir));
  let downloads = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
    downloads++;
    return new Response(archive);
  });
  try {
    const source =
      `http://127.0.0.1:${server.addr.port}/fluxcd/flux2/releases/download/v2.4.0/manifests.tar.gz`;
    const cacheDir = `${dir}/cache`;
    const h = await crypto.subtle.digest("SHA-256", archive);
    const pin = Array.from(new Uint8Array(h), (b) => b.toString(16).padStart(2, "0")).join("");
    const first = await loadManifests({ source, cacheDir, allowInsecureHttp: true, sha256: pin });
    const second = await loadManifests({
      source,
      cacheDir,
      allowInsecureHttp: true,
      sha256: pin.toUpperCase(),
    });
    assert.equal(downloads, 1, "the second read uses the cache");
    assert.equal(first.kind, "release");
    assert.deepEqual(second, first);
    if (first.kind === "release") {
      assert.deepEqual([...first.files.keys()].sort(), await releaseNames());
    }
    await assert.rejects(
      loadManifests({ source, cacheDir, allowInsecureHttp: true, sha256: "0".repeat(64) }),
      new RegExp(
        `flux.manifestsSha256: the cached copy of .* has sha256 ${pin}, the manifest pins 0{64}`,
      ),
    );
    const cached = [...Deno.readDirSync(cacheDir)].map((e) => e.name).sort();
    assert.ok(cached.some((n) => n.endsWith(".tar.gz")), cached.join(" "));
    // A local archive with a wrong pin is refused too; a folder cannot be pinned at all.
    await assert.rejects(
      loadManifests({ source: `${dir}/manifests.tar.gz`, sha256: "f".repeat(64) }),
      /flux\.manifestsSha256: .*manifests\.tar\.gz has sha256 [0-9a-f]{64}, the manifest pins f{64}/,
    );
    await assert.rejects(
      loadManifests({ source: RELEASE_DIR, sha256: pin }),
      /flux\.manifestsSha256: .*flux-manifests is a folder, which has no single checksum/,
    );
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

/** The kubectl on PATH, and a script in its place that counts its runs and then runs it. */
async function countingKubectl(dir: string): Promise<{ path: string; runs(): Promise<number> }> {
  const which = await new Deno.Command("sh", { args: ["-c", "command -v kubectl"] }).output();
  const real = new TextDecoder().decode(which.stdout).trim();
  assert.ok(which.success && real, "kubectl on PATH");
  await Deno.mkdir(`${dir}/bin`);
  await Deno.writeTextFile(
    `${dir}/bin/kubectl`,
    `#!/bin/sh\necho run >> '${dir}/runs'\nexec '${real}' "$@"\n`,
    { mode: 0o755 },
  );
  return {
    path: `${dir}/bin:${Deno.env.get("PATH") ?? ""}`,
    runs: async () =>
      (await Deno.readTextFile(`${dir}/runs`).catch(() => "")).split("\n").filter(Boolean).length,
  };
}

Deno.test({
  name:
    "a release build is kept by what went in: the same files, options and kubectl run no kubectl",
  ignore: missing("kubectl"),
}, async () => {
  const m = await loadManifests(RELEASE_DIR);
  if (m.kind !== "release") throw new Error("not a release");
  const dir = await Deno.makeTempDir({ prefix: "fluxfleet-build-cache-" });
  const saved = ["PATH", "FLUXFLEET_BUILD_CACHE"].map((k) => [k, Deno.env.get(k)] as const);
  try {
    const kubectl = await countingKubectl(dir);
    Deno.env.set("PATH", kubectl.path);
    // The default folder is FLUXFLEET_BUILD_CACHE's, as the CLI's runs use it.
    Deno.env.set("FLUXFLEET_BUILD_CACHE", `${dir}/builds`);
    const fresh = await buildReleaseComponents(m, FLUX_DEFAULT_OPTIONS, null);
    assert.equal(await kubectl.runs(), 1);
    assert.deepEqual(await buildReleaseComponents(m, FLUX_DEFAULT_OPTIONS), fresh);
    assert.equal(await kubectl.runs(), 2, "not kept yet: kubectl ran");
    const lines: string[] = [];
    setDebugSink((l) => lines.push(l));
    try {
      assert.deepEqual(await buildReleaseComponents(m, FLUX_DEFAULT_OPTIONS), fresh);
    } finally {
      setDebugSink(undefined);
    }
    assert.equal(await kubectl.runs(), 2, "kept: the same build, without kubectl");
    assert.deepEqual(lines, [
      `debug: ${RELEASE_DIR}: the kubectl kustomize build from the build cache\n`,
    ], "--debug says so");

    // Other options (the overlay differs), another release file: built, then kept too.
    const other = { ...FLUX_DEFAULT_OPTIONS, namespace: "flux-other" };
    const otherBuilt = await buildReleaseComponents(m, other);
    assert.equal(await kubectl.runs(), 3);
    assert.match(otherBuilt.content, /namespace: flux-other/);
    assert.deepEqual(await buildReleaseComponents(m, other), otherBuilt);
    assert.equal(await kubectl.runs(), 3);
    const edited = new Map(m.files);
    const source = new TextDecoder().decode(m.files.get("source-controller.yaml"));
    edited.set(
      "source-controller.yaml",
      new TextEncoder().encode(source.replace("--storage-path=/data", "--storage-path=/data2")),
    );
    const editedBuilt = await buildReleaseComponents({ ...m, files: edited }, FLUX_DEFAULT_OPTIONS);
    assert.equal(await kubectl.runs(), 4);
    assert.match(editedBuilt.content, /--storage-path=\/data2/);
    assert.deepEqual(await buildReleaseComponents(m, FLUX_DEFAULT_OPTIONS), fresh);
    assert.equal(await kubectl.runs(), 4);

    // Another kubectl (here the same script, rewritten): built again.
    const script = await Deno.readTextFile(`${dir}/bin/kubectl`);
    await Deno.writeTextFile(`${dir}/bin/kubectl`, `${script}# upgraded\n`);
    assert.deepEqual(await buildReleaseComponents(m, FLUX_DEFAULT_OPTIONS), fresh);
    assert.equal(await kubectl.runs(), 5);

    // Damaged entries are not used: kubectl runs and the build is right.
    for await (const e of Deno.readDir(`${dir}/builds`)) {
      const path = `${dir}/builds/${e.name}`;
      await Deno.writeTextFile(
        path,
        (await Deno.readTextFile(path)).replace("Namespace", "Secret"),
      );
    }
    assert.deepEqual(await buildReleaseComponents(m, FLUX_DEFAULT_OPTIONS), fresh);
    assert.equal(await kubectl.runs(), 6);

    // FLUXFLEET_BUILD_CACHE=off: kubectl every time.
    Deno.env.set("FLUXFLEET_BUILD_CACHE", "off");
    await buildReleaseComponents(m, FLUX_DEFAULT_OPTIONS);
    await buildReleaseComponents(m, FLUX_DEFAULT_OPTIONS);
    assert.equal(await kubectl.runs(), 8);
  } finally {
    for (const [k, v] of saved) v === undefined ? Deno.env.delete(k) : Deno.env.set(k, v);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("without kubectl, a release archive is a clear error (and the temporary folder is removed)", async () => {
  const m = await loadManifests(RELEASE_DIR);
  if (m.kind !== "release") throw new Error("not a release");
  const path = Deno.env.get("PATH") ?? "";
  const tmp = await Deno.makeTempDir({ prefix: "fluxfleet-nokubectl-" });
  const tmpdir = Deno.env.get("TMPDIR");
  Deno.env.set("PATH", `${tmp}/empty`);
  Deno.env.set("TMPDIR", tmp);
  try {
    await assert.rejects(buildReleaseComponents(m, FLUX_DEFAULT_OPTIONS), (e: Error) => {
      assert.equal(e.message, KUBECTL_MISSING);
      return true;
    });
    assert.deepEqual([...Deno.readDirSync(tmp)], []);
  } finally {
    Deno.env.set("PATH", path);
    if (tmpdir === undefined) Deno.env.delete("TMPDIR");
    else Deno.env.set("TMPDIR", tmpdir);
    await Deno.remove(tmp, { recursive: true });
  }
  assert.match(
    KUBECTL_MISSING,
    /^flux\.manifests is a release manifests archive, which is built with kubectl kustomize as flux does; install kubectl or point flux\.manifests at an install\.yaml$/,
  );
});
