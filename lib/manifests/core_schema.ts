/**
 * What the `yaml` package's default schema (YAML 1.2 core) reads as something other than a string:
 * null, a boolean, an integer or a float. Its own tag tests, so the answer is the package's.
 */
import YAML from "yaml";

const STRING_TAG = "tag:yaml.org,2002:str";

let typedTests: RegExp[] | undefined;

/** True when a plain scalar `s` would be read as null, a boolean or a number (`~`, `true`, `0x1F`, ``). */
export function readsAsNonString(s: string): boolean {
  typedTests ??= new YAML.Document().schema.tags
    .filter((t) => t.default && t.tag !== STRING_TAG && t.test)
    .map((t) => t.test!);
  return typedTests.some((re) => re.test(s));
}
