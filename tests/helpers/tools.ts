/**
 * The system tools some tests need, and what a missing one does: on a developer's machine the
 * tests that need it are skipped (counted and listed by tests/run.ts, and a note here names the
 * tool); under CI=true the run fails, with one failing test naming the tool and how to get it.
 *
 *   Deno.test({ name: "…", ignore: missing("sshd") }, async () => { … });
 *
 * openssl is not in here: every local Kubernetes API server makes its certificates with it, so
 * without it the integration tests fail everywhere ("Failed to spawn 'openssl'"), and .ci/run
 * checks for it with the others.
 */

export type Tool = "sshd" | "gpg" | "kubectl" | "tmux" | "zsh";

/** Where to get each tool (Debian packages; kubectl comes with the machine image). */
const HOW_TO_GET: Record<Tool, string> = {
  sshd: "install openssh-server (apt-get) and run the tests as root",
  gpg: "install gpg (apt-get)",
  kubectl: "install kubectl (the machine image comes with it)",
  tmux: "install tmux (apt-get)",
  zsh: "install zsh (apt-get)",
};

/** CI=true (or 1), as .ci/run sets it. */
export const UNDER_CI = /^(true|1)$/i.test(Deno.env.get("CI") ?? "");

function onPath(command: string): boolean {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (!dir) continue;
    try {
      const st = Deno.statSync(`${dir}/${command}`);
      if (st.isFile && (st.mode ?? 0o111) & 0o111) return true;
    } catch {
      // Not in this directory.
    }
  }
  return false;
}

/** Why `tool` cannot be used here, or undefined when it can. */
export function whyMissing(tool: Tool): string | undefined {
  if (tool === "sshd") {
    // The sandbox's sshd serves real local accounts: it must start as root.
    if (Deno.uid() !== 0) return "the SSH tests must run as root (sshd switches to the git users)";
    try {
      if (Deno.statSync("/usr/sbin/sshd").isFile) return undefined;
    } catch {
      // Absent.
    }
    return "/usr/sbin/sshd not found";
  }
  return onPath(tool) ? undefined : `${tool} not found on PATH`;
}

const reported = new Map<Tool, string | undefined>();

/**
 * True when `tool` is missing, for `ignore:`: the test is skipped. The first time a tool is found
 * missing, a note names it (locally), or (under CI=true) a test is registered that fails with
 * the reason. Call it where tests are declared (module top level), not inside a running test.
 */
export function missing(tool: Tool): boolean {
  if (!reported.has(tool)) {
    const why = whyMissing(tool);
    reported.set(tool, why);
    if (why !== undefined && UNDER_CI) {
      Deno.test(`CI=true needs ${tool}: the tests that use it cannot run`, () => {
        throw new Error(`${tool} is missing under CI=true: ${why}; ${HOW_TO_GET[tool]}`);
      });
    } else if (why !== undefined) {
      console.error(`note: tests that need ${tool} are skipped: ${why}; ${HOW_TO_GET[tool]}`);
    }
  }
  return reported.get(tool) !== undefined;
}
