/**
 * `apply -o json` / `destroy -o json` on a terminal: the text plan is shown on stderr before the
 * question, and stdout holds only the JSON document (tested in a real terminal, tmux).
 */
import { missing } from "../helpers/tools.ts";
import assert from "node:assert/strict";
import { manifestYaml, ROOT, tokenGit, withFleetEnv } from "../helpers/harness.ts";
import { shellQuote, type Terminal, withTerminal } from "../helpers/tmux.ts";

const TOKEN = "confirm-token";

/** Waits until the screen shows `text` (or the command ended); returns the whole history. */
async function waitFor(term: Terminal, text: string): Promise<string> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const shown = (await term.history()).join("\n");
    if (shown.includes(text)) return shown;
    if (await term.exitCode(0) !== undefined) return shown;
    await new Promise((r) => setTimeout(r, 150));
  }
  return (await term.history()).join("\n");
}

Deno.test({
  name:
    "apply -o json and destroy -o json on a terminal show the text plan before asking; stdout stays JSON",
  ignore: missing("tmux"),
}, async () => {
  await withFleetEnv({
    prefix: "fluxfleet-confirm-",
    git: { users: { git: TOKEN } },
    repos: ["fleet"],
  }, async (env) => {
    await Deno.writeTextFile(
      env.manifest,
      manifestYaml({ clusters: [{ name: "c0", git: tokenGit(env.git.repoUrl("fleet")) }] }),
    );
    const vars = { GIT_PASSWORD: TOKEN, TMPDIR: env.tmp, NO_COLOR: "1" };
    const out = `${env.dir}/out.json`;
    const cli = (...args: string[]) =>
      [Deno.execPath(), "run", "-A", `${ROOT}main.ts`, ...args, env.manifest].map(shellQuote)
        .join(" ") + ` > ${shellQuote(out)}`;
    const size = { columns: 120, rows: 40 };

    // Answered "no": the plan was on the screen, nothing was applied, stdout is empty.
    await withTerminal(size, cli("apply", "-o", "json"), vars, async (term) => {
      const shown = await waitFor(term, "Apply these changes? Only 'yes' is accepted:");
      assert.match(shown, /cluster c0 {2}\(http:\/\/127\.0\.0\.1:\d+\/fleet\.git main/);
      assert.match(shown, /\+ create namespace flux-system/);
      assert.match(shown, /Plan: 8 changes in 1 cluster, 0 unchanged\.\n.*Apply these changes\?/);
      await term.type("no");
      assert.equal(await term.exitCode(30_000), 1);
      assert.match((await term.history()).join("\n"), /error: apply cancelled/);
    });
    assert.equal(await Deno.readTextFile(out), "");
    assert.equal(env.git.pushCount(), 0);

    // Answered "yes": applied, and stdout is exactly one JSON document.
    await withTerminal(size, cli("apply", "-o", "json"), vars, async (term) => {
      await waitFor(term, "Apply these changes?");
      await term.type("yes");
      assert.equal(await term.exitCode(60_000), 0, (await term.history()).join("\n"));
    });
    const applied = JSON.parse(await Deno.readTextFile(out));
    assert.equal(applied.results[0].outcome, "changed");

    await withTerminal(size, cli("destroy", "-o", "json"), vars, async (term) => {
      const shown = await waitFor(term, "Uninstall Flux as shown? Only 'yes' is accepted:");
      assert.match(shown, /cluster c0\n/);
      assert.match(shown, /Destroy: \d+ steps in 1 cluster\.\n.*Uninstall Flux as shown\?/);
      await term.type("no");
      assert.equal(await term.exitCode(30_000), 1);
    });
    assert.equal(await Deno.readTextFile(out), "");
  });
});
