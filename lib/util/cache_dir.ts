/**
 * Where one of fluxfleet's caches lives: the folder its environment variable names (`off`: no
 * cache), else `$XDG_CACHE_HOME/fluxfleet/<name>` or `~/.cache/fluxfleet/<name>`; none without
 * either variable. The commit cache (lib/git/commit_cache.ts) and the build cache
 * (lib/manifests/build_cache.ts) follow the same rule.
 */
import { join } from "node:path";

export function userCacheDir(envVar: string, name: string): string | undefined {
  const set = Deno.env.get(envVar);
  if (set === "off") return undefined;
  if (set) return set;
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  const home = Deno.env.get("HOME");
  if (!xdg && !home) return undefined;
  return join(xdg || join(home!, ".cache"), "fluxfleet", name);
}
