/** Validates JSON output documents against schemas/plan-output.schema.json (merge-plans). */
import { Ajv2020 } from "ajv/dist/2020";
import schema from "../../schemas/plan-output.schema.json" with { type: "json" };

const validate = new Ajv2020({ allErrors: true, strict: true }).compile(schema);

/** "/clusters/0 must have required property 'steps'", one per problem; none when valid. */
export function planSchemaErrors(doc: unknown): string[] {
  return validate(doc)
    ? []
    : (validate.errors ?? []).map((e) => `${e.instancePath || "/"} ${e.message}`);
}
