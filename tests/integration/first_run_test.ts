/**
 * The first run of a fresh checkout (no node_modules yet) prints no "Ignored build scripts"
 * warning (issue 15 item 11): deno.json denies the two optional native builds (ssh2's, and
 * cpu-features, which ssh2 only uses when built); ssh2 runs without them.
 */
import assert from "node:assert/strict";
import { ROOT } from "../helpers/harness.ts";
import { VERSION } from "../../lib/version.ts";

async function copyTree(from: string, to: string) {
  await Deno.mkdir(to, { recursive: true });
  for await (const e of Deno.readDir(from)) {
    if (e.isDirectory) await copyTree(`${from}/${e.name}`, `${to}/${e.name}`);
    else if (e.isFile) await Deno.copyFile(`${from}/${e.name}`, `${to}/${e.name}`);
  }
}

Deno.test("first run of a fresh checkout: no 'Ignored build scripts' warning", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fluxfleet-fresh-" });
  try {
    for (const f of ["deno.json", "deno.lock", "main.ts"]) {
      await Deno.copyFile(`${ROOT}${f}`, `${dir}/${f}`);
    }
    for (const d of ["lib", "schemas"]) await copyTree(`${ROOT}${d}`, `${dir}/${d}`);
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "main.ts", "--version"],
      cwd: dir,
      env: { NO_COLOR: "1" },
      stdin: "null",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, stderr);
    assert.match(new TextDecoder().decode(out.stdout), new RegExp(`^fluxfleet ${VERSION}, `));
    assert.ok(
      (await Deno.stat(`${dir}/node_modules`)).isDirectory,
      "the npm packages were laid out",
    );
    assert.ok(!/Ignored build scripts|approve-scripts/.test(stderr), stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
