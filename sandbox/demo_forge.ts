/**
 * The demo's forges (`deno task demo --provider github|gitea`): the GitHub or Gitea API sandbox,
 * its repositories real bare repositories that the sandbox sshd serves, deploy keys enforced by
 * that sshd. The manifest's `git:` lines point the provider at the sandbox; the repository does
 * not exist yet, so the first apply creates it, adds one read-only deploy key per cluster and
 * pushes.
 */
import { type ForgeKind, startHostedForge } from "./forges.ts";
import { startSshd } from "./ssh/sshd.ts";

export type DemoForgeKind = ForgeKind;

export interface DemoForge {
  /** `git:` lines of the manifest's defaults, indented by the caller. */
  gitLines: string[];
  /** The token's variable and value, for the CLI's environment. */
  env: Record<string, string>;
  /** API requests so far: all, and those that changed something. */
  calls(): { all: number; changed: number };
  /** Commits of the repository's main branch, newest first. */
  log(): Promise<string[]>;
  close(): Promise<void>;
}

export async function startDemoForge(kind: DemoForgeKind): Promise<DemoForge> {
  const token = `demo_${crypto.randomUUID().replaceAll("-", "")}`;
  const sshd = await startSshd();
  const forge = await startHostedForge(kind, {
    users: ["demo"],
    orgs: [{ login: "acme", owners: ["demo"], teams: [{ slug: "platform" }] }],
    tokens: [{ token, user: "demo" }],
    sshd,
  });
  const tokenEnv = kind === "github" ? "GITHUB_TOKEN" : "GITEA_TOKEN";
  return {
    gitLines: [
      `provider: ${kind}`,
      `allowInsecureHttp: true   # the demo's ${kind} sandbox is plain http on 127.0.0.1`,
      // Before the repository exists its SSH address is not known: flux's --ssh-hostname.
      `sshHostname: 127.0.0.1:${sshd.port}`,
      `${kind}:`,
      `  apiUrl: ${forge.apiUrl}`,
      "  owner: acme",
      "  repository: fleet-infra",
      "  teams: [platform]",
      `  token: { env: ${tokenEnv} }`,
    ],
    env: { [tokenEnv]: token },
    calls: () => ({
      all: forge.requests.length,
      changed: forge.mutatingRequests().length,
    }),
    async log() {
      const out = await new Deno.Command("git", {
        args: [
          "--git-dir",
          `${sshd.root}/acme/fleet-infra.git`,
          "log",
          "--format=%h %an  %s",
          "main",
        ],
        stdout: "piped",
        stderr: "null",
      }).output();
      return new TextDecoder().decode(out.stdout).trim().split("\n").filter((l) => l !== "");
    },
    async close() {
      await forge.close();
      await sshd.stop();
    },
  };
}
