/**
 * Gitea users, organizations and repositories (operation ids of Gitea's swagger, as gitea-js
 * names them):
 *   GET   /api/v1/version                 getVersion             200
 *   GET   /api/v1/user                    userGetCurrent         200 | 401
 *   GET   /api/v1/orgs/{org}              orgGet                 200 | 404
 *   GET   /api/v1/orgs/{org}/teams        orgListTeams           200 paged (Link, X-Total-Count) | 403
 *   POST  /api/v1/user/repos              createCurrentUserRepo  201 | 409 | 422
 *   POST  /api/v1/orgs/{org}/repos        createOrgRepo          201 | 403 | 404 | 409 | 422
 *   GET   /api/v1/repos/{owner}/{repo}    repoGet                200 | 404
 *   PATCH /api/v1/repos/{owner}/{repo}    repoEdit               200 | 403 | 404 | 422
 * A duplicate is 409 "The repository with the same name already exists." (routers/api/v1/repo
 * CreateUserRepo); a default_branch that does not exist is ignored by repoEdit, as Gitea does.
 */
import {
  branchExists,
  initBareRepo,
  isEmptyRepo,
  setHead,
  validBranchName,
} from "../forge/bare_repo.ts";
import { isObject } from "../forge/http.ts";
import type { OrgRecord, OwnerRecord } from "../forge/model.ts";
import { pageOf, pageRequest } from "../forge/paging.ts";
import { accessMode } from "./access.ts";
import {
  badBody,
  type Call,
  type Ctx,
  fail,
  fields,
  guard,
  notFound,
  Reply,
  reply,
  repoFor,
} from "./call.ts";
import { organization, repository, serverVersion, team, user } from "./json.ts";
import { giteaPageHeaders } from "./paging.ts";

const NAME = /^[-_.A-Za-z0-9]+$/;
const RESERVED = new Set([".", "..", "-"]);
const RESERVED_SUFFIXES = [".git", ".wiki", ".rss", ".atom"];

export function getVersion(ctx: Ctx): Reply {
  return reply(200, serverVersion(ctx.version));
}

export function getUser(ctx: Ctx, call: Call): Reply {
  const denied = guard(call, ["user"], { auth: true });
  if (denied) return denied;
  return reply(200, user(ctx.store.user(call.login!)!, call.urls, true));
}

export function getOrg(ctx: Ctx, call: Call, login: string): Reply {
  const denied = guard(call, ["organization"], { auth: false });
  if (denied) return denied;
  const org = ctx.store.org(login);
  return org ? reply(200, organization(org, call.urls)) : notFound(call);
}

export function listOrgTeams(ctx: Ctx, call: Call, login: string): Reply {
  const denied = guard(call, ["organization"], { auth: true });
  if (denied) return denied;
  const org = ctx.store.org(login);
  if (!org) return notFound(call);
  const me = call.login!.toLowerCase();
  if (!org.members.has(me) && !ctx.store.user(me)?.siteAdmin) {
    return fail(call, 403, "Must be an organization member");
  }
  const page = pageOf(org.teams, pageRequest(call.query, "limit", ctx.paging));
  return reply(
    200,
    page.items.map((t) => team(t, org, call.urls)),
    giteaPageHeaders(call, page, org.teams.length, true),
  );
}

function mayCreateInOrg(ctx: Ctx, org: OrgRecord, login: string): boolean {
  const me = login.toLowerCase();
  return Boolean(ctx.store.user(me)?.siteAdmin) || org.owners.has(me) ||
    (org.members.has(me) && org.membersCanCreateRepositories);
}

function nameRefusal(name: string): string | undefined {
  if (!NAME.test(name) || name.length > 100) return "[Name]: AlphaDashDot";
  if (RESERVED.has(name.toLowerCase())) return `name is reserved [name: ${name}]`;
  const suffix = RESERVED_SUFFIXES.find((s) => name.toLowerCase().endsWith(s));
  return suffix ? `name pattern is not allowed [pattern: *${suffix}]` : undefined;
}

export async function createRepo(ctx: Ctx, call: Call, orgLogin?: string): Promise<Reply> {
  const denied = orgLogin === undefined
    ? guard(call, ["user", "repository"], { auth: true })
    : guard(call, ["organization"], { auth: true });
  if (denied) return denied;
  let owner: OwnerRecord = ctx.store.user(call.login!)!;
  if (orgLogin !== undefined) {
    const org = ctx.store.org(orgLogin);
    if (!org) return notFound(call);
    if (!mayCreateInOrg(ctx, org, call.login!)) {
      return fail(call, 403, "Given user is not allowed to create repository in organization.");
    }
    owner = org;
  }
  const parsed = await call.body();
  if (!parsed.ok || !isObject(parsed.value)) return badBody(call);
  const f = fields(call, parsed.value, {
    name: "string",
    description: "string",
    private: "boolean",
    auto_init: "boolean",
    default_branch: "string",
  }, ["name"]);
  if (f instanceof Reply) return f;
  const name = f.name!;
  const refusal = nameRefusal(name);
  if (refusal) return fail(call, 422, refusal);
  const branch = f.default_branch || "main";
  if (!await validBranchName(branch)) return fail(call, 422, `invalid default branch: ${branch}`);
  const repo = ctx.store.reserveRepo(owner, {
    name,
    private: f.private === true,
    description: f.description ?? "",
    defaultBranch: branch,
  });
  if (!repo) return fail(call, 409, "The repository with the same name already exists.");
  try {
    const readme = `# ${name}\n\n${f.description ?? ""}`;
    await initBareRepo(repo.gitDir, branch, f.auto_init ? { "README.md": readme } : undefined);
  } catch (e) {
    ctx.store.drop(repo);
    throw e;
  }
  // Gitea answers with the creator's owner access (AccessModeOwner).
  return reply(201, repository(repo, "owner", call.urls, !f.auto_init));
}

export async function getRepo(ctx: Ctx, call: Call, owner: string, name: string): Promise<Reply> {
  const found = repoFor(ctx, call, owner, name, { auth: false });
  if (found instanceof Reply) return found;
  const empty = await isEmptyRepo(found.repo.gitDir);
  return reply(200, repository(found.repo, found.mode, call.urls, empty));
}

export async function editRepo(ctx: Ctx, call: Call, owner: string, name: string): Promise<Reply> {
  const found = repoFor(ctx, call, owner, name, { auth: true, admin: true });
  if (found instanceof Reply) return found;
  const { repo } = found;
  const parsed = await call.body();
  if (!parsed.ok || !isObject(parsed.value)) return badBody(call);
  const f = fields(call, parsed.value, {
    name: "string",
    description: "string",
    private: "boolean",
    default_branch: "string",
  });
  if (f instanceof Reply) return f;
  if (f.name !== undefined && f.name.toLowerCase() !== repo.name.toLowerCase()) {
    return fail(
      call,
      422,
      "Renaming a repository is not supported by the fluxfleet Gitea sandbox.",
    );
  }
  if (f.description !== undefined) repo.description = f.description;
  if (f.private !== undefined) repo.private = f.private;
  // "Default branch only updated if changed and exist" (repo.go updateBasicProperties).
  const branch = f.default_branch;
  if (
    branch !== undefined && branch !== repo.defaultBranch && await branchExists(repo.gitDir, branch)
  ) {
    await setHead(repo.gitDir, branch);
    repo.defaultBranch = branch;
  }
  repo.updatedAt = ctx.store.stamp();
  const mode = accessMode(ctx.store, repo, call.login);
  return reply(200, repository(repo, mode, call.urls, await isEmptyRepo(repo.gitDir)));
}
