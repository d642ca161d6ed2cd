/**
 * What only some runs need is imported when they need it, not at start-up: the static module
 * graph of main.ts (what every run loads before its first request) leaves these packages out.
 * bench/fleet.ts measures what each costs (time to first request, RSS).
 */
import assert from "node:assert/strict";

interface GraphModule {
  specifier: string;
  dependencies?: { specifier: string; code?: { specifier: string }; isDynamic?: boolean }[];
}

/** The npm packages (as the code names them) main.ts reaches through static imports only. */
async function staticNpmImports(): Promise<Set<string>> {
  const root = new URL("../", import.meta.url);
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", new URL("main.ts", root).pathname],
    cwd: root.pathname,
    stdout: "piped",
    stderr: "null",
  }).output();
  assert.equal(out.code, 0, "deno info failed");
  const graph: { roots: string[]; modules: GraphModule[] } = JSON.parse(
    new TextDecoder().decode(out.stdout),
  );
  const byId = new Map(graph.modules.map((m) => [m.specifier, m]));
  const seen = new Set<string>();
  const npm = new Set<string>();
  const stack = [...graph.roots];
  while (stack.length > 0) {
    const id = stack.pop()!;
    if (seen.has(id)) continue;
    seen.add(id);
    for (const d of byId.get(id)?.dependencies ?? []) {
      if (!d.code || d.isDynamic) continue;
      if (d.code.specifier.startsWith("npm:")) npm.add(d.specifier);
      else if (d.code.specifier.startsWith("file:")) stack.push(d.code.specifier);
    }
  }
  return npm;
}

Deno.test("start-up loads no SSH library: ssh2 and sshpk are imported when a key or an ssh:// remote needs them", async () => {
  const npm = await staticNpmImports();
  assert.ok(npm.has("yaml"), "the graph walk finds the static npm imports");
  for (const lazy of ["ssh2", "sshpk"]) {
    assert.equal(npm.has(lazy), false, `${lazy} is imported statically by main.ts`);
  }
});

Deno.test("start-up loads no live-display library: log-update and cli-truncate are imported only for a terminal without --quiet", async () => {
  const npm = await staticNpmImports();
  for (const lazy of ["log-update", "cli-truncate"]) {
    assert.equal(npm.has(lazy), false, `${lazy} is imported statically by main.ts`);
  }
});

Deno.test("start-up loads no git library: isomorphic-git is imported by the first repository fetched (the cluster APIs are read meanwhile)", async () => {
  const npm = await staticNpmImports();
  assert.equal(
    npm.has("isomorphic-git"),
    false,
    "isomorphic-git is imported statically by main.ts",
  );
});

Deno.test("start-up compiles no schema: ajv's compiler and ajv-formats are not loaded, the manifest's validator is compiled ahead of time (deno task gen-schema)", async () => {
  const npm = await staticNpmImports();
  // The generated validator needs only ajv's runtime helpers (ajv/dist/runtime/*).
  const compiler = [...npm].filter((s) =>
    /^ajv(-formats)?(\/|$)/.test(s) && !s.startsWith("ajv/dist/runtime/")
  );
  assert.deepEqual(compiler, [], "ajv's compiler is imported statically by main.ts");
});
