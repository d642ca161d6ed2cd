/**
 * `fluxfleet manifests pull VERSION DIR`: downloads a Flux release's manifests archive once (where
 * the network reaches GitHub) for later runs without it. The archive is checked to be a usable
 * release (a gzip tar of regular files with the controllers flux bootstrap installs), written to
 * DIR with its SHA-256 beside it (`sha256sum -c` reads that file), and the manifest lines that
 * use it are returned: `flux.manifests` and `flux.manifestsSha256`, which pins exactly these bytes.
 */
import { basename, join, resolve } from "node:path";
import { releaseManifestsUrl } from "../config/defaults.ts";
import { download, type DownloadOptions } from "./download.ts";
import { readTarGz } from "./tar.ts";
import { DEFAULT_LIMITS } from "../util/limits.ts";

export interface PullOptions extends DownloadOptions {
  /** A Flux release tag, e.g. v2.4.0. */
  version: string;
  /** Folder to write into (created when missing). */
  dir: string;
  /** Where to download from; default the release's manifests.tar.gz on GitHub. */
  url?: string;
  /** Expected SHA-256 of the archive, when known from elsewhere. */
  sha256?: string;
}

export interface PulledManifests {
  url: string;
  /** Absolute path of the archive written. */
  archive: string;
  sha256: string;
  /** The release files it holds (top level `.yaml`). */
  files: string[];
  /** What to put under `flux:` (in defaults or a cluster) to use it. */
  manifestLines: string[];
}

/** The controllers flux bootstrap installs by default: a release archive without them is not one. */
const REQUIRED = ["source-controller.yaml", "kustomize-controller.yaml"];

/** Release tags as flux names them: v2.4.0, v2.5.0-rc.1. */
const VERSION = /^v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/;

async function sha256Hex(data: Uint8Array): Promise<string> {
  const hash = await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(hash), (b) => b.toString(16).padStart(2, "0")).join("");
}

export async function pullManifests(opts: PullOptions): Promise<PulledManifests> {
  if (!VERSION.test(opts.version)) {
    throw new Error(`"${opts.version}" is not a Flux release version such as v2.4.0`);
  }
  const url = opts.url ?? releaseManifestsUrl(opts.version);
  const maxBytes = opts.maxBytes ?? DEFAULT_LIMITS.manifests;
  const data = await download(url, { ...opts, maxBytes });
  const sha256 = await sha256Hex(data);
  if (opts.sha256 && opts.sha256.toLowerCase() !== sha256) {
    throw new Error(`${url} has sha256 ${sha256}, expected ${opts.sha256}`);
  }
  let files: string[];
  try {
    const entries = await readTarGz(data, maxBytes);
    files = [...entries.keys()].filter((p) => !p.includes("/") && p.endsWith(".yaml")).sort();
  } catch (e) {
    throw new Error(`${url} is not a usable release archive: ${(e as Error).message}`);
  }
  const missing = REQUIRED.filter((f) => !files.includes(f));
  if (missing.length > 0) {
    throw new Error(
      `${url} is not a Flux release manifests archive: it has no ${missing.join(", ")}`,
    );
  }
  const dir = resolve(opts.dir);
  await Deno.mkdir(dir, { recursive: true });
  const archive = join(dir, `flux-${opts.version}-manifests.tar.gz`);
  // Under a temporary name first: an interrupted pull never leaves half an archive behind.
  const tmp = `${archive}.${crypto.randomUUID()}.tmp`;
  try {
    await Deno.writeFile(tmp, data);
    await Deno.rename(tmp, archive);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
  await Deno.writeTextFile(`${archive}.sha256`, `${sha256}  ${basename(archive)}\n`);
  return {
    url,
    archive,
    sha256,
    files,
    manifestLines: [
      `version: ${opts.version}`,
      `manifests: ${archive}`,
      `manifestsSha256: ${sha256}`,
    ],
  };
}
