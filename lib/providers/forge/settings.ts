/**
 * A forge's block (`git.<kind>`: the flags of flux bootstrap <kind>), checked before
 * anything is contacted, then resolved with flux's defaults: private, teams granted `maintain`,
 * token from the provider's environment variable, the cluster reading with a generated key
 * unless `tokenAuth`.
 */
import { apiUrlProblem } from "../http/base_url.ts";
import type { SecretRef } from "../../config/types.ts";
import type { Permission, ProviderInput, ProviderProblem, ResolvedProvider } from "../types.ts";
import type { ForgeSettings } from "./types.ts";

/** What differs between the forges' blocks. */
export interface ForgeSite {
  kind: string;
  service: string;
  tokenEnv: string;
  /** flux's --hostname default for the provider. */
  defaultHostname: string;
  /** The API's base URL for a host name. */
  apiUrl(hostname: string): string;
  /** The site's web (and git over HTTPS) base for an API URL given explicitly. */
  webUrl(apiUrl: string): string;
}

/** flux's --team default permission (ghDefaultPermission, gtDefaultPermission). */
export const DEFAULT_TEAM_PERMISSION: Permission = "maintain";

/** The role names flux's --team takes for the forges (pull … admin). */
export const TEAM_WORDS: Record<Permission, string> = {
  read: "pull",
  triage: "triage",
  write: "push",
  maintain: "maintain",
  admin: "admin",
};

export function permissionOf(word: string): Permission | undefined {
  return (Object.keys(TEAM_WORDS) as Permission[]).find((p) => TEAM_WORDS[p] === word);
}

export function validateForge(site: ForgeSite, input: ProviderInput): ProviderProblem[] {
  const out: ProviderProblem[] = [];
  const get = (k: string) => input.get(k);
  for (const key of ["owner", "repository"]) {
    if (get(key) === undefined) {
      out.push({ key, message: `is required for provider: ${site.kind}`, missing: "cluster" });
    }
  }
  if (input.git("url") !== undefined) {
    out.push({
      key: "url",
      message: `${site.kind} takes owner and repository (and hostname) instead of url`,
    });
  }
  if (input.git("auth") !== undefined) {
    out.push({
      key: "auth",
      message: `${site.kind} authenticates with ${
        input.field("token")
      }; for SSH without a token use provider: generic`,
    });
  }
  const apiUrl = get("apiUrl");
  if (typeof apiUrl === "string") {
    const problem = apiUrlProblem(apiUrl, input.git("allowInsecureHttp") === true);
    if (problem) out.push({ key: "apiUrl", message: problem });
  }
  const teams = get("teams");
  if (get("personal") === true && Array.isArray(teams) && teams.length > 0) {
    out.push({
      key: "teams",
      message: "teams are granted on organization repositories only; remove them or personal: true",
    });
  }
  if (input.git("sshKey") && get("tokenAuth")) {
    out.push({ key: "sshKey", message: "is not used with tokenAuth: true" });
  }
  return out;
}

export function resolveForge(site: ForgeSite, input: ProviderInput): ResolvedProvider {
  const get = <T>(k: string) => input.get(k) as T | undefined;
  const hostname = get<string>("hostname") ?? site.defaultHostname;
  const apiUrl = (get<string>("apiUrl") ?? site.apiUrl(hostname)).replace(/\/+$/, "");
  const webUrl = get<string>("apiUrl") !== undefined && get<string>("hostname") === undefined
    ? site.webUrl(apiUrl)
    : `https://${hostname}`;
  const sshHostname = input.git("sshHostname") as string | undefined;
  const settings: ForgeSettings = {
    apiUrl,
    webUrl,
    host: new URL(webUrl).host,
    owner: get<string>("owner")!,
    repository: get<string>("repository")!,
    personal: get<boolean>("personal") ?? false,
    private: get<boolean>("private") ?? true,
    teams: (get<string[]>("teams") ?? []).map((t) => {
      const [group, word] = t.split(":");
      return {
        group,
        permission: word === undefined ? DEFAULT_TEAM_PERMISSION : permissionOf(word)!,
      };
    }),
    readWriteKey: get<boolean>("readWriteKey") ?? false,
    reconcile: get<boolean>("reconcile") ?? false,
    tokenAuth: get<boolean>("tokenAuth") ?? false,
    branch: (input.git("branch") as string | undefined) ?? "main",
    ...(sshHostname ? { sshHostname } : {}),
    tokenField: input.field("token"),
  };
  const token: SecretRef = get<SecretRef>("token") ?? { env: site.tokenEnv };
  const name = `${settings.owner}/${settings.repository}`;
  return {
    settings,
    url: `${webUrl}/${name}.git`,
    name,
    // As flux: pushes and the cluster's token auth use the user name "git" with the token.
    auth: { username: "git", token, field: input.field("token") },
    generatedKey: !settings.tokenAuth,
  };
}
