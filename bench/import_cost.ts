/**
 * What importing modules costs in a fresh process: time of the `import()`s (one after another,
 * in the order given) and the RSS after them. Bare names resolve through deno.json's import map
 * (run it from the project's root); paths are taken from the project's root.
 *
 *   deno run -A bench/import_cost.ts [SPECIFIER…]   → {"ms": …, "rssKb": …} on stdout
 */
const root = new URL("../", import.meta.url);
const started = performance.now();
for (const spec of Deno.args) {
  await import(spec.startsWith("./") ? new URL(spec, root).href : spec);
}
const ms = performance.now() - started;
console.log(JSON.stringify({ ms, rssKb: Math.round(Deno.memoryUsage().rss / 1024) }));
