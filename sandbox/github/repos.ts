/**
 * GitHub users, organizations and repositories:
 *   GET   /user                     users/get-authenticated           200 | 401
 *   GET   /orgs/{org}               orgs/get                          200 | 404
 *   POST  /user/repos               repos/create-for-authenticated-user 201 | 401 | 404 | 422
 *   POST  /orgs/{org}/repos         repos/create-in-org               201 | 403 | 404 | 422
 *   GET   /repos/{owner}/{repo}     repos/get                         200 | 404
 *   PATCH /repos/{owner}/{repo}     repos/update                      200 | 403 | 404 | 422
 *   GET   /rate_limit               rate-limit/get                    200 (spends nothing)
 * (operation ids and bodies from GitHub's OpenAPI description, @octokit/openapi-types 29.0.1.)
 * A duplicate name is 422 "Repository creation failed." with errors[0] {resource: "Repository",
 * code: "custom", field: "name", message: "name already exists on this account"}, the message
 * fluxcd/go-git-providers matches (github/util.go alreadyExistsMagicString).
 */
import { branchExists, initBareRepo, setHead, validBranchName } from "../forge/bare_repo.ts";
import { isObject } from "../forge/http.ts";
import type { OrgRecord, OwnerRecord } from "../forge/model.ts";
import { mayCreateInOrg, repoRole } from "./access.ts";
import {
  badJson,
  type Call,
  type Ctx,
  fail,
  fields,
  guard,
  missingField,
  notFound,
  Reply,
  reply,
  repoFor,
} from "./call.ts";
import {
  fullRepository,
  organizationFull,
  privateUser,
  rateLimitOverview,
  validationError,
} from "./json.ts";

const MAX_NAME = 100;

function repoCounts(ctx: Ctx, owner: OwnerRecord) {
  const repos = ctx.store.reposOf(owner);
  const priv = repos.filter((r) => r.private).length;
  return { public: repos.length - priv, private: priv };
}

export function getUser(ctx: Ctx, call: Call): Reply {
  const denied = guard(call, {}, { auth: true });
  if (denied) return denied;
  const user = ctx.store.user(call.login!)!;
  return reply(200, privateUser(user, call.urls, repoCounts(ctx, user)));
}

export function getOrg(ctx: Ctx, call: Call, org: string): Reply {
  const denied = guard(call, {}, { auth: false });
  if (denied) return denied;
  const o = ctx.store.org(org);
  return o ? reply(200, organizationFull(o, call.urls, repoCounts(ctx, o))) : notFound(call);
}

export function rateLimit(ctx: Ctx, call: Call): Reply {
  return reply(200, rateLimitOverview(ctx.ledger.primary(call.login)));
}

/** GitHub turns characters other than letters, digits, ".", "-" and "_" into "-". */
function repoName(raw: string): string {
  return raw.trim().replace(/[^A-Za-z0-9._-]/g, "-");
}

function nameError(call: Call, message: string, code = "custom"): Reply {
  return reply(
    422,
    validationError("Repository creation failed.", call.docs, [
      { resource: "Repository", code, field: "name", message },
    ]),
  );
}

export async function createRepo(ctx: Ctx, call: Call, orgLogin?: string): Promise<Reply> {
  const parsed = await call.body();
  if (!parsed.ok || !isObject(parsed.value)) return badJson(call);
  const f = fields(call, parsed.value, {
    name: "string",
    description: "string",
    private: "boolean",
    visibility: "string",
    auto_init: "boolean",
  });
  if (f instanceof Reply) return f;
  if (f.visibility !== undefined && f.visibility !== "public" && f.visibility !== "private") {
    return reply(
      422,
      validationError("Validation Failed", call.docs, [
        { resource: "Repository", code: "invalid", field: "visibility", value: f.visibility },
      ]),
    );
  }
  const isPrivate = f.visibility !== undefined ? f.visibility === "private" : f.private === true;
  const denied = guard(call, {
    scopes: isPrivate ? ["repo"] : ["repo", "public_repo"],
    permission: ["administration", "write"],
  }, { auth: true });
  if (denied) return denied;
  let owner: OwnerRecord = ctx.store.user(call.login!)!;
  if (orgLogin !== undefined) {
    const org: OrgRecord | undefined = ctx.store.org(orgLogin);
    if (!org) return notFound(call);
    if (!mayCreateInOrg(org, call.login!)) {
      return fail(
        call,
        403,
        "You need admin access to the organization before adding a repository to it.",
      );
    }
    owner = org;
  }
  if (f.name === undefined) return missingField(call, "name");
  const name = repoName(f.name);
  if (name === "" || name === "." || name === "..") return nameError(call, "name is invalid");
  if (name.length > MAX_NAME) {
    return nameError(call, `name is too long (maximum is ${MAX_NAME} characters)`);
  }
  const repo = ctx.store.reserveRepo(owner, {
    name,
    private: isPrivate,
    description: f.description ?? "",
    defaultBranch: ctx.defaultBranch,
  });
  if (!repo) return nameError(call, "name already exists on this account");
  try {
    const readme = `# ${name}\n${f.description ? `\n${f.description}\n` : ""}`;
    await initBareRepo(
      repo.gitDir,
      repo.defaultBranch,
      f.auto_init ? { "README.md": readme } : undefined,
    );
  } catch (e) {
    ctx.store.drop(repo);
    throw e;
  }
  const body = fullRepository(repo, repoRole(repo, call.login), call.urls);
  return reply(201, body, { location: body.url });
}

export function getRepo(ctx: Ctx, call: Call, owner: string, name: string): Reply {
  const found = repoFor(ctx, call, owner, name, {
    permission: ["metadata", "read"],
    write: false,
  });
  if (found instanceof Reply) return found;
  return reply(200, fullRepository(found.repo, call.login ? found.role : undefined, call.urls));
}

export async function updateRepo(
  ctx: Ctx,
  call: Call,
  owner: string,
  name: string,
): Promise<Reply> {
  const found = repoFor(ctx, call, owner, name, {
    permission: ["administration", "write"],
    write: true,
    wanted: "admin",
  });
  if (found instanceof Reply) return found;
  const { repo } = found;
  const parsed = await call.body();
  if (!parsed.ok || !isObject(parsed.value)) return badJson(call);
  const f = fields(call, parsed.value, {
    name: "string",
    description: "string",
    private: "boolean",
    visibility: "string",
    default_branch: "string",
  });
  if (f instanceof Reply) return f;
  if (f.name !== undefined && f.name !== repo.name) {
    return fail(
      call,
      422,
      "Renaming a repository is not supported by the fluxfleet GitHub sandbox.",
    );
  }
  if (f.visibility !== undefined && f.visibility !== "public" && f.visibility !== "private") {
    return reply(
      422,
      validationError("Validation Failed", call.docs, [
        { resource: "Repository", code: "invalid", field: "visibility", value: f.visibility },
      ]),
    );
  }
  if (f.default_branch !== undefined && f.default_branch !== repo.defaultBranch) {
    const ok = await validBranchName(f.default_branch) &&
      await branchExists(repo.gitDir, f.default_branch);
    if (!ok) {
      return reply(
        422,
        validationError("Validation Failed", call.docs, [
          { resource: "Repository", code: "invalid", field: "default_branch" },
        ]),
      );
    }
    await setHead(repo.gitDir, f.default_branch);
    repo.defaultBranch = f.default_branch;
  }
  if (f.description !== undefined) repo.description = f.description;
  if (f.visibility !== undefined) repo.private = f.visibility === "private";
  else if (f.private !== undefined) repo.private = f.private;
  repo.updatedAt = ctx.store.stamp();
  return reply(200, fullRepository(repo, found.role, call.urls));
}
