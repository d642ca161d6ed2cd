/** Bitbucket's JSON, read by the forge reader (../http/json.ts) with Bitbucket's name in errors. */
import { jsonReader, type Reader } from "../http/json.ts";
import { serviceRef } from "./errors.ts";
import type { ResolvedTarget } from "./target.ts";

export type { Json, Reader } from "../http/json.ts";

export function reader(target: ResolvedTarget, action: string): Reader {
  return jsonReader(serviceRef(target), action);
}
