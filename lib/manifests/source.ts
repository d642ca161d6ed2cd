/**
 * The Flux release install manifest: a local file (air-gapped) or a URL. A URL is downloaded once
 * and kept in a cache keyed by the URL (a release URL names its version), with its SHA-256; an
 * optional pinned checksum (`flux.manifestsSha256`) is checked on download and on every use.
 */
import { join } from "node:path";

export interface ManifestSource {
  source: string;
  sha256?: string;
  /** Cache directory; default $XDG_CACHE_HOME/fluxfleet or ~/.cache/fluxfleet. */
  cacheDir?: string;
}

async function sha256Hex(text: string): Promise<string> {
  const hash = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(hash), (b) => b.toString(16).padStart(2, "0")).join("");
}

export function defaultCacheDir(): string {
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  const home = Deno.env.get("HOME") ?? "/tmp";
  return join(xdg ?? join(home, ".cache"), "fluxfleet", "manifests");
}

async function verify(text: string, where: string, want?: string): Promise<string> {
  const got = await sha256Hex(text);
  if (want && got !== want.toLowerCase()) {
    throw new Error(`flux.manifestsSha256: ${where} has sha256 ${got}, the manifest pins ${want}`);
  }
  return got;
}

export async function loadInstallManifest(src: ManifestSource | string): Promise<string> {
  const { source, sha256, cacheDir } = typeof src === "string"
    ? { source: src } as ManifestSource
    : src;
  if (!/^https?:\/\//.test(source)) {
    let text: string;
    try {
      text = await Deno.readTextFile(source);
    } catch (e) {
      throw new Error(`flux.manifests: cannot read ${source}: ${(e as Error).message}`);
    }
    await verify(text, source, sha256);
    return text;
  }
  const dir = cacheDir ?? defaultCacheDir();
  const key = await sha256Hex(source);
  const file = join(dir, `${key}.yaml`);
  try {
    const cached = await Deno.readTextFile(file);
    const recorded = (await Deno.readTextFile(`${file}.sha256`)).trim();
    // A cache file that no longer matches its recorded checksum is downloaded again.
    if ((await sha256Hex(cached)) === recorded) {
      await verify(cached, `the cached copy of ${source}`, sha256);
      return cached;
    }
  } catch (e) {
    if (e instanceof Error && e.message.startsWith("flux.manifestsSha256")) throw e;
  }
  const res = await fetch(source, { signal: AbortSignal.timeout(60_000) });
  if (!res.ok) {
    await res.body?.cancel();
    throw new Error(`flux.manifests: downloading ${source} failed (HTTP ${res.status})`);
  }
  const text = await res.text();
  const got = await verify(text, source, sha256);
  await Deno.mkdir(dir, { recursive: true });
  // Written under a temporary name first, so a crash never leaves half a manifest in the cache.
  const tmp = `${file}.${crypto.randomUUID()}.tmp`;
  await Deno.writeTextFile(tmp, text);
  await Deno.rename(tmp, file);
  await Deno.writeTextFile(`${file}.sha256`, got + "\n");
  return text;
}
