/**
 * Reading a forge's JSON without trusting it: each reader returns the documented field or
 * throws an "unexpected answer" error naming what was missing.
 */
import { type ServiceRef, unexpectedShape } from "./errors.ts";

export type Json = Record<string, unknown>;

export interface Reader {
  object(v: unknown, what: string): Json;
  string(o: Json, key: string, what: string): string;
  number(o: Json, key: string, what: string): number;
  optionalString(o: Json, key: string): string | undefined;
  boolean(o: Json, key: string, fallback: boolean): boolean;
}

export function jsonReader(ref: ServiceRef, action: string): Reader {
  const fail = (detail: string) => unexpectedShape(ref, action, detail);
  return {
    object(v, what) {
      if (typeof v !== "object" || v === null || Array.isArray(v)) {
        throw fail(`${what} is not an object`);
      }
      return v as Json;
    },
    string(o, key, what) {
      const v = o[key];
      if (typeof v !== "string") throw fail(`${what} has no "${key}"`);
      return v;
    },
    number(o, key, what) {
      const v = o[key];
      if (typeof v !== "number" || !Number.isFinite(v)) {
        throw fail(`${what} has no numeric "${key}"`);
      }
      return v;
    },
    optionalString(o, key) {
      const v = o[key];
      return typeof v === "string" ? v : undefined;
    },
    boolean(o, key, fallback) {
      const v = o[key];
      return typeof v === "boolean" ? v : fallback;
    },
  };
}
