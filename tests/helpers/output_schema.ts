/** Validates plan/apply JSON output against schemas/plan-output.schema.json. */
import { Ajv2020 } from "ajv/dist/2020";
import schema from "../../schemas/plan-output.schema.json" with { type: "json" };

const validate = new Ajv2020({ allErrors: true, strict: true }).compile(schema);

export function outputSchemaErrors(doc: unknown): string[] {
  return validate(doc) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message}`);
}
