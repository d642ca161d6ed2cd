/**
 * The layering of lib/ (issue 16): the pure planner imports no report, apply or CLI code; reports
 * import no apply code; providers no manifest loading; and no file outside a provider's folder
 * (but the registry) names a provider with an API — so adding one touches its folder and one line.
 */
import assert from "node:assert/strict";
import { join, relative } from "node:path";
import { PROVIDERS } from "../lib/providers/registry.ts";

const ROOT = new URL("../", import.meta.url).pathname;

async function* files(dir: string): AsyncGenerator<string> {
  for await (const e of Deno.readDir(dir)) {
    const path = join(dir, e.name);
    if (e.isDirectory) yield* files(path);
    else if (e.name.endsWith(".ts")) yield path;
  }
}

/** Every relative import of lib/, as `from → to` paths below the root. */
async function imports(): Promise<{ from: string; to: string }[]> {
  const out: { from: string; to: string }[] = [];
  for await (const file of files(join(ROOT, "lib"))) {
    const text = await Deno.readTextFile(file);
    for (const m of text.matchAll(/(?:from|import)\s*\(?\s*"(\.[^"]+)"/g)) {
      out.push({
        from: relative(ROOT, file),
        to: relative(ROOT, join(file, "..", m[1])),
      });
    }
  }
  return out;
}

const RULES: { from: string; not: string[] }[] = [
  { from: "lib/plan/", not: ["lib/report/", "lib/apply/", "lib/cli/", "lib/providers/"] },
  { from: "lib/report/", not: ["lib/apply/", "lib/cli/"] },
  { from: "lib/providers/", not: ["lib/config/load.ts", "lib/apply/", "lib/cli/", "lib/report/"] },
  { from: "lib/git/", not: ["lib/apply/", "lib/config/", "lib/providers/", "lib/cli/"] },
  { from: "lib/apply/", not: ["lib/cli/", "lib/report/"] },
];

Deno.test("lib/ imports only downwards: plan below report, apply and providers; report below apply", async () => {
  const upward = (await imports()).filter(({ from, to }) =>
    RULES.some((r) => from.startsWith(r.from) && r.not.some((n) => to.startsWith(n)))
  );
  assert.deepEqual(upward, []);
});

/**
 * Where a provider's kind means something else: Flux's own GitRepository `spec.provider` (generic,
 * azure, github) chooses how source-controller authenticates, not which hosting API fluxfleet uses.
 */
const OTHER_MEANING: Record<string, string[]> = { github: ["lib/config/types.ts"] };

Deno.test("no file outside a provider's folder names it, but the registry", async () => {
  // The registry's providers with an API (shared folders such as http/ and forge/ are none).
  const providers = PROVIDERS.map((p) => p.kind).filter((k) => k !== "generic");
  assert.ok(providers.includes("bitbucket-server"));
  const all = await imports();
  for (const name of providers) {
    // Named: imported from, or written as a value ("github", provider === 'github'). Words in
    // comments and URLs (github.com, where Flux publishes its releases) do not couple code.
    const literal = new RegExp(`["'\`]${name}["'\`]`);
    const named = new Set<string>();
    for (const { from, to } of all) {
      if (!from.startsWith(`lib/providers/${name}/`) && to.startsWith(`lib/providers/${name}/`)) {
        named.add(from);
      }
    }
    for await (const file of files(join(ROOT, "lib"))) {
      const path = relative(ROOT, file);
      if (path.startsWith(`lib/providers/${name}/`)) continue;
      if ((OTHER_MEANING[name] ?? []).includes(path)) continue;
      if (literal.test(await Deno.readTextFile(file))) named.add(path);
    }
    if (literal.test(await Deno.readTextFile(join(ROOT, "main.ts")))) named.add("main.ts");
    assert.deepEqual([...named], ["lib/providers/registry.ts"], name);
  }
});
