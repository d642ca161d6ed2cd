/**
 * Loads flux-bootstrap.yaml: YAML → schema → semantic checks → per-cluster config with defaults.
 * Every problem is collected (not just the first) and located at file:line:column.
 */
import { dirname } from "node:path";
import { isSeq, LineCounter, parseDocument } from "yaml";
import { ConfigError, type ConfigProblem } from "./errors.ts";
import { locate, locateSetting, type SourceMap } from "./locate.ts";
import { schemaProblems } from "./schema_problems.ts";
import { semanticProblems } from "./rules.ts";
import { rolloutProblems } from "./rollout.ts";
import { resolveCluster } from "./resolve.ts";
import { deprecations, isProviderBlock, twiceWritten } from "./provider_settings.ts";
import { readManifestFast } from "./fast_read.ts";
import { concatBytes } from "../util/bytes.ts";
import { formatSize, MANIFEST_FILE_BYTES } from "../util/limits.ts";
import type { Manifest, RawManifest } from "./types.ts";

export {
  DEFAULT_COMPONENTS,
  DEFAULT_FLUX_VERSION,
  DEFAULT_SECRET_NAME,
  releaseManifestsUrl,
} from "./defaults.ts";
export { normalisePath } from "./rules.ts";

/** What a manifest holds at its top level, for messages about a file that holds something else. */
const MANIFEST_SHAPE =
  'a manifest is a YAML mapping with "clusters:" (the list of clusters, each with a name and a path) and optionally "defaults:"';

export async function loadManifest(file: string): Promise<Manifest> {
  return parseManifest(await readManifestFile(file), file);
}

/** The file's text; a missing file, a directory, a huge or binary file is a problem naming it. */
async function readManifestFile(file: string): Promise<string> {
  const fail = (message: string) => new ConfigError([{ file, message }]);
  let handle: Deno.FsFile;
  try {
    handle = await Deno.open(file, { read: true });
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw fail("no such file");
    if (e instanceof Deno.errors.PermissionDenied) throw fail("cannot be read: permission denied");
    throw fail(`cannot be read (${(e as Error).name})`);
  }
  const chunks: Uint8Array[] = [];
  try {
    if ((await handle.stat()).isDirectory) {
      throw fail("is a directory; give the path of the manifest file itself (flux-bootstrap.yaml)");
    }
    // Read in pieces, so that a FIFO or a device is bounded too.
    let size = 0;
    const buf = new Uint8Array(64 * 1024);
    while (true) {
      const n = await handle.read(buf);
      if (n === null) break;
      size += n;
      // A manifest is a small YAML file: anything larger is refused before it is read whole.
      if (size > MANIFEST_FILE_BYTES) {
        throw fail(`is larger than ${formatSize(MANIFEST_FILE_BYTES)}; ${MANIFEST_SHAPE}`);
      }
      chunks.push(buf.slice(0, n));
    }
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw fail(`cannot be read (${(e as Error).name})`);
  } finally {
    handle.close();
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(concatBytes(chunks));
  } catch {
    throw fail(`is not UTF-8 text; ${MANIFEST_SHAPE}`);
  }
}

export function parseManifest(text: string, file: string): Manifest {
  // Start-up (issue 19): a manifest without problems is read without the `yaml` package's
  // document model, which is built (as before) only to locate something (./fast_read.ts).
  const fast = readManifestFast(text);
  if (fast !== undefined) {
    const clean = cleanManifest(fast, text, file);
    if (clean) return clean;
  }
  return parseManifestLocated(text, file);
}

/** The document model with its line counter: what locating a problem or a setting reads. */
function sourceMapOf(text: string, file: string): SourceMap {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  return { file, doc, lines };
}

/**
 * The manifest from the fast read's value when no check finds anything (no problem, no
 * warning); undefined otherwise, and the located read then reports it. The checks locate only
 * what they report, so here they run on a source map that is never read.
 */
function cleanManifest(data: unknown, text: string, file: string): Manifest | undefined {
  if (data === null || typeof data !== "object" || Array.isArray(data)) return undefined;
  const unread = new Proxy({} as SourceMap, {
    get() {
      throw new FoundSomething();
    },
  });
  try {
    if (schemaProblems(unread, data).length > 0) return undefined;
    const raw = data as RawManifest;
    const found = twiceWritten(unread, raw).length + semanticProblems(unread, raw).length +
      rolloutProblems(unread, raw).length + deprecations(unread, raw).length;
    if (found > 0) return undefined;
    let map: SourceMap | undefined;
    return manifestOf(raw, file, () => map ??= sourceMapOf(text, file));
  } catch (e) {
    if (e instanceof FoundSomething) return undefined;
    throw e;
  }
}

/** A check reached for a location: it found something to report. */
class FoundSomething extends Error {}

function manifestOf(
  raw: RawManifest,
  file: string,
  sourceMap: () => SourceMap,
  warnings: ConfigProblem[] = [],
): Manifest {
  return {
    file,
    clusters: raw.clusters.map((_, i) => resolveCluster(raw, i, dirname(file))),
    ...(warnings.length > 0 ? { warnings } : {}),
    ...(raw.rollout ? { rollout: raw.rollout } : {}),
    locate: (cluster, field) => {
      const i = raw.clusters.findIndex((c) => c.name === cluster);
      const depth = isProviderBlock(field.split(".")[1]) ? 3 : 2;
      return i < 0 ? undefined : locateSetting(sourceMap(), raw, i, field, depth);
    },
  };
}

/** The manifest read with the `yaml` package's document model: every problem located. */
function parseManifestLocated(text: string, file: string): Manifest {
  const map = sourceMapOf(text, file);
  const { doc, lines } = map;
  if (doc.errors.length > 0) {
    throw new ConfigError(doc.errors.map((e) => {
      const { line, col } = lines.linePos(e.pos[0]);
      const message = e.code === "MULTIPLE_DOCS"
        ? "more than one YAML document (a second ---); a manifest is one document"
        : `invalid YAML: ${firstLine(e.message)}`;
      return { location: { file, line, col }, message };
    }));
  }
  const data: unknown = doc.toJS();
  const shape = topLevelProblem(map, text, data);
  if (shape) throw new ConfigError([shape]);
  const problems = schemaProblems(map, data);
  if (problems.length > 0) throw new ConfigError(withFile(problems, file));
  const raw = data as RawManifest;
  const semantic = [
    ...twiceWritten(map, raw),
    ...semanticProblems(map, raw),
    ...rolloutProblems(map, raw),
  ];
  if (semantic.length > 0) throw new ConfigError(withFile(semantic, file));
  const warnings = deprecations(map, raw);
  return manifestOf(raw, file, () => map, warnings);
}

/** Every problem names the file, also when no place in it can be pointed at. */
function withFile(problems: ConfigProblem[], file: string): ConfigProblem[] {
  return problems.map((p) => (p.location ? p : { ...p, file }));
}

/** An empty file, only comments, a list or a scalar where the manifest's mapping belongs. */
function topLevelProblem(map: SourceMap, text: string, data: unknown): ConfigProblem | undefined {
  const file = map.file;
  const what = data === null || data === undefined
    ? undefined
    : Array.isArray(data)
    ? "a list"
    : typeof data === "object"
    ? null
    : `a ${typeof data}`;
  if (what === null) return undefined;
  const root = map.doc.contents;
  const location = root?.range ? locate(map, []) : undefined;
  if (what === undefined) {
    if (root === null || root === undefined) {
      const empty = text.trim() === "" ? "the file is empty" : "the file holds only comments";
      return { file, message: `${empty}; ${MANIFEST_SHAPE}` };
    }
    return { location, file, message: `the top level is null; ${MANIFEST_SHAPE}` };
  }
  const hint = isSeq(root) ? ' (the clusters go under "clusters:")' : "";
  return { location, file, message: `the top level is ${what}${hint}; ${MANIFEST_SHAPE}` };
}

function firstLine(s: string): string {
  return s.split("\n")[0];
}
