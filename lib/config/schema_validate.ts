/**
 * The manifest's schema errors, from its validator compiled ahead of time by ajv
 * (schema_validate.generated.js, written by `deno task gen-schema`): no schema is compiled at run
 * time, and ajv's compiler is not loaded. The errors are ajv's, as a validator compiled at run
 * time with the same options gives them (allErrors, strict, allowUnionTypes, ajv-formats).
 */
import type { ErrorObject } from "ajv";
import { validate as generated } from "./schema_validate.generated.js";

/** ajv's validate function: true when valid, else false with `errors` set. */
type ValidateFunction = ((data: unknown) => boolean) & { errors?: ErrorObject[] | null };

const validate = generated as unknown as ValidateFunction;

export function schemaErrors(data: unknown): ErrorObject[] {
  return validate(data) ? [] : [...(validate.errors ?? [])];
}
