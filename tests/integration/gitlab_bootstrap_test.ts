/**
 * flux bootstrap gitlab through the CLI, HTTPS modes: the GitLab API sandbox whose projects are
 * real bare repositories served by git http-backend, which lets a deploy token fetch only its
 * own project and a personal access token what its user may. The Flux stand-in really fetches
 * with the source secret before it reports Ready, so a wrong secret fails the run.
 */
import assert from "node:assert/strict";
import {
  type FleetEnv,
  fluxObject,
  manifestYaml,
  sourceSecret,
  withFleetEnv,
} from "../helpers/harness.ts";
import {
  type GitLabSandbox,
  type GitLabSandboxOptions,
  startGitLabSandbox,
} from "../../sandbox/gitlab/server.ts";
import { GL_ADMIN, GL_GROUPS, GL_USERS } from "../helpers/gitlab.ts";
import { outputSchemaErrors } from "../helpers/output_schema.ts";
import { countingListener } from "../helpers/listeners.ts";

type Env = FleetEnv & { gl: GitLabSandbox };

async function withEnv(
  fn: (env: Env) => Promise<void>,
  extra: Partial<GitLabSandboxOptions> = {},
): Promise<void> {
  let gl: GitLabSandbox | undefined;
  await withFleetEnv({
    prefix: "fluxfleet-gl-e2e-",
    manifestName: "fleet.yaml",
  }, async (env) => {
    gl = await startGitLabSandbox({
      users: GL_USERS,
      groups: GL_GROUPS,
      gitRoot: env.git.root,
      ...extra,
    });
    try {
      await fn({ ...env, gl });
    } finally {
      await gl.close();
    }
  });
}

async function writeManifest(env: Env, gitlab: string, cluster: string[] = []): Promise<void> {
  await Deno.writeTextFile(
    env.manifest,
    manifestYaml({
      clusters: [{
        name: "c0",
        lines: cluster,
        git: [
          "provider: gitlab",
          "allowInsecureHttp: true",
          "author: { name: fluxfleet-test, email: test@example.com }",
          `gitlab: { apiUrl: "${env.gl.url}", ${gitlab} }`,
        ],
      }],
    }),
  );
}

async function cli(env: Env, args: string[]) {
  const r = await env.cli([...args, env.manifest], { GITLAB_TOKEN: GL_ADMIN });
  assert.ok(!(r.stdout + r.stderr).includes(GL_ADMIN), "the GitLab token leaked into the output");
  return r;
}

Deno.test("gitlab deploy-token auth: an internal project in a subgroup created, the cluster reads with a deploy token of its own (never the token); a second run changes nothing; a revoked deploy token is replaced", async () => {
  await withEnv(async (env) => {
    await writeManifest(
      env,
      "owner: fleet/platform, repository: apps, visibility: internal, deployTokenAuth: true",
    );
    const plan = await cli(env, ["plan"]);
    assert.equal(plan.code, 0, plan.stdout + plan.stderr);
    assert.match(plan.stdout, /\+ create repository fleet\/platform\/apps \(internal\)/);
    // The JSON plan says the same, in the published output schema.
    const json = await cli(env, ["plan", "-o", "json"]);
    const doc = JSON.parse(json.stdout);
    assert.deepEqual(outputSchemaErrors(doc), []);
    const steps = doc.clusters[0].steps as Record<string, unknown>[];
    assert.deepEqual(steps.find((st) => st.kind === "repository"), {
      kind: "repository",
      action: "create",
      name: "fleet/platform/apps",
      private: true,
      visibility: "internal",
    });
    assert.equal(
      steps.find((st) => st.kind === "secret")?.issuedCredentials,
      "a project deploy token",
    );
    assert.match(
      plan.stdout,
      /\+ create secret flux-system\/flux-system \(password, username; a project deploy token issued at apply\)/,
    );
    const apply = await cli(env, ["apply", "--auto-approve"]);
    assert.equal(apply.code, 0, apply.stdout + apply.stderr);
    const project = env.gl.project("fleet/platform/apps")!;
    assert.equal(project.visibility, "internal");
    assert.equal(project.deployTokens.length, 1);
    const [token] = project.deployTokens;
    assert.equal(token.name, "fluxfleet-c0-clusters-c0-flux-system");
    assert.deepEqual(token.scopes, ["read_repository"]);
    const secret = sourceSecret(env.kube);
    assert.deepEqual(Object.keys(secret).sort(), ["password", "username"]);
    assert.equal(secret.username, token.username);
    assert.notEqual(secret.password, GL_ADMIN, "the cluster must not hold the personal token");
    assert.match(secret.password, /^gldt-/);
    assert.ok(
      !(apply.stdout + apply.stderr).includes(secret.password),
      "the deploy token leaked into the output",
    );
    // The deploy token reads the project (and only reads it).
    assert.equal(
      env.gl.gitAccess(secret.username, secret.password, "fleet/platform/apps.git"),
      "read",
    );
    assert.equal(
      (fluxObject(env.kube, "GitRepository") as { spec: { url: string } }).spec.url,
      `${env.gl.url}/fleet/platform/apps.git`,
    );

    const before = env.gl.mutatingRequests().length;
    const again = await cli(env, ["apply", "--auto-approve"]);
    assert.equal(again.code, 0, again.stdout + again.stderr);
    assert.match(again.stdout, /c0: unchanged/);
    assert.equal(env.gl.mutatingRequests().length, before, "no API change on a second run");

    // Revoked in GitLab: the plan says a new one is issued, apply replaces it.
    const del = await fetch(
      `${env.gl.url}/api/v4/projects/${
        encodeURIComponent("fleet/platform/apps")
      }/deploy_tokens/${token.id}`,
      { method: "DELETE", headers: { "private-token": GL_ADMIN } },
    );
    assert.equal(del.status, 204);
    const replan = await cli(env, ["plan"]);
    assert.match(
      replan.stdout,
      /~ update secret flux-system\/flux-system \(password, username changed; a project deploy token issued at apply\)/,
    );
    const reapply = await cli(env, ["apply", "--auto-approve"]);
    assert.equal(reapply.code, 0, reapply.stdout + reapply.stderr);
    const now = env.gl.project("fleet/platform/apps")!.deployTokens;
    assert.equal(now.length, 1);
    assert.notEqual(now[0].id, token.id);
    assert.equal(sourceSecret(env.kube).username, now[0].username);

    // destroy removes the cluster's deploy token with the rest.
    const destroy = await cli(env, ["destroy", "--auto-approve"]);
    assert.equal(destroy.code, 0, destroy.stdout + destroy.stderr);
    assert.match(
      destroy.stdout,
      /- remove deploy key fluxfleet-c0-clusters-c0-flux-system from the repository/,
    );
    assert.deepEqual(env.gl.project("fleet/platform/apps")!.deployTokens, []);
  });
});

Deno.test("gitlab deploy-token auth: rotate replaces the cluster's deploy token, the old one is deleted", async () => {
  await withEnv(async (env) => {
    await writeManifest(env, "owner: fleet, repository: apps, deployTokenAuth: true");
    const apply = await cli(env, ["apply", "--auto-approve"]);
    assert.equal(apply.code, 0, apply.stdout + apply.stderr);
    const [first] = env.gl.project("fleet/apps")!.deployTokens;
    await writeManifest(env, "owner: fleet, repository: apps, deployTokenAuth: true", [
      "rotate: true",
    ]);
    const rotated = await cli(env, ["apply", "--auto-approve"]);
    assert.equal(rotated.code, 0, rotated.stdout + rotated.stderr);
    const tokens = env.gl.project("fleet/apps")!.deployTokens;
    assert.deepEqual(tokens.map((t) => t.name), ["fluxfleet-c0-clusters-c0-flux-system"]);
    assert.notEqual(tokens[0].id, first.id);
    assert.equal(sourceSecret(env.kube).username, tokens[0].username);
  });
});

Deno.test("gitlab token auth: a personal project, the cluster reads over HTTPS with the token as user git", async () => {
  await withEnv(async (env) => {
    await writeManifest(env, "owner: alice, personal: true, repository: fleet, tokenAuth: true");
    const apply = await cli(env, ["apply", "--auto-approve"]);
    assert.equal(apply.code, 0, apply.stdout + apply.stderr);
    assert.equal(env.gl.project("alice/fleet")!.visibility, "private");
    const secret = sourceSecret(env.kube);
    assert.deepEqual([secret.username, secret.password], ["git", GL_ADMIN]);
    assert.deepEqual(env.gl.project("alice/fleet")!.deployKeys, []);
  });
});

Deno.test("gitlab: a throttled plan waits as GitLab's 429 says and shows the wait on the cluster's progress line", async () => {
  await withEnv(async (env) => {
    await writeManifest(env, "owner: fleet, repository: apps, tokenAuth: true");
    // Fewer requests a period than the plan makes: GitLab answers 429 with Retry-After.
    const r = await cli(env, ["plan"]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /\+ create repository fleet\/apps \(private\)/);
    assert.match(
      r.stderr,
      /c0: waiting \d+ s for GitLab's rate limit on 127\.0\.0\.1:\d+ \(retry-after\)/,
    );
    assert.ok(env.gl.requests.some((q) => q.status === 429));
  }, { rateLimit: { limit: 2, periodSeconds: 2 } });
});

Deno.test("gitlab: a server naming a clone link on another port of its host is refused, naming the cluster and the link; nothing is pushed there", async () => {
  const elsewhere = countingListener();
  try {
    await withEnv(async (env) => {
      await writeManifest(env, "owner: fleet, repository: apps, tokenAuth: true");
      const link = `http://127\\.0\\.0\\.1:${elsewhere.port}/fleet/apps\\.git`;
      const refused = new RegExp(
        `c0: failed[^:]*: GitLab names ${link} as the HTTPS clone URL of project fleet/apps, not on ${
          env.gl.url.replace(/\./g, "\\.")
        } where the repository lives: nothing is sent there`,
      );
      // Created at apply: the link of GitLab's answer is refused before the push.
      const apply = await cli(env, ["apply", "--auto-approve"]);
      assert.equal(apply.code, 1, apply.stdout + apply.stderr);
      assert.equal(elsewhere.connections(), 0, "the token went to the other port");
      assert.match(apply.stdout + apply.stderr, refused);
      // Existing on the next run: refused when observed.
      const plan = await cli(env, ["plan"]);
      assert.notEqual(plan.code, 0, plan.stdout + plan.stderr);
      assert.match(plan.stdout + plan.stderr, refused);
      assert.equal(elsewhere.connections(), 0, "the token went to the other port");
      assert.equal(env.gl.gitRequests.length, 0);
    }, { httpCloneBase: `http://127.0.0.1:${elsewhere.port}` });
  } finally {
    await elsewhere.close();
  }
});

Deno.test("gitlab: --cluster-timeout stops a GitLab request that gets no answer; the run ends at the deadline, naming the cluster, GitLab and the deadline", async () => {
  await withEnv(async (env) => {
    await writeManifest(env, "owner: fleet, repository: apps, tokenAuth: true");
    // The first API request (the token check) is held until the test lets it go.
    const hold = env.gl.holdNext();
    let waitedForAnswer = false;
    // Bound for a run that would wait for the answer: the per-request timeout is 120 s.
    const watchdog = setTimeout(() => {
      waitedForAnswer = true;
      hold.release();
    }, 60_000);
    const started = Date.now();
    try {
      const r = await cli(env, ["plan", "--timeout", "120s", "--cluster-timeout", "2s"]);
      const ended = Date.now() - started;
      assert.equal(waitedForAnswer, false, "the run waited for the held answer");
      assert.ok(ended >= 2000, `ended ${ended} ms after it started, before its deadline`);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.equal(await hold.arrived, "/api/v4/personal_access_tokens/self");
      assert.match(
        r.stdout + r.stderr,
        /c0: failed[^:]*: deadline of 2s reached while fetching http:\/\/127\.0\.0\.1:\d+\/fleet\/apps\.git \(--cluster-timeout\): check the GitLab token: waiting for the answer of GitLab at 127\.0\.0\.1:\d+ was stopped/,
      );
      // The client let go of the request (its connection closed), answer or not.
      await hold.gone;
    } finally {
      clearTimeout(watchdog);
      hold.release();
    }
  });
});
