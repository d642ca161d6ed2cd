/**
 * Request parameters as GitLab's Grape API reads them: the query string merged with a JSON or
 * form body (gitbeaker and go-gitlab send JSON; curl users send forms), checked the way Grape
 * declares them. A failed declaration answers 400 {"error": "title is missing, key is missing"}
 * (Grape's validation errors, joined by ", "): "<name> is missing", "<name> is invalid",
 * "<name> does not have a valid value".
 */
export type Json = Record<string, unknown>;

/** Request bodies of this API are small; a larger one is refused rather than buffered. */
export const MAX_BODY_BYTES = 1024 * 1024;

export type BodyResult = { values: Json } | { status: 400 | 413; body: Json };

async function readCapped(req: Request, max: number): Promise<Uint8Array | undefined> {
  if (!req.body) return new Uint8Array(0);
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > max) {
      await reader.cancel().catch(() => {});
      return undefined;
    }
    chunks.push(value);
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.length;
  }
  return all;
}

/** Adds `key=value` the way Rack nests form keys: "scopes[]" collects an array. */
function addFormValue(into: Json, key: string, value: string): void {
  if (key.endsWith("[]")) {
    const name = key.slice(0, -2);
    const list = Array.isArray(into[name]) ? into[name] as unknown[] : [];
    list.push(value);
    into[name] = list;
  } else {
    into[key] = value;
  }
}

/** Query parameters merged with the body's (the body wins, as in Grape). */
export async function readParams(req: Request, query: URLSearchParams): Promise<BodyResult> {
  const values: Json = {};
  for (const [k, v] of query) addFormValue(values, k, v);
  const bytes = await readCapped(req, MAX_BODY_BYTES);
  if (!bytes) return { status: 413, body: { message: "413 Request Entity Too Large" } };
  if (bytes.length === 0) return { values };
  const type = (req.headers.get("content-type") ?? "").split(";")[0].trim().toLowerCase();
  const text = new TextDecoder().decode(bytes);
  if (type === "application/x-www-form-urlencoded") {
    for (const [k, v] of new URLSearchParams(text)) addFormValue(values, k, v);
    return { values };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { status: 400, body: { error: "message body does not match declared format" } };
  }
  // A DELETE from gitbeaker carries "{}"; anything but an object adds nothing.
  if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) {
    Object.assign(values, parsed);
  }
  return { values };
}

/** Declared parameters, checked one by one; `failure()` is the 400 answer when any failed. */
export class Params {
  readonly #errors: string[] = [];
  constructor(private readonly values: Json) {}

  has(name: string): boolean {
    return Object.hasOwn(this.values, name) && this.values[name] !== null;
  }

  #missing(name: string, required: boolean): boolean {
    if (this.has(name)) return false;
    if (required) this.#errors.push(`${name} is missing`);
    return true;
  }

  string(name: string, required = false): string | undefined {
    if (this.#missing(name, required)) return undefined;
    const v = this.values[name];
    if (typeof v === "string") return v;
    if (typeof v === "number" || typeof v === "boolean") return String(v);
    this.#errors.push(`${name} is invalid`);
    return undefined;
  }

  /** Grape's Boolean coercion: true/false, "true"/"false", 1/0, "1"/"0". */
  boolean(name: string): boolean | undefined {
    if (this.#missing(name, false)) return undefined;
    const v = this.values[name];
    if (v === true || v === "true" || v === 1 || v === "1") return true;
    if (v === false || v === "false" || v === 0 || v === "0") return false;
    this.#errors.push(`${name} is invalid`);
    return undefined;
  }

  integer(name: string, required = false): number | undefined {
    if (this.#missing(name, required)) return undefined;
    const v = this.values[name];
    if (typeof v === "number" && Number.isSafeInteger(v)) return v;
    if (typeof v === "string" && /^-?\d{1,15}$/.test(v)) return Number(v);
    this.#errors.push(`${name} is invalid`);
    return undefined;
  }

  /** A value from a fixed list (Grape `values:`). */
  oneOf<T extends string | number>(
    name: string,
    allowed: readonly T[],
    read: "string" | "integer",
    required = false,
  ): T | undefined {
    const v = read === "string" ? this.string(name, required) : this.integer(name, required);
    if (v === undefined) return undefined;
    if ((allowed as readonly (string | number)[]).includes(v)) return v as T;
    this.#errors.push(`${name} does not have a valid value`);
    return undefined;
  }

  /** An array of listed strings; a comma-separated string is split (CommaSeparatedToArray). */
  stringList(name: string, allowed: readonly string[], required = false): string[] | undefined {
    if (this.#missing(name, required)) return undefined;
    const v = this.values[name];
    const list = typeof v === "string"
      ? v.split(",").map((s) => s.trim()).filter((s) => s !== "")
      : Array.isArray(v) && v.every((s) => typeof s === "string")
      ? v as string[]
      : undefined;
    if (!list) {
      this.#errors.push(`${name} is invalid`);
      return undefined;
    }
    if (!list.every((s) => allowed.includes(s))) {
      this.#errors.push(`${name} does not have a valid value`);
      return undefined;
    }
    return list;
  }

  failure(): { status: 400; body: Json } | undefined {
    return this.#errors.length > 0
      ? { status: 400, body: { error: this.#errors.join(", ") } }
      : undefined;
  }
}
