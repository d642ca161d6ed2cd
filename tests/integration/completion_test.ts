/**
 * `fluxfleet completion bash|zsh`: the scripts loaded by the real shells — bash's `complete -p`
 * and the completion function run as bash runs it (COMP_WORDS, compgen), zsh's compsys in a real
 * terminal (tmux) completing what a person types.
 */
import assert from "node:assert/strict";
import { ROOT, runCli } from "../helpers/harness.ts";
import { missing } from "../helpers/tools.ts";
import { shellQuote, withTerminal } from "../helpers/tmux.ts";
import { installWrapper } from "../../lib/cli/install.ts";

async function withFiles(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "fluxfleet-completion-" });
  try {
    await Deno.writeTextFile(`${dir}/fleet.yaml`, "clusters: []\n");
    await Deno.writeTextFile(`${dir}/plan-1.json`, "{}\n");
    await Deno.mkdir(`${dir}/sub`);
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function script(shell: string): Promise<string> {
  const r = await runCli(["completion", shell]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

Deno.test("completion bash: complete -p registers it; commands, options, output formats and files", async () => {
  await withFiles(async (dir) => {
    await Deno.writeTextFile(`${dir}/c.bash`, await script("bash"));
    /** What bash offers for the words typed so far (the last one is being completed). */
    const offer = async (...words: string[]): Promise<string[]> => {
      const out = await new Deno.Command("bash", {
        args: [
          "--norc",
          "-c",
          `source ./c.bash; COMP_WORDS=(fluxfleet ${words.map(shellQuote).join(" ")}); ` +
          `COMP_CWORD=${words.length}; _fluxfleet; printf '%s\\n' "\${COMPREPLY[@]}"`,
        ],
        cwd: dir,
        stdin: "null",
      }).output();
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      return new TextDecoder().decode(out.stdout).split("\n").filter((l) => l !== "").sort();
    };
    const registered = await new Deno.Command("bash", {
      args: ["--norc", "-c", "source ./c.bash; complete -p fluxfleet"],
      cwd: dir,
      stdin: "null",
    }).output();
    assert.equal(new TextDecoder().decode(registered.stdout), "complete -F _fluxfleet fluxfleet\n");

    assert.deepEqual(await offer(""), [
      "apply",
      "completion",
      "destroy",
      "manifests",
      "merge-plans",
      "plan",
      "schema",
      "status",
      "validate",
    ]);
    assert.deepEqual(await offer("me"), ["merge-plans"]);
    assert.deepEqual(await offer("plan", "-o", ""), ["json", "markdown", "text"]);
    assert.deepEqual(await offer("apply", "--output", ""), ["json", "text"]);
    assert.deepEqual(await offer("merge-plans", "-o", "m"), ["markdown"]);
    assert.deepEqual(await offer("completion", ""), ["bash", "zsh"]);
    assert.deepEqual(await offer("plan", "--sha"), ["--shard", "--shard-count"]);
    assert.deepEqual(await offer("apply", "--plan"), ["--plan-file"]);
    assert.deepEqual(await offer("manifests", ""), ["pull"]);
    assert.deepEqual(await offer("manifests", "pull", "--s"), ["--sha256"]);
    // Files where a file is expected; nothing where a number or a shard is.
    assert.deepEqual(await offer("plan", "fl"), ["fleet.yaml"]);
    assert.deepEqual(await offer("apply", "--plan-file", "pl"), ["plan-1.json"]);
    assert.deepEqual(await offer("plan", "--shard", ""), []);
    assert.deepEqual(await offer("plan", "--concurrency", ""), []);
    // The n-th argument: a folder after a version; more plan files; nothing after the manifest.
    assert.deepEqual(await offer("manifests", "pull", "--retries", "3", "v2.4.0", "s"), ["sub"]);
    assert.deepEqual(await offer("merge-plans", "-o", "json", "plan-1.json", "pl"), [
      "plan-1.json",
    ]);
    assert.deepEqual(await offer("plan", "fleet.yaml", ""), []);
    // Options given before the file do not hide the command.
    assert.deepEqual(await offer("plan", "-o", "json", "--sel"), ["--selector"]);
  });
});

Deno.test("completion: an unknown shell is refused, naming the ones there are", async () => {
  const r = await runCli(["completion", "fish"]);
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    /^error: command-argument value 'fish' is invalid for argument 'shell'\. Allowed choices are bash, zsh\.\n/,
  );
});

Deno.test({
  name: "completion zsh: compsys in a real terminal completes commands, formats and files",
  ignore: missing("zsh") || missing("tmux"),
  fn: async () => {
    await withFiles(async (dir) => {
      await Deno.writeTextFile(`${dir}/c.zsh`, await script("zsh"));
      // `fluxfleet` on the PATH, as `deno task install` puts it.
      await installWrapper({
        root: dir,
        denoPath: Deno.execPath(),
        repoRoot: ROOT.replace(/\/$/, ""),
      });
      const zshrc = `${dir}/zdot`;
      await Deno.mkdir(zshrc);
      await Deno.writeTextFile(
        `${zshrc}/.zshrc`,
        "autoload -U compinit && compinit -u -D\nsource ../c.zsh\nPROMPT='> '\n",
      );
      await withTerminal(
        { columns: 160, rows: 30 },
        `cd ${shellQuote(`${dir}/sub`)} && exec zsh -i`,
        { ZDOTDIR: zshrc, PATH: `${dir}/bin:/usr/bin:/bin`, TERM: "xterm", HOME: dir },
        async (t) => {
          const screenHas = async (what: RegExp) => {
            const deadline = Date.now() + 20_000;
            while (Date.now() < deadline) {
              const screen = (await t.screen()).join("\n");
              if (what.test(screen)) return screen;
              await new Promise((r) => setTimeout(r, 100));
            }
            assert.fail(`the screen never showed ${what}:\n${(await t.screen()).join("\n")}`);
          };
          await screenHas(/^>/m);
          /** Ctrl-U: the line emptied (and a completion list gone) before the next one. */
          const clear = async () => {
            await t.keys("\x15");
            await new Promise((r) => setTimeout(r, 300));
          };
          await t.keys("fluxfleet merge-p\t");
          await screenHas(/^> fluxfleet merge-plans$/m);
          await clear();
          await t.keys("fluxfleet plan --output \t");
          await screenHas(/json .*markdown .*text|json\s+markdown\s+text/);
          await clear();
          await t.keys("fluxfleet completion \t");
          await screenHas(/bash\s+zsh/);
          await clear();
          await t.keys("fluxfleet plan ../fl\t");
          await screenHas(/^> fluxfleet plan \.\.\/fleet\.yaml$/m);
        },
      );
    });
  },
});
