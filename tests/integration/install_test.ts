/**
 * `deno task install`: a `fluxfleet` command that execs Deno directly, so Ctrl-C reaches
 * fluxfleet itself (run through npx, Ctrl-C killed npx and left Deno running: issue 15 item 8).
 */
import assert from "node:assert/strict";
import { manifestYaml, ROOT, tokenGit, withFleetEnv } from "../helpers/harness.ts";
import { VERSION } from "../../lib/version.ts";
import { wrapperScript } from "../../lib/cli/install.ts";

/** `deno task install --root ROOT_DIR` from the checkout. */
function installInto(root: string): Promise<Deno.CommandOutput> {
  return new Deno.Command(Deno.execPath(), {
    args: ["task", "--quiet", "install", "--root", root],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdin: "null",
  }).output();
}

async function until(what: string, cond: () => Promise<boolean>, ms = 30_000) {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

Deno.test("deno task install --root DIR: DIR/bin/fluxfleet runs Deno directly; Ctrl-C reaches it", async () => {
  const root = await Deno.makeTempDir({ prefix: "fluxfleet-install-" });
  try {
    const task = await installInto(root);
    const said = new TextDecoder().decode(task.stdout);
    assert.equal(task.code, 0, said + new TextDecoder().decode(task.stderr));
    const bin = `${root}/bin/fluxfleet`;
    assert.match(
      said,
      new RegExp(`^installed ${bin} \\(fluxfleet ${VERSION}, Flux v[0-9.]+ by default, Deno `),
    );
    assert.equal((await Deno.stat(bin)).mode! & 0o777, 0o755);

    const version = await new Deno.Command(bin, { args: ["--version"], stdin: "null" }).output();
    assert.match(
      new TextDecoder().decode(version.stdout),
      new RegExp(`^fluxfleet ${VERSION}, Flux v`),
    );

    // A run that waits (a secret read from stdin, never written): the process the wrapper
    // started must be Deno itself, and a Ctrl-C to it ends fluxfleet with 130.
    const dir = `${root}/m`;
    await Deno.mkdir(dir);
    await Deno.writeTextFile(
      `${dir}/fleet.yaml`,
      `clusters:
  - name: a
    kube: { context: a }
    path: clusters/a
    git:
      url: https://127.0.0.1:1/fleet.git
      auth: { type: token, token: { stdin: true } }
`,
    );
    const child = new Deno.Command(bin, {
      args: ["validate", "--full", `${dir}/fleet.yaml`],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    let stderr = "";
    const reading = child.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
      new WritableStream({ write: (t) => void (stderr += t) }),
    );
    await until("the wrapper to exec Deno", async () => {
      const exe = await Deno.readLink(`/proc/${child.pid}/exe`).catch(() => "");
      return exe === Deno.realPathSync(Deno.execPath());
    });
    // The checkout's modules bundled into one file, and V8's young generation capped.
    const cmdline = (await Deno.readTextFile(`/proc/${child.pid}/cmdline`)).split("\0");
    assert.deepEqual(cmdline.slice(1, 8), [
      "run",
      "-A",
      "--v8-flags=--max-semi-space-size=2",
      // Its npm packages from the checkout's node_modules as the task's `deno install` left them.
      "--node-modules-dir=manual",
      "--config",
      `${ROOT}deno.json`,
      `${root}/lib/fluxfleet/main.js`,
    ]);
    // Once fluxfleet catches SIGINT (its listener is installed): Ctrl-C, which lets work in
    // flight finish (reading stdin is such work), then Ctrl-C again to quit.
    await until("fluxfleet to catch SIGINT", async () => {
      const status = await Deno.readTextFile(`/proc/${child.pid}/status`);
      const caught = BigInt("0x" + (status.match(/^SigCgt:\s*([0-9a-f]+)$/m)?.[1] ?? "0"));
      return (caught & (1n << 1n)) !== 0n; // bit SIGINT - 1
    });
    child.kill("SIGINT");
    await until(
      "the first Ctrl-C to be seen",
      () => Promise.resolve(stderr.includes("interrupted:")),
    );
    child.kill("SIGINT");
    const status = await child.status;
    await reading;
    assert.equal(status.code, 130, stderr);
    assert.match(stderr, /interrupted again: quitting now/);
    assert.equal(status.signal, null, "fluxfleet handled the signal itself");
    await child.stdin.close().catch(() => {});
    await child.stdout.cancel();
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("the README's install command: without --root, the wrapper goes where npm puts commands", async () => {
  const prefix = await Deno.makeTempDir({ prefix: "fluxfleet-npm-prefix-" });
  try {
    // npx passes npm's global prefix on as npm_config_global_prefix (npm_config_prefix sets it).
    const task = await new Deno.Command(Deno.execPath(), {
      args: ["task", "--quiet", "install"],
      cwd: ROOT,
      env: {
        NO_COLOR: "1",
        npm_config_global_prefix: prefix,
        PATH: `${prefix}/bin:/usr/bin:/bin`,
        // Never the real ~/.local, whatever the task does.
        HOME: `${prefix}/home`,
      },
      stdin: "null",
    }).output();
    const said = new TextDecoder().decode(task.stdout);
    assert.equal(task.code, 0, said + new TextDecoder().decode(task.stderr));
    assert.match(said, new RegExp(`^installed ${prefix}/bin/fluxfleet \\(fluxfleet ${VERSION}, `));
    assert.ok(!said.includes("not on your PATH"), said);

    // The Deno it names gone (npm's cache cleared): a message saying what to run, exit 127.
    const script = await Deno.readTextFile(`${prefix}/bin/fluxfleet`);
    await Deno.writeTextFile(
      `${prefix}/bin/fluxfleet`,
      script.replace(/^deno=.*$/m, `deno='${prefix}/gone/deno'`).replaceAll(
        Deno.execPath(),
        `${prefix}/gone/deno`,
      ),
    );
    const gone = await new Deno.Command(`${prefix}/bin/fluxfleet`, {
      args: ["--version"],
      stdin: "null",
    }).output();
    assert.equal(gone.code, 127);
    assert.equal(
      new TextDecoder().decode(gone.stderr),
      `fluxfleet: ${prefix}/gone/deno is gone (npm's cache cleared?): run ` +
        `\`npx -y deno@2.9.6 task install\` in ${ROOT.replace(/\/$/, "")} again\n`,
    );
  } finally {
    await Deno.remove(prefix, { recursive: true });
  }
});

Deno.test("the installed command runs the bundle while nothing in the checkout is newer, main.ts otherwise", async () => {
  const root = await Deno.makeTempDir({ prefix: "fluxfleet-install-" });
  try {
    const task = await installInto(root);
    assert.equal(task.code, 0, new TextDecoder().decode(task.stderr));
    const bundle = `${root}/lib/fluxfleet/main.js`;
    const version = async () => {
      // From another directory: the command works from anywhere.
      const out = await new Deno.Command(`${root}/bin/fluxfleet`, {
        args: ["--version"],
        cwd: "/",
        stdin: "null",
      }).output();
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      return new TextDecoder().decode(out.stdout);
    };
    assert.match(await version(), new RegExp(`^fluxfleet ${VERSION}, Flux v`));

    // A bundle that says so proves it is what runs (written now: newer than the checkout).
    await Deno.writeTextFile(bundle, 'console.log("the bundle ran");\n');
    assert.equal(await version(), "the bundle ran\n");
    // The checkout changed after the bundle was made (a `git pull`): its sources run.
    await Deno.utime(bundle, new Date(0), new Date(0));
    assert.match(await version(), new RegExp(`^fluxfleet ${VERSION}, Flux v`));
    // No bundle (it could not be made): the sources too.
    await Deno.remove(bundle);
    assert.match(await version(), new RegExp(`^fluxfleet ${VERSION}, Flux v`));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("the installed command plans and applies through its bundle: npm packages loaded on demand from node_modules", async () => {
  const root = await Deno.makeTempDir({ prefix: "fluxfleet-install-" });
  try {
    const task = await installInto(root);
    assert.equal(task.code, 0, new TextDecoder().decode(task.stderr));
    const TOKEN = "install-test-token";
    await withFleetEnv({
      prefix: "fluxfleet-installed-",
      git: { users: { git: TOKEN } },
      repos: ["fleet"],
      contexts: ["a"],
    }, async (env) => {
      await Deno.writeTextFile(
        env.manifest,
        manifestYaml({ git: tokenGit(env.git.repoUrl("fleet")), clusters: [{ name: "a" }] }),
      );
      // The commit cache off: every run fetches, so isomorphic-git (an npm package the bundle
      // imports only then) is loaded from node_modules in the wrapper's "manual" mode.
      const run = async (args: string[]) => {
        const out = await new Deno.Command(`${root}/bin/fluxfleet`, {
          args: [...args, env.manifest],
          cwd: env.dir,
          env: {
            NO_COLOR: "1",
            GIT_PASSWORD: TOKEN,
            TMPDIR: env.tmp,
            FLUXFLEET_COMMIT_CACHE: "off",
          },
          stdin: "null",
        }).output();
        const dec = new TextDecoder();
        return { code: out.code, text: dec.decode(out.stdout) + dec.decode(out.stderr) };
      };
      const plan = await run(["plan", "--detailed-exitcode"]);
      assert.equal(plan.code, 2, plan.text);
      assert.match(plan.text, /\+ .*gotk-components\.yaml/, plan.text);
      const apply = await run(["apply", "--auto-approve"]);
      assert.equal(apply.code, 0, apply.text);
      const again = await run(["plan", "--detailed-exitcode"]);
      assert.equal(again.code, 0, again.text);
      assert.match(again.text, /No changes/);
    });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("the wrapper runs the bundle only while the checkout's node_modules is there", async () => {
  // A checkout of its own: main.ts and the bundle each say which ran.
  const repo = await Deno.makeTempDir({ prefix: "fluxfleet-wrapper-" });
  try {
    await Deno.writeTextFile(`${repo}/deno.json`, "{}\n");
    await Deno.writeTextFile(`${repo}/main.ts`, 'console.log("main.ts ran");\n');
    await Deno.mkdir(`${repo}/lib`);
    const bundle = `${repo}/out/main.js`;
    await Deno.mkdir(`${repo}/out`);
    // Older sources, a newer bundle: only node_modules decides.
    for (const f of ["deno.json", "main.ts", "lib"]) {
      await Deno.utime(`${repo}/${f}`, new Date(0), new Date(0));
    }
    await Deno.writeTextFile(bundle, 'console.log("the bundle ran");\n');
    const wrapper = `${repo}/fluxfleet`;
    await Deno.writeTextFile(wrapper, wrapperScript(Deno.execPath(), repo, bundle), {
      mode: 0o755,
    });
    const ran = async () => {
      const out = await new Deno.Command(wrapper, { stdin: "null", cwd: "/" }).output();
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      return new TextDecoder().decode(out.stdout);
    };
    // Never installed (or removed since): the sources, in Deno's "auto" mode, which installs.
    assert.equal(await ran(), "main.ts ran\n");
    await Deno.mkdir(`${repo}/node_modules/.deno`, { recursive: true });
    assert.equal(await ran(), "the bundle ran\n");
  } finally {
    await Deno.remove(repo, { recursive: true });
  }
});
