/**
 * A forge API sandbox as its own tests drive it (tests/integration/github_sandbox_test.ts,
 * gitea_sandbox_test.ts): a temp dir and, with `ssh`, the sandbox sshd serving the sandbox's
 * repositories (deploy keys enforced) with a known_hosts file trusting it; all of it stopped and
 * removed afterwards.
 */
import { join } from "node:path";
import { servedBySshd } from "../../sandbox/forges.ts";
import { type SshdServer, startSshd } from "../../sandbox/ssh/sshd.ts";

export interface ForgeSandboxEnv {
  dir: string;
  sshd?: SshdServer;
  /** known_hosts trusting the sshd (with `ssh`). */
  knownHosts?: string;
}

export async function withForgeSandbox<S extends { close(): Promise<void> }>(
  prefix: string,
  opts: { ssh?: boolean },
  start: (served: ReturnType<typeof servedBySshd>) => Promise<S>,
  fn: (sandbox: S, env: ForgeSandboxEnv) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix });
  const sshd = opts.ssh ? await startSshd() : undefined;
  let sandbox: S | undefined;
  try {
    sandbox = await start(servedBySshd(sshd));
    let knownHosts: string | undefined;
    if (sshd) {
      knownHosts = join(dir, "known_hosts");
      await Deno.writeTextFile(knownHosts, sshd.knownHosts());
    }
    await fn(sandbox, { dir, sshd, knownHosts });
  } finally {
    await sandbox?.close();
    await sshd?.stop();
    await Deno.remove(dir, { recursive: true });
  }
}
