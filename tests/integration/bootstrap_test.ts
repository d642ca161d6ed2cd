/**
 * End to end through the real CLI: real git http-backend, local Kubernetes API servers whose
 * Flux stand-in really fetches the repository with the secret fluxfleet stored.
 */
import assert from "node:assert/strict";
import {
  assertTempClean,
  type CommandResult,
  contextNames,
  type FleetEnv,
  fluxObject,
  INSTALL_MANIFEST,
  manifestYaml,
  sourceSecret,
  tokenGit,
  withFleetEnv,
} from "../helpers/harness.ts";
import { outputSchemaErrors } from "../helpers/output_schema.ts";
import { makeGitHttp } from "../../lib/git/transports/isomorphic/http.ts";
import {
  checkoutRepo,
  commitAndPush,
  httpsRemote,
} from "../../lib/git/transports/isomorphic/mod.ts";
import { readRepoFiles } from "../../lib/git/checkout.ts";
import { missing } from "../helpers/tools.ts";

const CANARY = "canary-token-d41d8cd98f00b204";

/** Clusters c0, c1, … (one sandbox each) on repository fleet; the CLI's token is CANARY. */
function withEnv(
  opts: { clusters?: number; timeout?: string; users?: Record<string, string> },
  fn: (env: FleetEnv) => Promise<void>,
): Promise<void> {
  return withFleetEnv({
    prefix: "fluxfleet-e2e-",
    git: { users: opts.users ?? { git: CANARY } },
    repos: ["fleet"],
    contexts: contextNames(opts.clusters ?? 1),
    cliEnv: { GIT_PASSWORD: CANARY },
    manifest: ({ git, kubes }) =>
      manifestYaml({
        timeout: opts.timeout ?? "30s",
        git: tokenGit(git.repoUrl("fleet")),
        clusters: kubes.map((_, i) => ({ name: `c${i}` })),
      }),
  }, fn);
}

function cli(env: FleetEnv, args: string[], token = CANARY): Promise<CommandResult> {
  return env.cli(args, { GIT_PASSWORD: token });
}

function assertNoCanary(r: CommandResult, token = CANARY) {
  assert.ok(!r.stdout.includes(token), "token leaked to stdout");
  assert.ok(!r.stderr.includes(token), "token leaked to stderr");
}

Deno.test("plan → apply → plan: two clusters bootstrapped, second run changes nothing", async () => {
  await withEnv({ clusters: 2 }, async (env) => {
    const plan = await cli(env, ["plan", "--detailed-exitcode", env.manifest]);
    assert.equal(plan.code, 2, plan.stderr);
    for (
      const line of [
        "+ commit clusters/c0/flux-system/gotk-components.yaml",
        "+ commit clusters/c1/flux-system/gotk-sync.yaml",
        "+ create namespace flux-system",
        "+ create secret flux-system/flux-system (password, username)",
        "+ create GitRepository flux-system/flux-system",
        "+ create Kustomization flux-system/flux-system",
      ]
    ) assert.ok(plan.stdout.includes(line), `plan lacks "${line}":\n${plan.stdout}`);
    assert.equal(env.git.pushCount(), 0, "plan must not push");
    assert.equal(env.kubes[0].mutatingRequests().length, 0, "plan must not change the cluster");

    const apply = await cli(env, ["apply", "--auto-approve", env.manifest]);
    assert.equal(apply.code, 0, apply.stdout + apply.stderr);
    assert.match(apply.stdout, /c0: changed \(\d+ steps\), synced main@sha1:[0-9a-f]{40}/);
    assert.match(apply.stdout, /Apply: 2 changed, 0 unchanged, 0 failed\./);
    assert.equal(env.git.pushCount(), 1, "one commit per repository");
    const [commit] = await env.git.log("fleet", "main");
    assert.match(commit.message, /^Add Flux v2\.4\.0 manifests for clusters c0, c1/);
    assert.match(commit.author, /fluxfleet-test/);
    const sync = await env.git.readFile("fleet", "main", "clusters/c1/flux-system/gotk-sync.yaml");
    assert.match(sync ?? "", /path: \.\/clusters\/c1/);
    const ks = fluxObject(env.kubes[1], "Kustomization") as {
      status?: { lastAppliedRevision?: string };
    };
    assert.equal(ks.status?.lastAppliedRevision, `main@sha1:${commit.sha}`);
    const secret = sourceSecret(env.kubes[0]);
    assert.equal(secret.password, CANARY);
    assert.equal(secret.username, "git");

    for (const k of env.kubes) k.resetRequests();
    const replan = await cli(env, ["plan", "--detailed-exitcode", env.manifest]);
    assert.equal(replan.code, 0, replan.stdout + replan.stderr);
    assert.match(replan.stdout, /No changes\. Every cluster matches the manifest\./);
    assert.match(replan.stdout, /= Kustomization flux-system\/flux-system ready \(main@sha1:/);

    const again = await cli(env, ["apply", "--auto-approve", env.manifest]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /Apply: 0 changed, 2 unchanged, 0 failed\./);
    assert.equal(env.git.pushCount(), 1, "a second apply must not push");
    for (const k of env.kubes) {
      assert.deepEqual(k.mutatingRequests(), [], "a second apply must not change the cluster");
      // An unchanged cluster costs at most three reads.
      assert.ok(k.requests.length <= 2 * 3, `requests: ${k.requests.length}`);
    }
    for (const r of [plan, apply, replan, again]) assertNoCanary(r);
    await assertTempClean(env.tmp);
  });
});

Deno.test("plan --output json: versioned document, no secret values", async () => {
  await withEnv({}, async (env) => {
    const r = await cli(env, ["plan", "--output", "json", env.manifest]);
    assert.equal(r.code, 0, r.stderr);
    assertNoCanary(r);
    const doc = JSON.parse(r.stdout);
    assert.deepEqual(outputSchemaErrors(doc), []);
    assert.equal(doc.formatVersion, 2);
    assert.equal(doc.kind, "fluxfleet.plan");
    assert.equal(doc.clusters[0].cluster, "c0");
    const kinds = doc.clusters[0].steps.map((s: { kind: string }) => s.kind);
    assert.deepEqual([...new Set(kinds)], ["file", "namespace", "components", "secret", "sync"]);
    assert.equal(doc.summary.changed, 1);
  });
});

Deno.test("changed token: plan shows the secret update, apply converges, Flux reads with the new one", async () => {
  const newToken = "canary-rotated-token-77aa";
  await withEnv({ users: { git: CANARY, rotated: newToken } }, async (env) => {
    assert.equal((await cli(env, ["apply", "--auto-approve", env.manifest])).code, 0);
    // Rotate: another user name and token (the sandbox's git server knows both).
    const text = await Deno.readTextFile(env.manifest);
    await Deno.writeTextFile(env.manifest, text.replace("username: git", "username: rotated"));
    const plan = await cli(env, ["plan", env.manifest], newToken);
    assert.match(
      plan.stdout,
      /~ update secret flux-system\/flux-system \(password, username changed\)/,
    );
    assertNoCanary(plan, newToken);
    const apply = await cli(env, ["apply", "--auto-approve", env.manifest], newToken);
    assert.equal(apply.code, 0, apply.stdout + apply.stderr);
    assertNoCanary(apply, newToken);
    const replan = await cli(env, ["plan", "--detailed-exitcode", env.manifest], newToken);
    assert.equal(replan.code, 0, replan.stdout);
  });
});

Deno.test("wrong token: the cluster fails with a 401 in words, nothing is changed", async () => {
  await withEnv({}, async (env) => {
    const wrong = "canary-wrong-token-0000";
    const r = await cli(env, ["apply", "--auto-approve", env.manifest], wrong);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /c0: failed: git server rejected the credentials .* \(HTTP 401\)/);
    assertNoCanary(r, wrong);
    assert.equal(env.kubes[0].mutatingRequests().length, 0);
    await assertTempClean(env.tmp);
  });
});

Deno.test("Kustomization Ready=False: apply fails fast with the condition, re-runs converge once fixed", async () => {
  await withEnv({ timeout: "20s" }, async (env) => {
    env.kubes[0].setFluxBehaviour("fail", "kustomize build failed: missing resource foo.yaml");
    const started = Date.now();
    const r = await cli(env, ["apply", "--auto-approve", env.manifest]);
    assert.equal(r.code, 1);
    assert.match(
      r.stdout,
      /c0: failed: Kustomization flux-system\/flux-system failed: Ready=False \(BuildFailed\): kustomize build failed: missing resource foo\.yaml/,
    );
    assert.ok(Date.now() - started < 15_000, "Ready=False must fail before the timeout");
    // As flux: while the Kustomization has never applied, a re-run installs the components again
    // (a server-side no-op) and waits again; nothing is committed twice.
    const pushes = env.git.pushCount();
    const again = await cli(env, ["apply", "--auto-approve", env.manifest]);
    assert.equal(again.code, 1);
    assert.match(
      again.stdout,
      /\+ install Flux components \(\d+ objects, server-side apply\): Flux is installed but not in sync yet: Kustomization flux-system\/flux-system has never applied a revision/,
    );
    assert.match(
      again.stdout,
      /! Kustomization flux-system\/flux-system not ready: kustomize build failed/,
    );
    assert.equal(env.git.pushCount(), pushes);
    // Once the cause is fixed, the next run converges.
    env.kubes[0].setFluxBehaviour("ready");
    const fixed = await cli(env, ["apply", "--auto-approve", env.manifest]);
    assert.equal(fixed.code, 0, fixed.stdout + fixed.stderr);
    assert.equal((await cli(env, ["plan", "--detailed-exitcode", env.manifest])).code, 0);
  });
});

Deno.test("Kustomization never reconciled: apply times out with the last status seen", async () => {
  await withEnv({ timeout: "3s" }, async (env) => {
    env.kubes[0].setFluxBehaviour("hang");
    const r = await cli(env, ["apply", "--auto-approve", env.manifest]);
    assert.equal(r.code, 1);
    assert.match(
      r.stdout,
      /c0: failed: timed out after 3s waiting for Kustomization flux-system\/flux-system to be Ready; last status: no Ready condition yet/,
    );
  });
});

Deno.test("apply without --auto-approve and without a terminal refuses", async () => {
  await withEnv({}, async (env) => {
    const r = await cli(env, ["apply", env.manifest]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /refusing to apply without confirmation: no terminal; pass --auto-approve/,
    );
    assert.equal(env.git.pushCount(), 0);
  });
});

Deno.test("missing token variable: clear error before anything is contacted", async () => {
  await withEnv({}, async (env) => {
    const out = await cli(env, ["plan", env.manifest], "");
    assert.equal(out.code, 1);
    assert.match(
      out.stderr,
      /cluster "c0": git.auth.token: environment variable GIT_PASSWORD is not set/,
    );
    assert.equal(env.git.requests.length, 0);
    assert.equal(env.kubes[0].requests.length, 0);
  });
});

Deno.test("--cluster plans and applies only the named cluster", async () => {
  await withEnv({ clusters: 2 }, async (env) => {
    const r = await cli(env, [
      "apply",
      "--auto-approve",
      "--output",
      "json",
      "--cluster",
      "c1",
      env.manifest,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout);
    assert.deepEqual(outputSchemaErrors(doc), []);
    assert.deepEqual(doc.results.map((x: { cluster: string }) => x.cluster), ["c1"]);
    assert.equal(env.kubes[0].requests.length, 0, "c0 must not be contacted");
    assert.equal(
      await env.git.readFile("fleet", "main", "clusters/c0/flux-system/gotk-sync.yaml"),
      null,
    );
    assert.notEqual(
      await env.git.readFile("fleet", "main", "clusters/c1/flux-system/gotk-sync.yaml"),
      null,
    );
  });
});

Deno.test("Ctrl-C during the health wait: stops cleanly, reports, exit 130, no temp files", async () => {
  await withEnv({ timeout: "2m" }, async (env) => {
    env.kubes[0].setFluxBehaviour("hang");
    const child = env.spawn(["apply", "--auto-approve", env.manifest]);
    const stdoutText = new Response(child.stdout).text();
    const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
    let err = "";
    const deadline = Date.now() + 30_000;
    while (!err.includes("waiting for Flux to be Ready") && Date.now() < deadline) {
      const { done, value } = await reader.read();
      if (done) break;
      err += value;
    }
    child.kill("SIGINT");
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      err += value;
    }
    const status = await child.status;
    const out = await stdoutText;
    assert.equal(status.code, 130, out + err);
    assert.match(err, /interrupted: finishing the steps in flight/);
    assert.match(
      out,
      /c0: failed: interrupted while waiting for GitRepository|c0: failed: interrupted while waiting for Kustomization/,
    );
    await assertTempClean(env.tmp);
  });
});

async function pushHandEdit(env: FleetEnv, path: string, edit: (text: string) => string) {
  const h = makeGitHttp({ allowInsecureHttp: true, timeoutMs: 10_000 });
  const dir = `${env.dir}/hand-${crypto.randomUUID()}`;
  try {
    const access = { url: env.git.repoUrl("fleet"), username: "git", password: CANARY };
    const co = await checkoutRepo(httpsRemote(access, h), "main", dir);
    const before = (await readRepoFiles(co, [path]))[path] ?? "";
    await commitAndPush(
      co,
      httpsRemote(access, h),
      [{ path, content: edit(before) }, {
        path: "apps/app.yaml",
        content: "kind: App\n",
      }],
      "hand edit",
      { name: "Someone", email: "someone@example.com" },
    );
  } finally {
    h.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("drift: a hand edit under flux-system/ is shown as a diff and restored; other files untouched", async () => {
  await withEnv({}, async (env) => {
    assert.equal((await cli(env, ["apply", "--auto-approve", env.manifest])).code, 0);
    const path = "clusters/c0/flux-system/gotk-sync.yaml";
    await pushHandEdit(env, path, (t) => t.replace("interval: 1m0s", "interval: 9m0s"));
    const plan = await cli(env, ["plan", "--detailed-exitcode", env.manifest]);
    assert.equal(plan.code, 2);
    assert.match(
      plan.stdout,
      /~ commit clusters\/c0\/flux-system\/gotk-sync.yaml \(content differs from the manifest\)/,
    );
    assert.match(plan.stdout, /- {2}interval: 9m0s\n\s+\+ {2}interval: 1m0s/);
    const apply = await cli(env, ["apply", "--auto-approve", env.manifest]);
    assert.equal(apply.code, 0, apply.stdout + apply.stderr);
    assert.match(await env.git.readFile("fleet", "main", path) ?? "", /interval: 1m0s/);
    assert.equal(await env.git.readFile("fleet", "main", "apps/app.yaml"), "kind: App\n");
    const ks = fluxObject(env.kubes[0], "Kustomization") as {
      status: { lastAppliedRevision: string };
    };
    assert.equal(
      ks.status.lastAppliedRevision,
      `main@sha1:${await env.git.headSha("fleet", "main")}`,
    );
    assert.equal((await cli(env, ["plan", "--detailed-exitcode", env.manifest])).code, 0);
  });
});

Deno.test("upgrade: a new flux.version shows the components diff, commits it and waits for the new revision", async () => {
  await withEnv({}, async (env) => {
    assert.equal((await cli(env, ["apply", "--auto-approve", env.manifest])).code, 0);
    const text = await Deno.readTextFile(env.manifest);
    await Deno.writeTextFile(env.manifest, text.replace("version: v2.4.0", "version: v2.5.0"));
    const plan = await cli(env, ["plan", env.manifest]);
    assert.match(plan.stdout, /~ commit clusters\/c0\/flux-system\/gotk-components.yaml/);
    assert.match(plan.stdout, /-# Flux Version: v2\.4\.0\n\s+\+# Flux Version: v2\.5\.0/);
    const apply = await cli(env, ["apply", "--auto-approve", env.manifest]);
    assert.equal(apply.code, 0, apply.stdout + apply.stderr);
    const head = await env.git.headSha("fleet", "main");
    assert.match(apply.stdout, new RegExp(`c0: changed \\(1 step\\), synced main@sha1:${head}`));
    assert.equal((await cli(env, ["plan", "--detailed-exitcode", env.manifest])).code, 0);
  });
});

Deno.test({
  name: "plan --out / apply --plan-file: a fresh plan applies, a stale one is refused",
  ignore: missing("kubectl"),
}, async () => {
  await withEnv({}, async (env) => {
    const planFile = `${env.dir}/plan.json`;
    const plan = await cli(env, ["plan", "--out", planFile, env.manifest]);
    assert.equal(plan.code, 0, plan.stderr);
    assert.equal((await Deno.stat(planFile)).mode! & 0o777, 0o600);
    assert.ok(!(await Deno.readTextFile(planFile)).includes(CANARY));
    assert.deepEqual(outputSchemaErrors(JSON.parse(await Deno.readTextFile(planFile))), []);
    // Someone pushes in between: the saved plan no longer describes the repository.
    const own = "# ours\nresources:\n- gotk-components.yaml\n- gotk-sync.yaml\n";
    await pushHandEdit(env, "clusters/c0/flux-system/kustomization.yaml", () => own);
    const stale = await cli(env, ["apply", "--plan-file", planFile, env.manifest]);
    assert.equal(stale.code, 1);
    assert.match(
      stale.stderr,
      /the saved plan .* is stale: cluster "c0" or its repository changed since the plan was made/,
    );
    assert.equal(env.kubes[0].mutatingRequests().length, 0);
    // A fresh plan file applies without --auto-approve: it was reviewed when it was made.
    assert.equal((await cli(env, ["plan", "--out", planFile, env.manifest])).code, 0);
    const apply = await cli(env, ["apply", "--plan-file", planFile, env.manifest]);
    assert.equal(apply.code, 0, apply.stdout + apply.stderr);
    // kustomization.yaml written by hand is kept (written only when absent).
    assert.equal(
      await env.git.readFile("fleet", "main", "clusters/c0/flux-system/kustomization.yaml"),
      own,
    );
  });
});

Deno.test({
  name:
    "apply --plan-file: a saved plan is applied only as it was, not with Flux manifests that changed since (same steps, other contents)",
  ignore: missing("kubectl"),
}, async () => {
  await withEnv({}, async (env) => {
    // flux.manifests is a local install.yaml, not pinned: what it holds may change after the plan.
    const install = `${env.dir}/install.yaml`;
    await Deno.copyFile(INSTALL_MANIFEST, install);
    const text = await Deno.readTextFile(env.manifest);
    await Deno.writeTextFile(env.manifest, text.replace(INSTALL_MANIFEST, install));
    const planFile = `${env.dir}/plan.json`;
    assert.equal((await cli(env, ["plan", "--out", planFile, env.manifest])).code, 0);
    const saved = JSON.parse(await Deno.readTextFile(planFile));
    assert.deepEqual(outputSchemaErrors(saved), []);
    assert.match(saved.clusters[0].payload, /^sha256:[0-9a-f]{64}$/);
    // Another helm-controller: the plan still says "+ commit …gotk-components.yaml", but the
    // file it would commit is not the one the saved plan showed.
    const release = await Deno.readTextFile(install);
    await Deno.writeTextFile(
      install,
      release.replace("helm-controller:v1.1.0", "helm-controller:v9.9.9"),
    );
    const stale = await cli(env, ["apply", "--plan-file", planFile, env.manifest]);
    assert.equal(stale.code, 1, stale.stdout + stale.stderr);
    assert.match(
      stale.stderr,
      /the saved plan .* is stale: cluster "c0": what apply would write differs from the saved plan/,
    );
    assert.equal(env.git.pushCount(), 0);
    assert.equal(env.kubes[0].mutatingRequests().length, 0);
  });
});

Deno.test("one unreachable cluster fails in words; the others are applied", async () => {
  await withEnv({ clusters: 2 }, async (env) => {
    await env.kubes[1].close();
    const r = await cli(env, ["apply", "--auto-approve", env.manifest]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /c0: changed \(\d+ steps\)/);
    assert.match(
      r.stdout,
      /c1: failed: cannot reach the cluster API of context "c1" at https:\/\/127\.0\.0\.1:\d+: connection refused/,
    );
    assert.match(r.stdout, /Apply: 1 changed, 0 unchanged, 1 failed\./);
    // c1's files were not committed: its plan failed before anything was done for it.
    assert.equal(
      await env.git.readFile("fleet", "main", "clusters/c1/flux-system/gotk-sync.yaml"),
      null,
    );
  });
});

Deno.test("--fail-fast: a cluster that cannot be planned stops the others from starting", async () => {
  await withEnv({ clusters: 2 }, async (env) => {
    await env.kubes[1].close();
    const r = await cli(env, ["apply", "--auto-approve", "--fail-fast", env.manifest]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /c0: skipped \(another cluster failed \(--fail-fast\)\)/);
    assert.match(r.stdout, /c1: failed: cannot reach the cluster API/);
    assert.match(r.stdout, /Apply: 0 changed, 0 unchanged, 1 failed, 1 skipped\./);
    assert.equal(env.git.pushCount(), 0);
    assert.equal(env.kubes[0].mutatingRequests().length, 0);
  });
});

Deno.test("destroy: plan first, then uninstall everything and delete the git files; a re-run has nothing to do", async () => {
  await withEnv({}, async (env) => {
    assert.equal((await cli(env, ["apply", "--auto-approve", env.manifest])).code, 0);
    const refused = await cli(env, ["destroy", env.manifest]);
    assert.equal(refused.code, 1);
    assert.match(refused.stdout, /- delete Kustomization flux-system\/flux-system/);
    assert.match(refused.stderr, /refusing to destroy without confirmation/);
    const r = await cli(env, ["destroy", "--auto-approve", "--delete-git-manifests", env.manifest]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /- remove finalizers from Flux custom resources/);
    assert.match(r.stdout, /- delete namespace flux-system \(with the source secret\)/);
    assert.match(r.stdout, /- commit: delete clusters\/c0\/flux-system\/gotk-sync.yaml/);
    assert.match(r.stdout, /c0: destroyed/);
    const k = env.kubes[0];
    assert.equal(k.getObject("v1", "Namespace", undefined, "flux-system"), undefined);
    assert.equal(
      k.getObject(
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
        undefined,
        "gitrepositories.source.toolkit.fluxcd.io",
      ),
      undefined,
    );
    assert.equal(
      await env.git.readFile("fleet", "main", "clusters/c0/flux-system/gotk-sync.yaml"),
      null,
    );
    const [last] = await env.git.log("fleet", "main");
    assert.match(last.message, /^Remove Flux manifests for c0/);
    k.resetRequests();
    const again = await cli(env, [
      "destroy",
      "--auto-approve",
      "--delete-git-manifests",
      env.manifest,
    ]);
    assert.equal(again.code, 0, again.stdout + again.stderr);
    assert.match(again.stdout, /Nothing to destroy\./);
    assert.deepEqual(k.mutatingRequests(), []);
  });
});

Deno.test("a kube context missing from the kubeconfig: error naming cluster and context, nothing contacted", async () => {
  await withEnv({}, async (env) => {
    const text = await Deno.readTextFile(env.manifest);
    await Deno.writeTextFile(
      env.manifest,
      text.replace("kube: { context: c0 }", "kube: { context: nope }"),
    );
    const r = await cli(env, ["plan", env.manifest]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /cluster "c0": kube\.context: context "nope" is not in kubeconfig .*kubeconfig \(contexts: c0\)/,
    );
    assert.equal(env.git.requests.length, 0);
    assert.equal(env.kubes[0].requests.length, 0);
  });
});

Deno.test("recover: a new cluster whose path already holds flux-system is bootstrapped from it without a commit", async () => {
  await withEnv({}, async (env) => {
    assert.equal((await cli(env, ["apply", "--auto-approve", env.manifest])).code, 0);
    // The cluster is rebuilt from scratch; the repository keeps its files.
    assert.equal((await cli(env, ["destroy", "--auto-approve", env.manifest])).code, 0);
    const pushes = env.git.pushCount();
    const head = await env.git.headSha("fleet", "main");
    const plan = await cli(env, ["plan", env.manifest]);
    assert.ok(!plan.stdout.includes("commit "), plan.stdout);
    assert.match(plan.stdout, /\+ install Flux components/);
    const apply = await cli(env, ["apply", "--auto-approve", env.manifest]);
    assert.equal(apply.code, 0, apply.stdout + apply.stderr);
    assert.match(
      apply.stdout,
      new RegExp(`c0: changed \\(\\d+ steps\\), synced main@sha1:${head}`),
    );
    assert.equal(env.git.pushCount(), pushes, "history is not rewritten, nothing is committed");
  });
});

Deno.test("--debug logs every request, redacted; --retries bounds the attempts", async () => {
  await withEnv({}, async (env) => {
    const r = await cli(env, ["plan", "--debug", env.manifest]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      /debug: kube c0: GET \/api\/v1\/namespaces\/flux-system\/secrets\/flux-system -> 404 \(\d+ ms\)/,
    );
    assert.match(
      r.stderr,
      /debug: git: GET http:\/\/127\.0\.0\.1:\d+\/fleet\.git\/info\/refs\?service=git-upload-pack -> 200/,
    );
    assertNoCanary(r);
    assert.ok(!r.stderr.includes(btoa(`git:${CANARY}`)), "no Authorization header in debug lines");
    // One attempt only: a single 503 fails the cluster.
    env.kubes[0].failNext({ status: 503, method: "GET", pathIncludes: "/secrets/" });
    const once = await cli(env, ["plan", "--retries", "1", env.manifest]);
    assert.equal(once.code, 1);
    assert.match(once.stdout, /the API server failed \(503\)/);
    // The default retries through the same fault.
    env.kubes[0].failNext({ status: 503, method: "GET", pathIncludes: "/secrets/" });
    assert.equal((await cli(env, ["plan", env.manifest])).code, 0);
  });
});

Deno.test({
  name: "a user's kustomization.yaml with patches is kept and honoured when Flux is installed",
  ignore: missing("kubectl"),
}, async () => {
  await withEnv({}, async (env) => {
    const custom = `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- gotk-components.yaml
- gotk-sync.yaml
patches:
- target:
    kind: Deployment
    name: source-controller
  patch: |
    - op: add
      path: /metadata/labels/patched-by
      value: user
`;
    await pushHandEdit(env, "clusters/c0/flux-system/kustomization.yaml", () => custom);
    const plan = await cli(env, ["plan", env.manifest]);
    assert.match(
      plan.stdout,
      /> the repository has its own kustomization\.yaml: the components are installed from its kubectl kustomize build/,
    );
    assert.ok(!plan.stdout.includes("commit clusters/c0/flux-system/kustomization.yaml"));
    const apply = await cli(env, ["apply", "--auto-approve", env.manifest]);
    assert.equal(apply.code, 0, apply.stdout + apply.stderr);
    const dep = env.kubes[0].getObject(
      "apps/v1",
      "Deployment",
      "flux-system",
      "source-controller",
    ) as {
      metadata: { labels: Record<string, string> };
    };
    assert.equal(dep.metadata.labels["patched-by"], "user");
    assert.equal(
      await env.git.readFile("fleet", "main", "clusters/c0/flux-system/kustomization.yaml"),
      custom,
    );
  });
});
