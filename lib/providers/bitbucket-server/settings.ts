/**
 * `git.bitbucketServer` (flux bootstrap bitbucket-server's flags): checked before anything is
 * contacted, then resolved with flux's defaults. The older flat form (`git.hostname`, `git.owner`…)
 * reaches here through the same ProviderInput.
 */
import { apiUrlProblem } from "../http/base_url.ts";
import type { SecretRef } from "../../config/types.ts";
import type {
  Permission,
  ProviderInput,
  ProviderProblem,
  RepositoryFacts,
  ResolvedProvider,
} from "../types.ts";
import type { ProviderRepo } from "./types.ts";

export const KIND = "bitbucket-server";

/** The settings, resolved. The token stays a reference: the core reads it with the others. */
export interface BitbucketSettings {
  apiUrl: string;
  /** Project key, or "~owner" for a personal repository. */
  project: string;
  slug: string;
  /** The token's owner (HTTPS user for git and for token auth in the cluster). */
  username: string;
  private: boolean;
  reconcileVisibility: boolean;
  groups: { group: string; permission: Permission }[];
  tokenAuth: boolean;
  readWriteKey: boolean;
  /** host[:port] the cluster's SSH URL uses; default from the API's ssh clone link. */
  sshHostname?: string;
}

/** The manifest's permission words (Bitbucket's) and the neutral ones. */
/** Bitbucket has no triage or maintain level: its schema never lets them in. */
export const PERMISSION_WORDS: Partial<Record<Permission, string>> = {
  read: "REPO_READ",
  write: "REPO_WRITE",
  admin: "REPO_ADMIN",
};

export function permissionOf(word: string): Permission {
  const found = (Object.keys(PERMISSION_WORDS) as Permission[])
    .find((p) => PERMISSION_WORDS[p] === word);
  if (!found) throw new Error(`unknown Bitbucket permission ${word}`);
  return found;
}

export function validate(input: ProviderInput): ProviderProblem[] {
  const out: ProviderProblem[] = [];
  const get = (k: string) => input.get(k);
  for (const key of ["hostname", "owner", "repository"]) {
    if (get(key) === undefined) {
      out.push({ key, message: `is required for provider: ${KIND}`, missing: "cluster" });
    }
  }
  if (input.git("url") !== undefined) {
    out.push({
      key: "url",
      message: `${KIND} takes hostname, owner and repository instead of url`,
    });
  }
  const hostname = get("hostname");
  if (typeof hostname === "string" && /(^|\.)bitbucket\.org(:\d+)?$/i.test(hostname)) {
    out.push({
      key: "hostname",
      message:
        "Bitbucket Cloud (bitbucket.org) is not Bitbucket Server: use provider: generic with the repository's URL, as flux's docs say",
    });
  }
  if (!get("personal") && get("username") === undefined && get("owner") !== undefined) {
    out.push({
      key: "username",
      message:
        "is required for a project repository (the user that owns the token); or set personal: true",
    });
  }
  if (input.git("auth") !== undefined) {
    out.push({
      key: "auth",
      message: `${KIND} authenticates with ${
        input.field("token")
      }; for SSH without a token use provider: generic`,
    });
  }
  const apiUrl = get("apiUrl");
  if (typeof apiUrl === "string" && apiUrl !== "") {
    const problem = apiUrlProblem(apiUrl, input.git("allowInsecureHttp") === true);
    if (problem) out.push({ key: "apiUrl", message: problem });
  }
  if (input.git("sshKey") && get("tokenAuth")) {
    out.push({ key: "sshKey", message: "is not used with tokenAuth: true" });
  }
  return out;
}

export function resolve(input: ProviderInput): ResolvedProvider {
  const get = <T>(k: string) => input.get(k) as T | undefined;
  const personal = get<boolean>("personal") === true;
  const owner = get<string>("owner")!;
  const sshHostname = input.git("sshHostname") as string | undefined;
  const settings: BitbucketSettings = {
    apiUrl: (get<string>("apiUrl") ?? `https://${get<string>("hostname")}`).replace(/\/+$/, ""),
    project: personal ? `~${owner}` : owner,
    slug: get<string>("repository")!,
    username: get<string>("username") ?? owner,
    private: get<boolean>("private") ?? true,
    reconcileVisibility: get<boolean>("reconcileVisibility") ?? false,
    groups: (get<string[]>("groups") ?? []).map((g) => {
      const [group, word] = g.split(":");
      return { group, permission: word === undefined ? "write" : permissionOf(word) };
    }),
    tokenAuth: get<boolean>("tokenAuth") ?? false,
    readWriteKey: get<boolean>("readWriteKey") ?? false,
    ...(sshHostname ? { sshHostname } : {}),
  };
  const token: SecretRef = get<SecretRef>("token") ?? { env: "BITBUCKET_TOKEN" };
  return {
    settings,
    url: cloneUrl(settings),
    name: `${settings.project}/${settings.slug}`,
    auth: { username: settings.username, token, field: input.field("token") },
    generatedKey: !settings.tokenAuth,
  };
}

/** Bitbucket Server's HTTP clone URL convention; replaced by the API's own link once observed. */
export function cloneUrl(b: BitbucketSettings): string {
  return `${b.apiUrl}/scm/${b.project.toLowerCase()}/${b.slug}.git`;
}

/** The URLs the cluster and fluxfleet use: the API's clone links, or the conventions before creation. */
export function repositoryFacts(
  b: BitbucketSettings,
  repo: ProviderRepo | undefined,
): RepositoryFacts {
  const http = repo?.httpCloneUrl ?? cloneUrl(b);
  const linkSsh = repo?.sshCloneUrl ??
    `ssh://git@${new URL(b.apiUrl).hostname}/${b.project.toLowerCase()}/${b.slug}.git`;
  if (!b.sshHostname) return { exists: repo !== undefined, httpUrl: http, sshUrl: linkSsh };
  // --ssh-hostname replaces host and port (Bitbucket's SSH port is often 7999).
  const u = new URL(linkSsh);
  return {
    exists: repo !== undefined,
    httpUrl: http,
    sshUrl: `ssh://${u.username || "git"}@${b.sshHostname}${u.pathname}`,
  };
}
