/**
 * Route handlers of the forge sandboxes answer with a Reply, and read request bodies with
 * `readFields`: optional fields of given JSON types, or the first one of a wrong type (each site
 * words that refusal its own way).
 */

/** An answer; a class so that handlers can tell it from the values their helpers return. */
export class Reply {
  constructor(
    readonly status: number,
    readonly body?: unknown,
    readonly headers?: Record<string, string>,
  ) {}
}

export const reply = (status: number, body?: unknown, headers?: Record<string, string>): Reply =>
  new Reply(status, body, headers);

export type FieldType = "string" | "boolean";

export type FieldValues<T extends Record<string, FieldType>> = {
  [K in keyof T]?: T[K] extends "string" ? string : boolean;
};

export type FieldsResult<T extends Record<string, FieldType>> =
  | { ok: true; values: FieldValues<T> }
  | { ok: false; field: string; value: unknown; type: FieldType };

function typeOf(v: unknown): FieldType | "other" {
  return typeof v === "string" ? "string" : typeof v === "boolean" ? "boolean" : "other";
}

/** The fields of `spec` found in `body` (null counts as absent). */
export function readFields<T extends Record<string, FieldType>>(
  body: Record<string, unknown>,
  spec: T,
): FieldsResult<T> {
  const values: Record<string, unknown> = {};
  for (const [field, type] of Object.entries(spec)) {
    const value = body[field];
    if (value === undefined || value === null) continue;
    if (typeOf(value) !== type) return { ok: false, field, value, type };
    values[field] = value;
  }
  return { ok: true, values: values as FieldValues<T> };
}
