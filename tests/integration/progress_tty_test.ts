/**
 * The live display as a person sees it, in a real terminal (tmux) smaller than the fleet: it
 * never grows past the screen, each cluster ends as one permanent ✓/✗ line with its duration,
 * the summary counts add up; without a terminal the same events are plain timestamped lines.
 */
import { missing } from "../helpers/tools.ts";
import assert from "node:assert/strict";
import { contextNames, manifestYaml, ROOT, tokenGit, withFleetEnv } from "../helpers/harness.ts";
import { shellQuote, withTerminal } from "../helpers/tmux.ts";

const TOKEN = "progress-token";
const SPINNER = /[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]/;

function fleetManifest(repoUrl: string, names: string[]): string {
  return manifestYaml({ git: tokenGit(repoUrl), clusters: names.map((name) => ({ name })) });
}

Deno.test({
  name:
    "apply of 10 clusters in an 8-row terminal: the block fits, one ✓/✗ line per cluster, counts add up",
  ignore: missing("tmux"),
}, async () => {
  const names = contextNames(10);
  await withFleetEnv({
    prefix: "fluxfleet-tty-",
    git: { users: { git: TOKEN } },
    repos: ["fleet"],
    contexts: names,
    kube: { reconcileDelayMs: 300, sourcePollMs: 0 },
  }, async (env) => {
    env.kubes[3].setFluxBehaviour("fail");
    env.kubes[7].setFluxBehaviour("fail");
    await Deno.writeTextFile(env.manifest, fleetManifest(env.git.repoUrl("fleet"), names));
    const stdout = `${env.dir}/stdout.txt`;
    const command = [Deno.execPath(), "run", "-A", `${ROOT}main.ts`, "apply", "--auto-approve"]
      .concat(env.manifest).map(shellQuote).join(" ") + ` > ${shellQuote(stdout)}`;
    // Colours on (as a person has them); capture-pane leaves them out of the text.
    const vars = { GIT_PASSWORD: TOKEN, TMPDIR: env.tmp, TERM: "xterm-256color" };
    await withTerminal({ columns: 80, rows: 8 }, command, vars, async (term) => {
      const screens: string[][] = [];
      let code: number | undefined;
      const deadline = Date.now() + 120_000;
      while (code === undefined && Date.now() < deadline) {
        screens.push(await term.screen());
        code = await term.exitCode(150);
      }
      assert.equal(code, 1, await Deno.readTextFile(stdout)); // two clusters fail
      const history = await term.history();
      const text = history.join("\n");

      // The live block was redrawn in place and cleared: none of it reached the scrollback.
      assert.ok(!SPINNER.test(text), `live lines left in the scrollback:\n${text}`);
      assert.ok(!/ queued, /.test(text), `a summary line was left behind:\n${text}`);
      // Nothing wrapped (lines are cut to the width; -J would join a wrapped line).
      for (const line of history) assert.ok([...line].length <= 80, `wrapped: ${line}`);
      // One permanent line per cluster, with its duration and outcome.
      for (const name of names) {
        const mine = history.filter((l) => new RegExp(`^[✓✗] ${name} +\\d+\\.\\ds  `).test(l));
        assert.equal(mine.length, 1, `${name}:\n${text}`);
        if (name === "c3" || name === "c7") {
          assert.match(
            mine[0],
            /^✗ c\d +\d+\.\ds {2}failed: Kustomization flux-system\/flux-system/,
          );
        } else assert.match(mine[0], /^✓ c\d +\d+\.\ds {2}changed \(8 steps\)$/);
      }

      // Every frame seen: the summary's counts add up to the fleet, and the running count is
      // what the block shows (spinner lines, plus "… N more running" when they do not fit).
      let summaries = 0;
      let cut = 0;
      for (const screen of screens) {
        const at = screen.findIndex((l) => /^(planning|applying) 10 clusters: /.test(l));
        if (at < 0) continue;
        summaries++;
        const m = screen[at].match(
          /: (\d+) queued, (\d+) running, (\d+) done, (\d+) failed {2}\d+\.\ds$/,
        );
        assert.ok(m, screen[at]);
        const [queued, running, done, failed] = m.slice(1).map(Number);
        assert.equal(queued + running + done + failed, 10, screen[at]);
        const below = screen.slice(at + 1);
        const spinning = below.filter((l) => SPINNER.test(l[0] ?? "")).length;
        const more = Number(below.join("\n").match(/… (\d+) more running/)?.[1] ?? 0);
        assert.equal(spinning + more, running, screen.join("\n"));
        assert.ok(at + 1 + spinning + (more ? 1 : 0) <= 7, "one row stays free for the cursor");
        if (more > 0) cut++;
      }
      assert.ok(summaries > 0, "the live block was seen");
      assert.ok(cut > 0, "some frame had more running clusters than rows");
    });
  });
});

Deno.test("apply without a terminal: start, each phase, a retry, done and failed as timestamped lines", async () => {
  const names = contextNames(3);
  await withFleetEnv({
    prefix: "fluxfleet-plain-",
    git: { users: { git: TOKEN } },
    repos: ["fleet"],
    contexts: names,
  }, async (env) => {
    env.kubes[2].setFluxBehaviour("fail");
    env.kubes[1].failNext({ status: 503, times: 1 });
    await Deno.writeTextFile(env.manifest, fleetManifest(env.git.repoUrl("fleet"), names));
    const r = await env.cli(["apply", "--auto-approve", env.manifest], { GIT_PASSWORD: TOKEN });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const t = "\\d\\d:\\d\\d:\\d\\d";
    for (
      const line of [
        `${t} planning 3 clusters`,
        `${t} c0: observing`,
        `${t} c1: retrying GET /\\S+ \\(2/4\\): the API server failed \\(503\\) on GET /\\S+`,
        `${t} c0: done in \\d+\\.\\ds: 8 changes`,
        `${t} applying 3 clusters`,
        `${t} c0: pushing to http://127\\.0\\.0\\.1:\\d+/fleet\\.git \\(main\\)`,
        `${t} c0: installing Flux components \\(30 objects\\)`,
        `${t} c0: waiting for Flux to be Ready`,
        `${t} c0: done in \\d+\\.\\ds: changed \\(8 steps\\)`,
        `${t} c2: failed after \\d+\\.\\ds: Kustomization flux-system/flux-system failed`,
      ]
    ) assert.match(r.stderr, new RegExp(`^${line}`, "m"));
    // deno-lint-ignore no-control-regex -- an escape sequence is what must not be there
    assert.ok(!/\x1b\[/.test(r.stderr), "no escape sequences without a terminal");
  });
});
