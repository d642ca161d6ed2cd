/**
 * The SSH host key of a git server: pinned in the manifest (git.knownHosts file or lines, checked
 * against what the server presents), or scanned like ssh-keyscan (trust on first use, shown in
 * the plan).
 */
import type { ClusterConfig } from "../config/types.ts";
import { findHostKeys, type HostKey, knownHostsLine, scanHostKey } from "../keys/known_hosts.ts";

export interface KnownHosts {
  /** known_hosts lines for the host (what the cluster stores). */
  text: string;
  /** Set when the key was scanned (trust on first use): shown in the plan. */
  scanned?: { name: string; key: HostKey };
}

/** What the manifest says about a server's host key (git.knownHosts and the transport). */
export type HostKeySettings = Pick<
  ClusterConfig["git"],
  "knownHosts" | "hostKeyAlgorithms" | "transport"
>;

/** The host key of `host:port`: pinned in the manifest, or scanned like ssh-keyscan. */
export async function learnHostKeys(
  git: HostKeySettings,
  host: string,
  port: number,
  timeoutMs = 30_000,
): Promise<KnownHosts> {
  const source = git.knownHosts;
  const name = port === 22 ? host : `[${host}]:${port}`;
  const algorithms = git.hostKeyAlgorithms;
  if ("scan" in source) {
    let key: HostKey;
    try {
      key = await scanHostKey(host, port, { algorithms, timeoutMs });
    } catch (e) {
      throw new Error(`cannot scan the SSH host key of ${name}: ${(e as Error).message}`);
    }
    return { text: knownHostsLine(host, port, key) + "\n", scanned: { name, key } };
  }
  let text: string;
  if ("file" in source) {
    try {
      text = await Deno.readTextFile(source.file);
    } catch (e) {
      throw new Error(`git.knownHosts: cannot read ${source.file}: ${(e as Error).name}`);
    }
  } else text = source.lines;
  const keys = findHostKeys(text, host, port);
  if (keys.length === 0) {
    throw new Error(`git.knownHosts has no entry for ${name}; add the server's host key line`);
  }
  // The system transport's OpenSSH enforces pinned keys itself, and may reach the host only
  // through a jump host that a direct check would not pass.
  if (git.transport === "system") {
    return { text: keys.map((k) => knownHostsLine(host, port, k)).join("\n") + "\n" };
  }
  // A pinned key that the server does not present is a hard error, with both fingerprints.
  const presented = await scanHostKey(host, port, {
    algorithms: algorithms ?? keys.flatMap((k) => hostKeyAlgorithms(k.type)),
    timeoutMs,
  }).catch((e) => {
    throw new Error(`cannot reach ${name} to check its host key: ${(e as Error).message}`);
  });
  if (!keys.some((k) => k.base64 === presented.base64)) {
    throw new Error(
      `host key mismatch for ${name}: known_hosts pins ${
        keys.map((k) => k.fingerprint).join(", ")
      }, ` +
        `the server presents ${presented.type} ${presented.fingerprint}; possible man-in-the-middle, or the server's key changed`,
    );
  }
  return { text: keys.map((k) => knownHostsLine(host, port, k)).join("\n") + "\n" };
}

/** learnHostKeys' signature: what a run's clusters and repositories call. */
export type HostKeyLearner = typeof learnHostKeys;

/**
 * learnHostKeys once per server and manifest setting in a run: the clusters of one git host share
 * one scan (or one check of the pinned key) instead of one SSH connection each (100 per no-op plan
 * of 100 clusters on a hosted provider). Each cluster still compares the result with the key its
 * own known_hosts pins. A failed attempt is not kept: the next caller tries again.
 */
export function sharedHostKeys(learn: HostKeyLearner = learnHostKeys): HostKeyLearner {
  const known = new Map<string, Promise<KnownHosts>>();
  return (git, host, port, timeoutMs) => {
    const id = JSON.stringify([
      host,
      port,
      git.knownHosts,
      git.hostKeyAlgorithms ?? null,
      git.transport ?? null,
    ]);
    let found = known.get(id);
    if (!found) {
      const attempt = learn(git, host, port, timeoutMs);
      known.set(id, found = attempt);
      attempt.catch(() => known.get(id) === attempt && known.delete(id));
    }
    return found;
  };
}

function hostKeyAlgorithms(type: string): string[] {
  return type === "ssh-rsa" ? ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"] : [type];
}
