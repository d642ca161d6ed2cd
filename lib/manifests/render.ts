/** YAML rendering as flux's Go code does it (sigs.k8s.io/yaml: sorted keys, sequences not indented). */
import YAML from "yaml";
import type { KubeObject } from "./types.ts";
import { parseDocumentsFast } from "./fast_parse.ts";
import { renderSortedDirect, renderUnsortedDirect } from "./render_direct.ts";

export function renderSorted(value: unknown): string {
  // The same text, written directly where ./render_direct.ts knows the package's way.
  return renderSortedDirect(value) ??
    YAML.stringify(value, { sortMapEntries: true, indentSeq: false, lineWidth: 0 });
}

/** kustomize-style: apiVersion, kind, metadata first, the rest sorted. */
export function renderObject(obj: KubeObject): string {
  const { apiVersion, kind, metadata, ...rest } = obj;
  const head = renderUnsortedDirect({ apiVersion, kind }) ??
    YAML.stringify({ apiVersion, kind }, { lineWidth: 0 });
  const body = renderSorted({ metadata, ...rest });
  return head + body;
}

/**
 * The Kubernetes objects of a multi-document manifest. js-yaml where it gives what the `yaml`
 * package gives, much faster (./fast_parse.ts); the `yaml` package otherwise, with its errors.
 */
export function parseObjects(text: string): KubeObject[] {
  const docs = parseDocumentsFast(text) ?? YAML.parseAllDocuments(text)
    .map((d) => {
      if (d.errors.length > 0) throw new Error(`invalid YAML in manifest: ${d.errors[0].message}`);
      return d.toJS() as unknown;
    });
  return docs.filter((o): o is KubeObject => o !== null && typeof o === "object" && "kind" in o);
}
