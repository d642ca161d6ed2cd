/** Reads the Flux release install manifest from a file or URL (never fetched in tests). */
export async function loadInstallManifest(source: string): Promise<string> {
  if (/^https?:\/\//.test(source)) {
    const res = await fetch(source, { signal: AbortSignal.timeout(60_000) });
    if (!res.ok) {
      await res.body?.cancel();
      throw new Error(`flux.manifests: downloading ${source} failed (HTTP ${res.status})`);
    }
    return await res.text();
  }
  try {
    return await Deno.readTextFile(source);
  } catch (e) {
    throw new Error(`flux.manifests: cannot read ${source}: ${(e as Error).message}`);
  }
}
