/**
 * Getting the Flux release manifests: a failed download names the URL, the cluster and the cause,
 * is retried like every other request and says how to work offline; `fluxfleet manifests pull`
 * downloads and checks a release archive for that; a plain http:// source needs
 * flux.allowInsecureHttp and then the plan says how to pin it.
 */
import assert from "node:assert/strict";
import {
  INSTALL_MANIFEST,
  manifestYaml,
  ROOT,
  runCli,
  runCommand,
  tokenGit,
  withFleetEnv,
} from "../helpers/harness.ts";
import { loadManifests } from "../../lib/manifests/source.ts";

const TOKEN = "canary-manifests-token-61b0";
const RELEASE_DIR = `${ROOT}fixtures/flux-manifests`;
/**
 * fluxfleet's download cache in the test's temp dir. Deno keeps its own cache under
 * XDG_CACHE_HOME too unless DENO_DIR says otherwise: that one stays where it is.
 */
const DENO_DIR = Deno.env.get("DENO_DIR") ??
  (JSON.parse(
    new TextDecoder().decode(
      (await new Deno.Command(Deno.execPath(), { args: ["info", "--json"] }).output()).stdout,
    ),
  ) as { denoDir: string }).denoDir;
const cacheEnv = (dir: string) => ({ XDG_CACHE_HOME: `${dir}/cache`, DENO_DIR });

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

async function sha256Hex(data: Uint8Array): Promise<string> {
  const h = await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(h), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The fixture release files as a manifests.tar.gz (flat names, as flux2's bundle.sh makes it). */
async function releaseArchive(dir: string, names?: string[]): Promise<Uint8Array> {
  const files = names ??
    [...Deno.readDirSync(RELEASE_DIR)].map((e) => e.name).filter((n) => n.endsWith(".yaml"));
  const r = await runCommand("tar", ["-czf", `${dir}/served.tar.gz`, ...files], {
    cwd: RELEASE_DIR,
  });
  assert.equal(r.code, 0, r.stderr);
  return await Deno.readFile(`${dir}/served.tar.gz`);
}

/** Serves `body` for every request, after answering 503 to the first `failures` ones. */
function flakyServer(body: Uint8Array, failures: number) {
  let requests = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
    requests++;
    return requests <= failures
      ? new Response("busy", { status: 503 })
      : new Response(body as Uint8Array<ArrayBuffer>);
  });
  return {
    url:
      `http://127.0.0.1:${server.addr.port}/fluxcd/flux2/releases/download/v2.4.0/manifests.tar.gz`,
    requests: () => requests,
    close: () => server.shutdown(),
  };
}

function closedPort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

Deno.test("plan: a manifests download that fails names the URL, the cluster and the cause, after retries, and says how to work offline", async () => {
  const url =
    `https://127.0.0.1:${closedPort()}/fluxcd/flux2/releases/download/v2.4.0/manifests.tar.gz`;
  await withFleetEnv({
    prefix: "fluxfleet-manifests-down-",
    git: { users: { git: TOKEN } },
    repos: ["fleet"],
    manifest: ({ git }) =>
      manifestYaml({
        manifests: url,
        git: tokenGit(git.repoUrl("fleet")),
        clusters: [{ name: "c0" }],
      }),
  }, async (env) => {
    const r = await env.cli(["plan", env.manifest], {
      GIT_PASSWORD: TOKEN,
      ...cacheEnv(env.dir),
    });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(
      r.stderr,
      new RegExp(
        `^error: cluster "c0": flux\\.manifests: downloading ${
          escape(url)
        } failed: connection refused \\(gave up after 4 attempts\\); to work offline, run \`fluxfleet manifests pull VERSION DIR\``,
        "m",
      ),
    );
    assert.doesNotMatch(r.stderr, /fetch failed/);
  });
});

Deno.test("plan: a plain http:// flux.manifests (allowed) is retried through a 503 and the plan says how to pin it", async () => {
  const install = await Deno.readFile(INSTALL_MANIFEST);
  const server = flakyServer(install, 1);
  try {
    await withFleetEnv({
      prefix: "fluxfleet-manifests-http-",
      git: { users: { git: TOKEN } },
      repos: ["fleet"],
      manifest: ({ git }) =>
        manifestYaml({
          manifests: `${
            server.url.replace(/manifests\.tar\.gz$/, "install.yaml")
          }, allowInsecureHttp: true`,
          git: tokenGit(git.repoUrl("fleet")),
          clusters: [{ name: "c0" }],
        }),
    }, async (env) => {
      const r = await env.cli(["plan", env.manifest], {
        GIT_PASSWORD: TOKEN,
        ...cacheEnv(env.dir),
      });
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.equal(server.requests(), 2, "the 503 was retried once");
      assert.match(
        r.stdout,
        new RegExp(
          `! flux\\.manifests http://\\S+/install\\.yaml was downloaded over plain http:// and is not pinned: check it, then pin it with flux\\.manifestsSha256: ${await sha256Hex(
            install,
          )}`,
        ),
      );
    });
  } finally {
    await server.close();
  }
});

Deno.test("manifests pull: downloads (through a 503), checks and writes the release archive with its SHA-256; the printed lines work", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fluxfleet-pull-" });
  const archive = await releaseArchive(dir);
  const server = flakyServer(archive, 1);
  try {
    const out = `${dir}/offline`;
    const r = await runCli([
      "manifests",
      "pull",
      "v2.4.0",
      out,
      "--url",
      server.url,
      "--allow-insecure-http",
    ]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(server.requests(), 2, "the 503 was retried once");
    const written = `${out}/flux-v2.4.0-manifests.tar.gz`;
    assert.deepEqual(await Deno.readFile(written), archive);
    const sha = await sha256Hex(archive);
    assert.equal(
      await Deno.readTextFile(`${written}.sha256`),
      `${sha}  flux-v2.4.0-manifests.tar.gz\n`,
    );
    const check = await runCommand("sha256sum", ["-c", "flux-v2.4.0-manifests.tar.gz.sha256"], {
      cwd: out,
    });
    assert.equal(check.code, 0, check.stdout + check.stderr);
    assert.match(r.stdout, new RegExp(`^    manifests: ${escape(written)}$`, "m"));
    assert.match(r.stdout, new RegExp(`^    manifestsSha256: ${sha}$`, "m"));
    // The printed lines are a working, pinned flux.manifests, without any network.
    const m = await loadManifests({ source: written, sha256: sha });
    assert.equal(m.kind, "release");
    const yaml = manifestYaml({
      manifests: `${written}, manifestsSha256: ${sha}`,
      git: tokenGit("http://127.0.0.1:1/fleet.git"),
      clusters: [{ name: "c0" }],
    });
    await Deno.writeTextFile(`${dir}/fleet.yaml`, yaml);
    const valid = await runCli(["validate", `${dir}/fleet.yaml`]);
    assert.equal(valid.code, 0, valid.stdout + valid.stderr);
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("manifests pull refuses what is not a release archive, a wrong --sha256, plain http:// without the opt-in and a bad version; nothing is written", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fluxfleet-pull-bad-" });
  const notRelease = await releaseArchive(dir, ["policies.yaml"]);
  const server = flakyServer(notRelease, 0);
  const out = `${dir}/offline`;
  const pull = (...args: string[]) => runCli(["manifests", "pull", ...args]);
  try {
    const cases: [string[], RegExp][] = [
      [
        ["v2.4.0", out, "--url", server.url, "--allow-insecure-http"],
        /is not a Flux release manifests archive: it has no source-controller\.yaml, kustomize-controller\.yaml/,
      ],
      [
        ["v2.4.0", out, "--url", server.url, "--allow-insecure-http", "--sha256", "0".repeat(64)],
        /has sha256 [0-9a-f]{64}, expected 0{64}/,
      ],
      [["v2.4.0", out, "--url", server.url], /is plain http:\/\/: anyone on the way can change/],
      [["2.4", out], /"2\.4" is not a Flux release version such as v2\.4\.0/],
    ];
    for (const [args, message] of cases) {
      const r = await pull(...args);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stderr, message);
    }
    assert.equal(await Deno.stat(out).then(() => true, () => false), false, "nothing written");
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});
