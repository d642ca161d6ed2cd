/** Label and field selectors as the list/watch endpoints accept them. */

import { isObject } from "./json.ts";
import { badRequest, type JsonObject } from "./status.ts";

export type Predicate = (obj: JsonObject) => boolean;

/** Splits on commas that are not inside `in (a,b)` parentheses. */
function splitTerms(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = "";
  for (const ch of s) {
    if (ch === "(") depth++;
    if (ch === ")") depth--;
    if (ch === "," && depth === 0) {
      out.push(cur);
      cur = "";
    } else cur += ch;
  }
  out.push(cur);
  return out.map((t) => t.trim()).filter((t) => t !== "");
}

function labelsOf(obj: JsonObject): Record<string, unknown> {
  const m = isObject(obj.metadata) ? obj.metadata : {};
  return isObject(m.labels) ? m.labels : {};
}

function setTerm(term: string): Predicate | undefined {
  const m = term.match(/^([^\s!=]+)\s+(in|notin)\s+\((.*)\)$/);
  if (!m) return undefined;
  const [, key, op, list] = m;
  const values = new Set(list.split(",").map((v) => v.trim()));
  return op === "in"
    ? (o) => key in labelsOf(o) && values.has(String(labelsOf(o)[key]))
    : (o) => !(key in labelsOf(o)) || !values.has(String(labelsOf(o)[key]));
}

function labelTerm(term: string): Predicate {
  const set = setTerm(term);
  if (set) return set;
  const m = term.match(/^([^!=\s]+)\s*(==|=|!=)\s*([^=\s]*)$/);
  if (m) {
    const [, key, op, value] = m;
    return op === "!="
      ? (o) => String(labelsOf(o)[key] ?? "\u0000") !== value
      : (o) => key in labelsOf(o) && String(labelsOf(o)[key]) === value;
  }
  if (/^![^!=\s]+$/.test(term)) return (o) => !(term.slice(1) in labelsOf(o));
  if (/^[^!=\s]+$/.test(term)) return (o) => term in labelsOf(o);
  throw badRequest(`unable to parse requirement: ${JSON.stringify(term)}`);
}

export function labelSelector(s: string | null): Predicate {
  if (!s) return () => true;
  const terms = splitTerms(s).map(labelTerm);
  return (o) => terms.every((t) => t(o));
}

/** Only metadata.name/metadata.namespace, the fields every resource supports. */
function fieldValue(obj: JsonObject, field: string): string {
  const m = isObject(obj.metadata) ? obj.metadata : {};
  if (field === "metadata.name") return String(m.name ?? "");
  if (field === "metadata.namespace") return String(m.namespace ?? "");
  throw badRequest(`field label not supported: ${field}`);
}

export function fieldSelector(s: string | null): Predicate {
  if (!s) return () => true;
  const terms = splitTerms(s).map((term): Predicate => {
    const m = term.match(/^([^!=\s]+)\s*(==|=|!=)\s*(.*)$/);
    if (!m) throw badRequest(`invalid field selector: ${JSON.stringify(term)}`);
    const [, field, op, value] = m;
    fieldValue({}, field); // validates the field name up front
    return op === "!="
      ? (o) => fieldValue(o, field) !== value
      : (o) => fieldValue(o, field) === value;
  });
  return (o) => terms.every((t) => t(o));
}
