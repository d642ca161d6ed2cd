/**
 * Observe and plan one cluster: complete provider URLs, observe the cluster, compute the source
 * secret (host keys, generated keys), and run the pure planners.
 */
import type { ClusterConfig } from "../config/types.ts";
import { desiredCluster, sshSecretData, tokenSecretData } from "../plan/desired.ts";
import { learnHostKeys } from "./credentials.ts";
import { findHostKeys } from "../keys/known_hosts.ts";
import { generateKeyPair } from "../keys/generate.ts";
import { parseSshUrl } from "../git/ssh_url.ts";
import { registerSecret } from "../util/redact.ts";
import { planCluster } from "../plan/plan.ts";
import { observedDigest } from "../plan/digest.ts";
import type { ClusterPlan, ObservedCluster, ObservedRepo } from "../plan/types.ts";
import { forgetReadCache, readRepoFiles } from "../git/repo.ts";
import { bitbucketUrls } from "./bitbucket.ts";
import { accessKeyLabel, planAccessKey } from "../plan/provider.ts";
import { createKubeClient } from "../kube/client.ts";
import { observeCluster } from "../kube/observe.ts";
import { errorMessage } from "../util/redact.ts";
import { type ClusterState, type RunOptions } from "./state.ts";

export function withUrl(c: ClusterConfig, url: string): ClusterConfig {
  return { ...c, git: { ...c.git, url } };
}

/**
 * Bitbucket: the URLs come from the API (or its conventions before the repository exists), so
 * the cluster's config and desired state are completed once the API was observed.
 */
export function completeBitbucket(s: ClusterState): void {
  const b = s.repo.bitbucket;
  if (!b) return;
  const urls = bitbucketUrls(b.config, b.repo);
  const git = { ...s.config.git, url: urls.http };
  if (git.clusterSsh) git.clusterSsh = { ...git.clusterSsh, clusterUrl: urls.ssh };
  s.config = { ...s.config, git };
  const data = s.desired.secret.data;
  s.desired = {
    ...desiredCluster(s.config, s.components, data, s.creds.registry),
    force: s.desired.force,
    rotate: s.desired.rotate,
  };
}

/** Provider steps: the repository's own (on its first cluster), the cluster's access key. */
function withProviderSteps(s: ClusterState, plan: ClusterPlan): ClusterPlan {
  const b = s.repo.bitbucket;
  if (!b) return plan;
  const first = s.repo.clusters[0] === s.config.name;
  const repoSteps = first ? b.plan.steps : [];
  const keySteps = b.config.tokenAuth ? [] : planAccessKey(
    {
      label: accessKeyLabel(s.config.name, s.config.path, s.config.flux.namespace),
      publicKey: s.desired.secret.data["identity.pub"],
      permission: b.config.readWriteKey ? "REPO_WRITE" : "REPO_READ",
    },
    b.keys,
  );
  // The key is registered after the secret holds it and before the cluster is pointed at it.
  const firstSync = plan.steps.findIndex((st) => st.kind === "sync");
  const at = firstSync < 0 ? plan.steps.length : firstSync;
  const steps = [...repoSteps, ...plan.steps.slice(0, at), ...keySteps, ...plan.steps.slice(at)];
  return { ...plan, steps, warnings: [...(first ? b.plan.warnings : []), ...plan.warnings] };
}

export async function observeAndPlan(s: ClusterState, opts: RunOptions): Promise<ClusterPlan> {
  const empty: ClusterPlan = {
    cluster: s.config.name,
    repository: { url: s.desired.repo.url, branch: s.desired.repo.branch, dir: s.desired.dir },
    steps: [],
    status: [],
    warnings: [],
    notes: [],
  };
  if (s.repo.error) return { ...empty, error: s.repo.error };
  try {
    opts.onEvent?.(s.config.name, "observing");
    completeBitbucket(s);
    s.client = await createKubeClient(s.config.kube, {
      retry: opts.retry,
      maxResponseBytes: opts.limits?.kubeResponse,
    });
    const observedCluster = await observeCluster(s.client, s.desired);
    const notes: string[] = [];
    s.desired.secret.data = await secretData(s, observedCluster, notes, opts);
    const co = s.repo.checkout!;
    const observedRepo: ObservedRepo = {
      branchExists: co.branchExists,
      head: co.head,
      files: await readRepoFiles(co, s.desired.files.map((f) => f.path)),
    };
    s.repo.filesRead = (s.repo.filesRead ?? 0) + 1;
    if (s.repo.filesRead === s.repo.clusters.length) forgetReadCache(co);
    const kfile = s.desired.files.find((f) => f.onlyIfAbsent);
    const current = kfile ? observedRepo.files[kfile.path] : null;
    s.customKustomization = current !== null && current !== undefined && current !== kfile!.content;
    const plan = withProviderSteps(s, planCluster(s.desired, observedRepo, observedCluster));
    if (s.customKustomization && plan.steps.some((st) => st.kind === "components")) {
      notes.push(
        "the repository has its own kustomization.yaml: the components are installed from its kubectl kustomize build (your patches apply)",
      );
    }
    const secretChanges = plan.steps.some((st) => st.kind === "secret");
    const digest = observedDigest(observedRepo, observedCluster);
    // After planning only the files' presence matters (destroy); dropping their contents keeps a
    // fleet plan from holding a copy of every cluster's gotk-components.yaml.
    const presence = Object.fromEntries(
      Object.entries(observedRepo.files).map(([path, text]) => [path, text === null ? null : ""]),
    );
    s.observed = { repo: { ...observedRepo, files: presence }, cluster: observedCluster };
    return {
      ...plan,
      // Host keys learnt by a scan are shown whenever they are about to be stored.
      notes: secretChanges ? notes : notes.filter((n) => !n.startsWith("known_hosts")),
      observed: digest,
    };
  } catch (e) {
    return { ...empty, error: errorMessage(e) };
  }
}

/** The source secret's data for the cluster's auth mode (flux2 pkg/manifestgen/sourcesecret). */
async function secretData(
  s: ClusterState,
  observed: ObservedCluster,
  notes: string[],
  opts: RunOptions,
): Promise<Record<string, string>> {
  const c = s.config;
  if (s.creds.kind === "token" && !c.git.clusterSsh) {
    return tokenSecretData(s.creds.username, s.creds.token, s.creds.caPem);
  }
  // Bitbucket registers the key through the API: no "add it by hand" note, and no check needed
  // before the key is registered.
  const url = c.git.clusterSsh?.clusterUrl ?? c.git.url;
  const target = parseSshUrl(url);
  const known = s.creds.kind === "ssh" && s.repo.remote?.knownHosts
    ? s.repo.remote.knownHosts
    : await learnHostKeys(c, target.host, target.port);
  if (known.scanned) {
    const { name, key } = known.scanned;
    // After the first bootstrap the cluster's known_hosts pins the key: a different one now is
    // refused rather than silently trusted.
    const pinned = observed.secret?.known_hosts
      ? findHostKeys(observed.secret.known_hosts, target.host, target.port)
      : [];
    if (pinned.length > 0 && !pinned.some((k) => k.base64 === key.base64)) {
      throw new Error(
        `host key of ${name} changed: the cluster's known_hosts has ${
          pinned.map((k) => k.fingerprint).join(", ")
        }, ` +
          `the server now presents ${key.type} ${key.fingerprint}; if this is expected, pin the new key with git.knownHosts`,
      );
    }
    notes.push(
      `known_hosts for ${name} from a scan (trust on first use): ${key.type} ${key.fingerprint}; ` +
        "compare it with the server's published fingerprint, or pin it with git.knownHosts",
    );
  }
  if (s.creds.kind === "ssh") {
    return sshSecretData(s.creds.keyText, s.creds.parsed.publicKey, known.text, s.creds.passphrase);
  }
  // Generated-key mode: the key is made once and kept in the cluster; `rotate` replaces it.
  const existing = observed.secret;
  let identity = existing?.identity;
  let publicKey = existing?.["identity.pub"];
  if (!identity || !publicKey || s.desired.rotate) {
    const spec = c.git.clusterSsh!.key;
    // RSA 4096 takes seconds: generated without blocking, and said so.
    opts.onEvent?.(
      c.name,
      `generating an ${spec.algorithm}${
        spec.algorithm === "rsa" ? ` ${spec.rsaBits}` : ""
      } SSH key`,
    );
    const pair = await generateKeyPair(
      { algorithm: spec.algorithm, ecdsaCurve: spec.ecdsaCurve, rsaBits: spec.rsaBits },
      `fluxfleet-${c.name}`,
    );
    registerSecret(pair.privateKey.trim());
    identity = pair.privateKey;
    publicKey = pair.publicKey;
    const what = s.desired.rotate && existing?.identity ? "rotating: new" : "new";
    notes.push(
      c.git.bitbucket
        ? `${what} SSH key for the cluster (${pair.fingerprint}), registered as a repository access key by apply`
        : `${what} SSH key for the cluster; add this public key to the repository with read access ` +
          `(deploy key), then apply: ${publicKey.trim()} (${pair.fingerprint})`,
    );
  } else registerSecret(identity.trim());
  s.keyCheck = { url, identity, publicKey, knownHosts: known.text };
  return sshSecretData(identity, publicKey, known.text);
}
