/**
 * Observation of a fleet: repositories are fetched while the clusters' APIs are read (neither
 * waits for the other but for a cluster's files), the plan is the same whichever side answers
 * first, errors from either side reach the plan, and a run that only plans lets go of each
 * repository's checkout as soon as its clusters are planned. Real sandboxes (Kubernetes API, git
 * http-backend) through the run's seams (RunOptions.connect), in process.
 */
import assert from "node:assert/strict";
import {
  contextNames,
  type FleetEnv,
  manifestYaml,
  tokenGit,
  withFleetEnv,
} from "../helpers/harness.ts";
import { loadManifest } from "../../lib/config/load.ts";
import { type FleetRun, planFleet } from "../../lib/apply/fleet.ts";
import { type Connectors, DEFAULT_CONNECTORS, type RunOptions } from "../../lib/apply/options.ts";
import { GitError } from "../../lib/git/types.ts";
import { renderPlanText } from "../../lib/report/text.ts";

const TOKEN = "canary-token-observe-overlap-7c2d";
/** Only a fail-safe: a gate that is never opened lets the run go on after this, and says so. */
const GATE_MS = 10_000;

/** A gate opened once; `wait` says whether it was opened (true) or gave up after GATE_MS. */
function gate(): { open(): void; wait(): Promise<boolean>; opened: boolean } {
  let release!: () => void;
  const opened = new Promise<void>((r) => release = r);
  const g = {
    opened: false,
    open() {
      g.opened = true;
      release();
    },
    async wait(): Promise<boolean> {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const gaveUp = new Promise<boolean>((r) => timer = setTimeout(() => r(false), GATE_MS));
      try {
        return await Promise.race([opened.then(() => true), gaveUp]);
      } finally {
        clearTimeout(timer);
      }
    },
  };
  return g;
}

interface Hooks {
  /** Before a cluster's client is made (its first API read follows at once). */
  beforeKube?(context: string): Promise<void> | void;
  /** After a cluster's first API answer. */
  afterKubeRead?(context: string): void;
  /** Instead of / before a repository's fetch; `dir` is where it is fetched to. */
  beforeCheckout?(url: string, dir: string): Promise<void> | void;
  /** After a repository's fetch into `dir`. */
  afterCheckout?(url: string, dir: string): unknown;
  /** A repository's remote closed. */
  onRemoteClose?(url: string): void;
}

function connectors(h: Hooks): Connectors {
  return {
    async kubeClient(target, opts) {
      await h.beforeKube?.(target.context ?? "");
      const client = await DEFAULT_CONNECTORS.kubeClient(target, opts);
      return {
        ...client,
        context: client.context,
        server: client.server,
        async get(path) {
          const got = await client.get(path);
          h.afterKubeRead?.(client.context);
          return got;
        },
      };
    },
    openRemote(access, opts) {
      const remote = DEFAULT_CONNECTORS.openRemote(access, opts);
      return {
        ...remote,
        async checkout(branch, dir, where) {
          await h.beforeCheckout?.(access.url, dir);
          const co = await remote.checkout(branch, dir, where);
          await h.afterCheckout?.(access.url, dir);
          return co;
        },
        async close() {
          h.onRemoteClose?.(access.url);
          await remote.close();
        },
      };
    },
    openProvider: DEFAULT_CONNECTORS.openProvider,
  };
}

/** Clusters c0 … c<n-1>; `repoOf(i)` names the repository of cluster i. */
function withEnv(
  n: number,
  repoOf: (i: number) => string,
  fn: (env: FleetEnv) => Promise<void>,
): Promise<void> {
  const repos = [...new Set(Array.from({ length: n }, (_, i) => repoOf(i)))];
  return withFleetEnv({
    prefix: "fluxfleet-overlap-",
    git: { users: { git: TOKEN } },
    repos,
    contexts: contextNames(n),
    manifest: ({ git, kubes }) =>
      manifestYaml({
        git: tokenGit(git.repoUrl(repos[0])),
        clusters: kubes.map((_, i) => ({
          name: `c${i}`,
          ...(repoOf(i) === repos[0] ? {} : { git: [`url: ${git.repoUrl(repoOf(i))}`] }),
        })),
      }),
  }, fn);
}

async function plan(
  env: FleetEnv,
  hooks: Hooks,
  extra: Partial<RunOptions> = {},
): Promise<FleetRun> {
  const manifest = await loadManifest(env.manifest);
  return planFleet(manifest, manifest.clusters, {
    concurrency: 4,
    secrets: { readStdin: () => Promise.resolve(""), env: (n) => ({ GIT_PASSWORD: TOKEN })[n] },
    connect: connectors(hooks),
    ...extra,
  });
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** Every cluster's plan as a user sees it, and as data (without the live parts). */
function shown(run: FleetRun): string {
  return renderPlanText(run.plans) + "\n" + JSON.stringify(run.plan, null, 1);
}

Deno.test("observe: a cluster's API is read while its repository is still being fetched", async () => {
  await withEnv(2, () => "fleet", async (env) => {
    const apiRead = gate();
    const run = await plan(env, {
      afterKubeRead: () => apiRead.open(),
      // The fetch starts only once some cluster's API has answered: with the phases one after
      // the other it would wait out GATE_MS and the run would go on without it.
      beforeCheckout: async () => {
        assert.equal(await apiRead.wait(), true, "no API read happened while git was fetching");
      },
    });
    try {
      assert.deepEqual(run.plans.map((p) => p.error), [undefined, undefined]);
      assert.deepEqual(run.plan.repositories.map((r) => r.commit?.clusters), [["c0", "c1"]]);
    } finally {
      await run.close();
    }
  });
});

Deno.test("observe: the plan is the same whether git or the cluster APIs answer first", async () => {
  await withEnv(3, (i) => (i < 2 ? "a" : "b"), async (env) => {
    // Git first: no API answer until every repository is fetched.
    let fetched = 0;
    const allFetched = gate();
    const gitFirst = await plan(env, {
      beforeKube: async () => void await allFetched.wait(),
      afterCheckout: () => ++fetched === 2 && allFetched.open(),
    });
    // The APIs first: no fetch until every cluster's API has answered.
    const read = new Set<string>();
    const allRead = gate();
    const apiFirst = await plan(env, {
      afterKubeRead: (c) => read.add(c).size === 3 && allRead.open(),
      beforeCheckout: async () => void await allRead.wait(),
    });
    try {
      assert.equal(allFetched.opened && allRead.opened, true);
      assert.equal(gitFirst.plans.every((p) => p.error === undefined && p.steps.length > 0), true);
      assert.equal(shown(apiFirst), shown(gitFirst));
    } finally {
      await gitFirst.close();
      await apiFirst.close();
    }
  });
});

Deno.test("observe: clusters waiting for their repository hold up no other cluster's API read", async () => {
  // One at a time (--concurrency 1), and no fetch until every cluster's API has answered: the
  // first cluster waiting for its files must not keep the others from being read.
  await withEnv(3, (i) => (i < 2 ? "a" : "b"), async (env) => {
    const read = new Set<string>();
    const allRead = gate();
    const run = await plan(env, {
      afterKubeRead: (c) => read.add(c).size === 3 && allRead.open(),
      beforeCheckout: async () => {
        assert.equal(await allRead.wait(), true, "the API reads stopped at a waiting cluster");
      },
    }, { concurrency: 1 });
    try {
      assert.deepEqual(run.plans.map((p) => p.error), [undefined, undefined, undefined]);
      assert.equal(run.plans.every((p) => p.steps.length > 0), true);
    } finally {
      await run.close();
    }
  });
});

Deno.test("observe: errors from either side reach the plan; a repository's error comes first", async () => {
  await withEnv(3, (i) => (i < 2 ? "a" : "b"), async (env) => {
    const repoA = env.git.repoUrl("a");
    // Repository a refuses the fetch, after c1's API already failed; b and its cluster c2 are fine.
    const c1Failed = gate();
    const run = await plan(env, {
      beforeKube: (context) => {
        if (context === "c1") {
          c1Failed.open();
          throw new Error("c1's API server is down");
        }
      },
      beforeCheckout: async (url) => {
        if (url !== repoA) return;
        await c1Failed.wait();
        throw new GitError("repository a: access denied", false);
      },
    });
    try {
      const errors = run.plans.map((p) => p.error ?? "");
      assert.match(errors[0], /repository a: access denied/);
      assert.match(errors[1], /repository a: access denied/, "the repository's error, not c1's");
      assert.equal(errors[2], "");
      assert.match(run.plan.repositories[0].error ?? "", /repository a: access denied/);
    } finally {
      await run.close();
    }

    // Only the cluster's API fails: that is its error, and its repository's other cluster plans.
    const second = await plan(env, {
      beforeKube: (context) => {
        if (context === "c1") throw new Error("c1's API server is down");
      },
    });
    try {
      assert.deepEqual(second.plans.map((p) => p.error), [
        undefined,
        "c1's API server is down",
        undefined,
      ]);
      assert.deepEqual(second.plan.repositories.map((r) => r.commit?.clusters), [["c0"], ["c2"]]);
    } finally {
      await second.close();
    }
  });
});

Deno.test("observe: a run that only plans fetches into memory, and lets go of a repository once its clusters are planned", async () => {
  // c0 in repository a; c1 and c2 in b. c2's API answers only once a is released.
  await withEnv(3, (i) => (i === 0 ? "a" : "b"), async (env) => {
    const onDisk = new Map<string, boolean>();
    const closed: string[] = [];
    let releasedWhileOthersObserved: boolean | undefined;
    const hooks: Hooks = {
      afterCheckout: async (url, dir) => void onDisk.set(url, await exists(dir)),
      onRemoteClose: (url) => closed.push(url),
      beforeKube: async (context) => {
        if (context !== "c2") return;
        const deadline = Date.now() + GATE_MS;
        const released = () => closed.includes(env.git.repoUrl("a"));
        while (Date.now() < deadline && !released()) {
          await new Promise((r) => setTimeout(r, 20));
        }
        releasedWhileOthersObserved = released();
      },
    };
    const run = await plan(env, hooks, { planOnly: true });
    try {
      assert.deepEqual(run.plans.map((p) => p.error), [undefined, undefined, undefined]);
      assert.equal(run.plans.every((p) => p.steps.length > 0), true);
      // Read from memory: nothing of either repository was written to disk.
      assert.deepEqual([...onDisk.entries()].sort(), [
        [env.git.repoUrl("a"), false],
        [env.git.repoUrl("b"), false],
      ]);
      assert.equal(releasedWhileOthersObserved, true, "a was still held while b planned");
      assert.deepEqual(closed.sort(), [env.git.repoUrl("a"), env.git.repoUrl("b")].sort());
      assert.equal(run.session.repos.every((r) => r.checkout === undefined), true);
      await assert.rejects(run.apply(), /only plans/);
    } finally {
      await run.close();
    }

    // A run that may apply fetches to disk and keeps its checkouts until it is closed.
    const dirs = new Map<string, string>();
    onDisk.clear();
    const kept = await plan(env, {
      beforeCheckout: (url, dir) => void dirs.set(url, dir),
      afterCheckout: async (url, dir) => void onDisk.set(url, await exists(dir)),
    });
    try {
      assert.deepEqual([...onDisk.values()], [true, true]);
      assert.deepEqual(shown(kept), shown(run), "the same plan as from memory");
      for (const dir of dirs.values()) assert.equal(await exists(dir), true);
    } finally {
      await kept.close();
    }
    for (const dir of dirs.values()) assert.equal(await exists(dir), false);
  });
});
