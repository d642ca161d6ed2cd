/**
 * What importing one module costs in a fresh process: time of the `import()` and the RSS after
 * it. Bare names resolve through deno.json's import map (run it from the project's root).
 *
 *   deno run -A bench/import_cost.ts SPECIFIER     → {"ms": …, "rssKb": …} on stdout
 *   deno run -A bench/import_cost.ts               → the same for nothing imported
 */
const spec = Deno.args[0];
const started = performance.now();
if (spec) await import(spec);
const ms = performance.now() - started;
console.log(JSON.stringify({ ms, rssKb: Math.round(Deno.memoryUsage().rss / 1024) }));
