/** The release manifest from a URL: downloaded once, cached with its checksum, pins enforced. */
import assert from "node:assert/strict";
import { loadInstallManifest } from "../../lib/manifests/source.ts";

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
    assert.equal(await loadInstallManifest({ source, cacheDir }), INSTALL);
    assert.equal(await loadInstallManifest({ source, cacheDir }), INSTALL);
    assert.equal(downloads, 1, "the second run uses the cache");
    const pin = await sha256(INSTALL);
    assert.equal(await loadInstallManifest({ source, cacheDir, sha256: pin }), INSTALL);
    await assert.rejects(
      loadInstallManifest({ source, cacheDir, sha256: "0".repeat(64) }),
      new RegExp(
        `flux.manifestsSha256: the cached copy of .* has sha256 ${pin}, the manifest pins 0{64}`,
      ),
    );
    // A damaged cache file is noticed and downloaded again.
    for await (const e of Deno.readDir(cacheDir)) {
      if (e.name.endsWith(".yaml")) await Deno.writeTextFile(`${cacheDir}/${e.name}`, "garbage");
    }
    assert.equal(await loadInstallManifest({ source, cacheDir }), INSTALL);
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
