/** The provider contract (tests/providers/contract.ts) on a forge sandbox (GitHub or Gitea). */
import type { Permission } from "../../lib/providers/types.ts";
import { permissionOf } from "../../lib/providers/forge/settings.ts";
import type { ContractSandbox } from "../providers/contract.ts";
import { FORGE_TOKENS, type ForgeKind, startForge } from "./forge.ts";

/** Gitea's team modes in neutral words (a team's own permission, as Gitea grants it). */
const GITEA_MODES: Record<string, Permission> = {
  read: "read",
  write: "write",
  admin: "admin",
  owner: "admin",
};

export async function forgeContract(kind: ForgeKind): Promise<ContractSandbox> {
  const env = await startForge(kind, { perPage: 2 });
  const service = kind === "github" ? "GitHub" : "Gitea";
  return {
    module: env.module,
    can: { createRepository: true, grantGroups: true, registerKeys: true },
    session: (name, opts = {}) =>
      env.open({
        repository: name,
        ...(opts.groups
          ? {
            teams: opts.groups.map((g) => `${g.group}:${env.module.permissionWord(g.permission)}`),
          }
          : {}),
        ...(opts.readWriteKey ? { readWriteKey: true } : {}),
      }),
    async existing(name) {
      const s = env.open({ repository: name });
      await s.observe();
      for (const step of s.planRepository().steps) await s.apply(step, { warn: () => {} });
    },
    holds(name) {
      const repo = env.repo("fleet", name);
      if (!repo) return undefined;
      return {
        keys: repo.keys.map((k) => ({
          key: k.key,
          permission: k.readOnly ? "read" as const : "write" as const,
        })),
        groups: Object.fromEntries(
          Object.entries(repo.teams).map((
            [t, p],
          ) => [t, kind === "github" ? permissionOf(p)! : GITEA_MODES[p]]),
        ),
      };
    },
    mutations: () => env.mutations().length,
    // Gitea grants a team its own permission: "ops" is a write team there.
    group: "ops",
    failures: [
      {
        status: 401,
        run: () => env.open({}, FORGE_TOKENS.wrong).observe(),
        words: new RegExp(
          `the ${service} token was rejected \\(401\\): check git\\.${kind}\\.token`,
        ),
        secret: FORGE_TOKENS.wrong,
      },
      {
        status: 403,
        async run() {
          const admin = env.open({ repository: "guarded", teams: ["ops:push"] });
          await admin.observe();
          for (const st of admin.planRepository().steps) await admin.apply(st, { warn: () => {} });
          // bob is in team ops: he may push to the repository, not administer it.
          return await env.open({ repository: "guarded" }, FORGE_TOKENS.bob).observe();
        },
        words: new RegExp(
          "the token for 127\\.0\\.0\\.1:\\d+/fleet cannot add deploy keys to fleet/guarded: it needs admin rights on the repository",
        ),
        secret: FORGE_TOKENS.bob,
      },
      {
        status: 404,
        run: () => env.open({ owner: "nope" }).observe(),
        words: /organization nope was not found on 127\.0\.0\.1:\d+ \(404\)/,
        secret: FORGE_TOKENS.alice,
      },
    ],
    close: () => env.close(),
  };
}
