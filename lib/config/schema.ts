/** The manifest's JSON Schema and its compiled validator. */
import { Ajv2020, type ErrorObject } from "ajv/dist/2020";
import addFormatsModule from "ajv-formats";
import schemaJson from "../../schemas/flux-bootstrap.schema.json" with { type: "json" };

export const manifestSchema: Record<string, unknown> = schemaJson;

// ajv-formats is CommonJS; under Deno its default export may arrive wrapped once more.
type AddFormats = (ajv: Ajv2020) => Ajv2020;
const addFormats = ((addFormatsModule as unknown as { default?: AddFormats }).default ??
  addFormatsModule) as unknown as AddFormats;

const ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true });
addFormats(ajv);
const validator = ajv.compile(manifestSchema);

export function schemaErrors(data: unknown): ErrorObject[] {
  return validator(data) ? [] : [...(validator.errors ?? [])];
}
