/**
 * `git.gitlab` (flux bootstrap gitlab's flags): checked before anything is contacted, then
 * resolved with flux's defaults (cmd/flux/bootstrap_gitlab.go: hostname gitlab.com, visibility
 * private, team permission maintain, token GITLAB_TOKEN; --token-auth and --deploy-token-auth
 * exclusive; `--private=false` means visibility public).
 */
import { apiUrlProblem } from "../http/base_url.ts";
import type { SecretRef } from "../../config/types.ts";
import type { Permission, ProviderInput, ProviderProblem, ResolvedProvider } from "../types.ts";
import { TEAM_LEVEL_WORDS } from "./schema.ts";

export const KIND = "gitlab";
export const DEFAULT_HOSTNAME = "gitlab.com";

export type Visibility = "private" | "internal" | "public";

/** The settings, resolved. The token stays a reference: the core reads it with the others. */
export interface GitLabSettings {
  /** e.g. https://gitlab.com (the API is <apiUrl>/api/v4). */
  apiUrl: string;
  /** The namespace the project lives in: user, group or group/subgroup. */
  namespace: string;
  /** The project's own path (last segment). */
  project: string;
  personal: boolean;
  visibility: Visibility;
  reconcile: boolean;
  teams: { group: string; permission: Permission }[];
  tokenAuth: boolean;
  deployTokenAuth: boolean;
  readWriteKey: boolean;
  /** host[:port] the cluster's SSH URL uses instead of the API's (flux --ssh-hostname). */
  sshHostname?: string;
}

/**
 * GitLab roles (access levels, doc/api/access_requests.md "Valid access levels") for the neutral
 * permission words, as flux has them: go-git-providers gitlab/resource_teamaccess.go
 * permissionPriority maps pull 10 (guest), triage 20 (reporter), push 30 (developer), maintain
 * 40 (maintainer) and admin 50 (owner), and flux shares --team groups as "maintain" (flux2
 * cmd/flux/bootstrap_gitlab.go glDefaultPermission). A project shared as owner needs GitLab
 * 16.7+ and the owner role on the project (gitlab-org/gitlab!133674).
 */
export const ACCESS_LEVELS: Readonly<Record<Permission, number>> = {
  read: 10,
  triage: 20,
  write: 30,
  maintain: 40,
  admin: 50,
};
export const ROLE_NAMES: Readonly<Record<Permission, string>> = {
  read: "guest",
  triage: "reporter",
  write: "developer",
  maintain: "maintainer",
  admin: "owner",
};
/** GitLab's role names and flux's --team words (schema.ts TEAM_LEVEL_WORDS). */
const WORD_TO_PERMISSION: Record<string, Permission> = {
  guest: "read",
  pull: "read",
  reporter: "triage",
  triage: "triage",
  developer: "write",
  push: "write",
  maintainer: "maintain",
  maintain: "maintain",
  owner: "admin",
  admin: "admin",
};

export function permissionOfLevel(level: number): Permission | undefined {
  return (Object.keys(ACCESS_LEVELS) as Permission[]).find((p) => ACCESS_LEVELS[p] === level);
}

/** flux's project name rule (bootstrap_gitlab.go gitlabProjectRegex), for the last segment. */
const PROJECT_NAME = /^[\p{L}\p{N}\u00A9-\u{1f9ff}_][\p{L}\p{N}\p{Pd}\u00A9-\u{1f9ff}_.]*$/u;

export function validate(input: ProviderInput): ProviderProblem[] {
  const out: ProviderProblem[] = [];
  const get = (k: string) => input.get(k);
  for (const key of ["owner", "repository"]) {
    if (get(key) === undefined) {
      out.push({ key, message: `is required for provider: ${KIND}`, missing: "cluster" });
    }
  }
  if (out.length > 0) return out;
  if (input.git("url") !== undefined) {
    out.push({ key: "url", message: `${KIND} takes owner and repository instead of url` });
  }
  if (input.git("auth") !== undefined) {
    out.push({
      key: "auth",
      message: `${KIND} authenticates with ${
        input.field("token")
      }; for SSH without a token use provider: generic`,
    });
  }
  const repository = String(get("repository"));
  const last = repository.split("/").pop()!;
  if (!PROJECT_NAME.test(last) || last.endsWith(".git") || last.endsWith(".atom")) {
    out.push({
      key: "repository",
      message: `"${last}" is not a valid GitLab project path (letters, digits, '_', '-', '.'; ` +
        "it must start with a letter, digit or '_' and not end in .git or .atom)",
    });
  }
  if (
    get("personal") === true && (String(get("owner")).includes("/") || repository.includes("/"))
  ) {
    out.push({
      key: "personal",
      message:
        "a personal project lives in the user's namespace: owner and repository take no subgroups",
    });
  }
  const visibility = get("visibility");
  const priv = get("private");
  if (
    priv !== undefined && visibility !== undefined && (priv === false) !== (visibility === "public")
  ) {
    out.push({
      key: "private",
      message:
        `contradicts visibility: ${visibility} (private is deprecated: keep visibility only)`,
    });
  }
  const teams = get("teams");
  for (const t of Array.isArray(teams) ? teams : []) {
    const word = typeof t === "string" && t.includes(":") ? t.slice(t.lastIndexOf(":") + 1) : "";
    if (word !== "" && !(word in WORD_TO_PERMISSION)) {
      out.push({
        key: "teams",
        message: `"${t}": unknown role "${word}": use ${TEAM_LEVEL_WORDS.join(", ")}`,
      });
    }
  }
  if (get("tokenAuth") === true && get("deployTokenAuth") === true) {
    out.push({
      key: "deployTokenAuth",
      message: "tokenAuth and deployTokenAuth cannot both be set (as flux's flags)",
    });
  }
  if (input.git("sshKey") && (get("tokenAuth") || get("deployTokenAuth"))) {
    out.push({ key: "sshKey", message: "is not used when the cluster reads over HTTPS" });
  }
  if (input.git("sshHostname") && (get("tokenAuth") || get("deployTokenAuth"))) {
    out.push({ key: "sshHostname", message: "is not used when the cluster reads over HTTPS" });
  }
  const apiUrl = get("apiUrl");
  if (typeof apiUrl === "string") {
    const problem = apiUrlProblem(apiUrl, input.git("allowInsecureHttp") === true);
    if (problem) out.push({ key: "apiUrl", message: problem });
  }
  return out;
}

function visibilityOf(input: ProviderInput): Visibility {
  const v = input.get("visibility") as Visibility | undefined;
  if (v) return v;
  // flux: "Using visibility public as --private=false".
  return input.get("private") === false ? "public" : "private";
}

export function resolve(input: ProviderInput): ResolvedProvider {
  const get = <T>(k: string) => input.get(k) as T | undefined;
  const full = `${get<string>("owner")!.replace(/\/+$/, "")}/${get<string>("repository")!}`;
  const segments = full.split("/");
  const sshHostname = input.git("sshHostname") as string | undefined;
  const settings: GitLabSettings = {
    apiUrl: (get<string>("apiUrl") ?? `https://${get<string>("hostname") ?? DEFAULT_HOSTNAME}`)
      .replace(/\/+$/, ""),
    namespace: segments.slice(0, -1).join("/"),
    project: segments[segments.length - 1],
    personal: get<boolean>("personal") === true,
    visibility: visibilityOf(input),
    reconcile: get<boolean>("reconcile") ?? false,
    teams: (get<string[]>("teams") ?? []).map((t) => {
      const i = t.lastIndexOf(":");
      const word = i < 0 ? undefined : t.slice(i + 1);
      return {
        group: i < 0 ? t : t.slice(0, i),
        permission: word === undefined ? "maintain" : WORD_TO_PERMISSION[word],
      };
    }),
    tokenAuth: get<boolean>("tokenAuth") ?? false,
    deployTokenAuth: get<boolean>("deployTokenAuth") ?? false,
    readWriteKey: get<boolean>("readWriteKey") ?? false,
    ...(sshHostname ? { sshHostname } : {}),
  };
  const token: SecretRef = get<SecretRef>("token") ?? { env: "GITLAB_TOKEN" };
  return {
    settings,
    url: httpCloneUrl(settings),
    name: projectPath(settings),
    // GitLab takes a personal access token as the password with any user name; "git" is what
    // flux writes for --token-auth.
    auth: { username: "git", token, field: input.field("token") },
    generatedKey: !settings.tokenAuth && !settings.deployTokenAuth,
    // flux --deploy-token-auth: the cluster reads with a project deploy token, not the token.
    ...(settings.deployTokenAuth ? { issuesCredentials: "a project deploy token" } : {}),
  };
}

/** "group/subgroup/project", as GitLab names the project. */
export function projectPath(s: GitLabSettings): string {
  return `${s.namespace}/${s.project}`;
}

/** GitLab's HTTP clone URL convention; replaced by the API's http_url_to_repo once observed. */
export function httpCloneUrl(s: GitLabSettings): string {
  return `${s.apiUrl}/${projectPath(s)}.git`;
}
