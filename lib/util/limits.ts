/**
 * How much fluxfleet reads from a server, an archive or a file before it gives up: every read from
 * the network is bounded, so a broken or hostile server cannot exhaust memory. Reaching a limit is
 * an error naming the server (or file), what was read and the limit; it is never retried.
 *
 * The limits a user could legitimately need more of are overridable with `--limit NAME=SIZE`:
 *
 * - `kube-response` (64 MiB): one Kubernetes API answer. An object is at most ~1.5 MiB (etcd's
 *   default request limit, --max-request-bytes) and its JSON, with base64 Secret data and
 *   managedFields, stays within a few MiB; the larger answers are lists (destroy lists every
 *   custom resource of a Flux kind in the cluster) and discovery documents: 64 MiB holds a list
 *   of some 20 000 Flux objects. Parsed, it costs ~3x in memory, per cluster observed at once.
 * - `git-pack` (256 MiB): one git answer (ref advertisement, the fetch's pack with its side-band
 *   framing, the push report), over HTTPS and over the built-in SSH transport. isomorphic-git holds
 *   a fetched pack in memory, at ~4x its size while reading it (measured: an answer cut at 512 MiB
 *   peaked at 2.1 GB), and fluxfleet fetches one commit (depth 1): a fleet repository of YAML is
 *   far below this. (`transport: system` lets the git binary write the pack to disk; only what git
 *   prints is bounded there.)
 * - `manifests` (64 MiB): a downloaded `flux.manifests` (the archive or the install.yaml), a local
 *   `flux.manifests` file or folder, and a release archive once decompressed. A Flux release's
 *   archive and install.yaml are a few MiB at most.
 *
 * Fixed, since nobody needs more: a provider API answer (16 MiB: pages are requested with a
 * small `limit`) and the manifest file `flux-bootstrap.yaml` itself (16 MiB).
 */

export const KIB = 1024;
export const MIB = 1024 * KIB;
export const GIB = 1024 * MIB;

export interface Limits {
  /** One Kubernetes API answer, in bytes. */
  kubeResponse: number;
  /** One git answer (advertisement, pack, push report), in bytes. */
  gitPack: number;
  /** A flux.manifests download or file, and a release archive once decompressed, in bytes. */
  manifests: number;
}

export const DEFAULT_LIMITS: Limits = {
  kubeResponse: 64 * MIB,
  gitPack: 256 * MIB,
  manifests: 64 * MIB,
};

/** `--limit NAME=SIZE` names, as the user writes them. */
export const LIMIT_NAMES: Record<string, keyof Limits> = {
  "kube-response": "kubeResponse",
  "git-pack": "gitPack",
  "manifests": "manifests",
};

/** One provider API answer (a page of at most a few hundred entries). */
export const PROVIDER_RESPONSE_BYTES = 16 * MIB;

/** The manifest file (flux-bootstrap.yaml): a 500-cluster fleet is ~100 KiB. */
export const MANIFEST_FILE_BYTES = 16 * MIB;

/** The CLI name of a limit (`git-pack`) for messages that say how to raise it. */
export function limitName(key: keyof Limits): string {
  return Object.entries(LIMIT_NAMES).find(([, k]) => k === key)![0];
}

/** A server, file or archive sent more than a limit allows. Not transient: never retried. */
export class LimitExceededError extends Error {
  override name = "LimitExceededError";
  readonly transient = false;
}

/** "512 MiB", "1.5 GiB", "700 bytes". */
export function formatSize(bytes: number): string {
  const units: [number, string][] = [[GIB, "GiB"], [MIB, "MiB"], [KIB, "KiB"]];
  for (const [size, unit] of units) {
    if (bytes >= size) {
      const n = bytes / size;
      return `${Number.isInteger(n) ? n : n.toFixed(1)} ${unit}`;
    }
  }
  return `${bytes} bytes`;
}

const SIZE_UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: KIB,
  kb: 1000,
  kib: KIB,
  m: MIB,
  mb: 1000 * 1000,
  mib: MIB,
  g: GIB,
  gb: 1000 * 1000 * 1000,
  gib: GIB,
};

/** "512MiB", "1.5GiB", "2G", "700000" → bytes; undefined when it is no size. */
export function parseSize(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  if (!m) return undefined;
  const unit = SIZE_UNITS[m[2].toLowerCase()];
  if (unit === undefined) return undefined;
  const bytes = Math.floor(Number(m[1]) * unit);
  return bytes >= 1 ? bytes : undefined;
}

/** Applies one `--limit NAME=SIZE` to `limits`; throws in words on a bad name or size. */
export function withLimitOption(limits: Limits, option: string): Limits {
  const eq = option.indexOf("=");
  const name = eq < 0 ? option : option.slice(0, eq);
  const key = LIMIT_NAMES[name.trim()];
  if (!key) {
    throw new Error(
      `"${name}" is not a limit; one of: ${Object.keys(LIMIT_NAMES).join(", ")}`,
    );
  }
  const size = eq < 0 ? undefined : parseSize(option.slice(eq + 1));
  if (size === undefined) {
    throw new Error(`${name}: "${option.slice(eq + 1)}" is not a size such as 512MiB or 2GiB`);
  }
  return { ...limits, [key]: size };
}

/** "kube-response=64MiB, git-pack=256MiB, manifests=64MiB" (for --help). */
export function describeLimits(limits: Limits): string {
  return Object.entries(LIMIT_NAMES)
    .map(([name, key]) => `${name}=${formatSize(limits[key]).replace(" ", "")}`)
    .join(", ");
}

/** The sentence that says how to raise a limit, for error messages. */
export function raiseHint(key: keyof Limits): string {
  return `raise it with --limit ${limitName(key)}=SIZE if this is expected`;
}
