/**
 * Just enough Kubernetes protobuf decoding for the objects kubectl's `create <generator>`
 * commands send (client-go typed clients default to protobuf for built-ins and, unlike CBOR,
 * never fall back to JSON on 415). Covers ObjectMeta basics plus Namespace, Secret, ConfigMap
 * and ServiceAccount; anything else is answered 415.
 */

import { unsupportedMediaType } from "./status.ts";
import type { JsonObject } from "./status.ts";

export const PROTOBUF_TYPE = "application/vnd.kubernetes.protobuf";

const MAGIC = [0x6b, 0x38, 0x73, 0x00]; // "k8s\0"

interface Field {
  num: number;
  /** Varint value (wire type 0) or undefined. */
  varint?: number;
  /** Payload of a length-delimited field (wire type 2). */
  bytes?: Uint8Array;
}

function readVarint(buf: Uint8Array, pos: number): [number, number] {
  let result = 0;
  let shift = 0;
  while (pos < buf.length) {
    const b = buf[pos++];
    result += (b & 0x7f) * 2 ** shift;
    if ((b & 0x80) === 0) return [result, pos];
    shift += 7;
  }
  throw new Error("truncated varint");
}

/** Splits a message into its fields; fixed32/64 are skipped (no field we read uses them). */
function fields(buf: Uint8Array): Field[] {
  const out: Field[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const [key, p1] = readVarint(buf, pos);
    const num = Math.floor(key / 8);
    const wire = key & 7;
    if (wire === 0) {
      const [v, p2] = readVarint(buf, p1);
      out.push({ num, varint: v });
      pos = p2;
    } else if (wire === 2) {
      const [len, p2] = readVarint(buf, p1);
      out.push({ num, bytes: buf.subarray(p2, p2 + len) });
      pos = p2 + len;
    } else if (wire === 1) pos = p1 + 8;
    else if (wire === 5) pos = p1 + 4;
    else throw new Error(`unsupported wire type ${wire}`);
  }
  return out;
}

const text = (b: Uint8Array | undefined) => new TextDecoder().decode(b ?? new Uint8Array());

function base64(b: Uint8Array | undefined): string {
  let bin = "";
  for (const x of b ?? []) bin += String.fromCharCode(x);
  return btoa(bin);
}

function strings(fs: Field[], num: number): string[] {
  return fs.filter((f) => f.num === num).map((f) => text(f.bytes));
}

function str(fs: Field[], num: number): string | undefined {
  const f = fs.find((x) => x.num === num);
  return f ? text(f.bytes) : undefined;
}

function bool(fs: Field[], num: number): boolean | undefined {
  const f = fs.find((x) => x.num === num);
  return f ? f.varint === 1 : undefined;
}

function map(
  fs: Field[],
  num: number,
  value: (b?: Uint8Array) => string,
): Record<string, string> | undefined {
  const entries = fs.filter((f) => f.num === num).map((f) => fields(f.bytes ?? new Uint8Array()));
  if (!entries.length) return undefined;
  return Object.fromEntries(
    entries.map((e) => [str(e, 1) ?? "", value(e.find((x) => x.num === 2)?.bytes)]),
  );
}

/** Writes only present values so the JSON matches what a JSON client would have sent. */
function put(obj: JsonObject, key: string, v: unknown): void {
  if (v !== undefined && v !== "" && !(Array.isArray(v) && v.length === 0)) obj[key] = v;
}

function objectMeta(b: Uint8Array | undefined): JsonObject {
  const fs = fields(b ?? new Uint8Array());
  const m: JsonObject = {};
  put(m, "name", str(fs, 1));
  put(m, "generateName", str(fs, 2));
  put(m, "namespace", str(fs, 3));
  put(m, "resourceVersion", str(fs, 6));
  put(m, "labels", map(fs, 11, text));
  put(m, "annotations", map(fs, 12, text));
  put(m, "finalizers", strings(fs, 14));
  return m;
}

/** core/v1 ObjectReference, of which kubectl only ever sets the name (field 3). */
function objectRefs(fs: Field[], num: number): JsonObject[] {
  return fs.filter((f) => f.num === num).map((f) => ({
    name: str(fields(f.bytes ?? new Uint8Array()), 3),
  }));
}

/** Per-kind body decoders; field numbers from k8s.io/api core/v1 generated.proto. */
const KINDS: Record<string, (fs: Field[], out: JsonObject) => void> = {
  Namespace(fs, out) {
    const spec = fs.find((f) => f.num === 2);
    if (spec) out.spec = { finalizers: strings(fields(spec.bytes ?? new Uint8Array()), 1) };
  },
  Secret(fs, out) {
    put(out, "data", map(fs, 2, base64));
    put(out, "type", str(fs, 3));
    put(out, "stringData", map(fs, 4, text));
    put(out, "immutable", bool(fs, 5));
  },
  ConfigMap(fs, out) {
    put(out, "data", map(fs, 2, text));
    put(out, "binaryData", map(fs, 3, base64));
    put(out, "immutable", bool(fs, 4));
  },
  ServiceAccount(fs, out) {
    put(out, "secrets", objectRefs(fs, 2));
    put(
      out,
      "imagePullSecrets",
      fs.filter((f) => f.num === 3).map((f) => ({
        name: str(fields(f.bytes ?? new Uint8Array()), 1),
      })),
    );
    put(out, "automountServiceAccountToken", bool(fs, 4));
  },
};

/** Decodes a `k8s\0`-prefixed runtime.Unknown envelope into the equivalent JSON object. */
export function decodeProtobufObject(buf: Uint8Array): JsonObject {
  const refuse = () => unsupportedMediaType(["application/json", "application/yaml"]);
  if (buf.length < 4 || MAGIC.some((b, i) => buf[i] !== b)) throw refuse();
  let envelope: Field[];
  try {
    envelope = fields(buf.subarray(4));
  } catch {
    throw refuse();
  }
  const typeMeta = fields(envelope.find((f) => f.num === 1)?.bytes ?? new Uint8Array());
  const apiVersion = str(typeMeta, 1) ?? "";
  const kind = str(typeMeta, 2) ?? "";
  const decode = apiVersion === "v1" ? KINDS[kind] : undefined;
  if (!decode) throw refuse();
  const body = fields(envelope.find((f) => f.num === 2)?.bytes ?? new Uint8Array());
  const out: JsonObject = {
    apiVersion,
    kind,
    metadata: objectMeta(body.find((f) => f.num === 1)?.bytes),
  };
  decode(body, out);
  return out;
}
