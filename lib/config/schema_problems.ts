/** JSON Schema errors (ajv) as problems: located, named by cluster and field, in words. */
import type { ErrorObject } from "ajv";
import type { ConfigProblem } from "./errors.ts";
import {
  jsonPointerToPath,
  locate,
  locateKey,
  type PathSegment,
  type SourceMap,
} from "./locate.ts";
import { schemaErrors } from "./schema_validate.ts";

const ONE_OF_HINTS: Record<string, string> = {
  secretRef:
    "must be a secret reference ({env: NAME}, {file: PATH}, {stdin: true} or {prompt: true}); literal secrets are not allowed in the manifest",
  knownHosts: "must be {scan: true}, {file: PATH} or {lines: TEXT}",
};

/** `clusters[3].git.url` → cluster name + `git.url`; anything else stays a top-level field. */
function describePath(raw: unknown, path: PathSegment[]): { cluster?: string; field: string } {
  const dotted = (segs: PathSegment[]) =>
    segs.map((s, i) => typeof s === "number" ? `[${s}]` : (i === 0 ? s : `.${s}`)).join("");
  if (path[0] === "clusters" && typeof path[1] === "number") {
    const clusters = (raw as { clusters?: unknown[] })?.clusters;
    const c = clusters?.[path[1]] as { name?: unknown } | undefined;
    const name = typeof c?.name === "string" ? c.name : `#${path[1] + 1}`;
    const rest = dotted(path.slice(2));
    return { cluster: name, field: rest || "(cluster)" };
  }
  return { field: dotted(path) || "(top level)" };
}

export function schemaProblems(map: SourceMap, data: unknown): ConfigProblem[] {
  const errors = schemaErrors(data);
  // A oneOf over alternatives reports one error per branch; replace them with one clear message.
  const oneOfHints = new Map<string, string>();
  for (const e of errors) {
    if (e.keyword !== "oneOf") continue;
    const def = Object.keys(ONE_OF_HINTS).find((d) => e.schemaPath.startsWith(`#/$defs/${d}/`));
    if (def) oneOfHints.set(e.instancePath, ONE_OF_HINTS[def]);
  }
  const secretRefPaths = new Set(oneOfHints.keys());
  const out: ConfigProblem[] = [];
  const seen = new Set<string>();
  for (const e of errors) {
    const underSecretRef = [...secretRefPaths].some((p) =>
      e.instancePath === p || e.instancePath.startsWith(p + "/")
    );
    if (underSecretRef && e.keyword !== "oneOf") continue;
    // "must match then schema" only repeats the errors of the branch itself.
    if (e.keyword === "if") continue;
    const problem = schemaProblem(
      map,
      data,
      e,
      underSecretRef ? oneOfHints.get(e.instancePath) : undefined,
    );
    const key =
      `${problem.location?.line}:${problem.location?.col}:${problem.field}:${problem.message}`;
    if (!seen.has(key)) {
      seen.add(key);
      out.push(problem);
    }
  }
  return out.sort((a, b) =>
    (a.location?.line ?? 0) - (b.location?.line ?? 0) ||
    (a.location?.col ?? 0) - (b.location?.col ?? 0)
  );
}

function schemaProblem(
  map: SourceMap,
  data: unknown,
  e: ErrorObject,
  hint: string | undefined,
): ConfigProblem {
  const path = jsonPointerToPath(e.instancePath);
  if (e.keyword === "additionalProperties") {
    const key = String((e.params as { additionalProperty: string }).additionalProperty);
    const { cluster, field } = describePath(data, [...path, key]);
    return { location: locateKey(map, path, key), cluster, field, message: "unknown key" };
  }
  if (e.keyword === "required") {
    const missing = String((e.params as { missingProperty: string }).missingProperty);
    const { cluster, field } = describePath(data, [...path, missing]);
    return { location: locate(map, path), cluster, field, message: "is required" };
  }
  const { cluster, field } = describePath(data, path);
  let message = e.message ?? "is invalid";
  if (hint) message = hint;
  else if (e.keyword === "enum") {
    const allowed = (e.params as { allowedValues: unknown[] }).allowedValues;
    message = `must be one of: ${allowed.map(String).join(", ")}`;
  } else if (e.keyword === "pattern" && e.schemaPath.includes("/name/")) {
    message = "must be a DNS-1123 label (lowercase letters, digits and '-', at most 63 characters)";
  } else if (e.keyword === "pattern" && e.schemaPath.includes("/duration/")) {
    message = "must be a duration such as 30s, 5m or 1h";
  } else if (e.keyword === "pattern" && e.instancePath.endsWith("/signing/gpg/keyId")) {
    message =
      "must be a long OpenPGP key id: 16 hex digits, optionally with 0x (as flux --gpg-key-id)";
  } else if (e.keyword === "pattern" && e.instancePath.endsWith("/registryCredentials/username")) {
    message =
      "must be a user name without ':' (the registry login is user:password, as flux --registry-creds)";
  } else if (
    (e.keyword === "minProperties" || e.keyword === "maxProperties") &&
    e.instancePath.endsWith("/git/signing")
  ) {
    message = "must be exactly one of {gpg: {keyRing: …}} or {ssh: {key: …}}";
  }
  return { location: locate(map, path), cluster, field, message };
}
