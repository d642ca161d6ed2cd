/**
 * Projects and their sharing with groups (doc/api/projects.md; lib/api/projects.rb):
 *   GET    /api/v4/projects/:id                    200 | 404   (Projects.show)
 *   POST   /api/v4/projects                        201 | 400   (Projects.create: name, path,
 *          namespace_id, visibility, initialize_with_readme, default_branch, description)
 *   PUT    /api/v4/projects/:id                    200 | 400 | 403 (Projects.edit: name,
 *          description, visibility, default_branch)
 *   POST   /api/v4/projects/:id/share              201 | 400 | 403 | 404 | 409 (Projects.share:
 *          group_id, group_access 10..50, expires_at)
 *   DELETE /api/v4/projects/:id/share/:group_id    204 | 403 | 404 (Projects.unshare)
 * go-git-providers (gitlab/gitlabclient.go) calls these as GetProject, CreateProject,
 * UpdateProject, ShareProject and UnshareProject for `flux bootstrap gitlab`.
 */
import { rm } from "node:fs/promises";
import { join } from "node:path";
import {
  canAdminProject,
  canCreateProjectIn,
  canOwnProject,
  canShareWith,
  isAccessLevel,
  OWNER,
} from "./access.ts";
import {
  type Call,
  forbidden,
  invalid,
  isReply,
  message,
  notFound,
  type Reply,
  reply,
  type RouteContext,
  userProject,
} from "./context.ts";
import { groupLinkJson, projectJson } from "./json.ts";
import { branchExists, createProjectRepo, isEmptyRepo, setHead, validBranchName } from "./repos.ts";
import {
  ACCESS_LEVELS,
  findNamespace,
  isValidPath,
  lineage,
  type NamespaceRecord,
  type ProjectRecord,
  VISIBILITIES,
  type Visibility,
} from "./state.ts";

const TAKEN = ["has already been taken"];
const NAME_RULE =
  /^[\p{L}\p{N}\p{Extended_Pictographic}_][\p{L}\p{N}\p{Extended_Pictographic}_.+\- ]*$/u;
const NAME_MESSAGE =
  "can contain only letters, digits, emoji, '_', '.', '+', dashes, or spaces. It must start with a letter, digit, emoji, or '_'.";
const PATH_MESSAGE =
  "can contain only letters, digits, '_', '-' and '.'. Cannot start with '-', end in '.git' or end in '.atom'";

/** Rails' parameterize, as GitLab derives a path from a name when none is given. */
function pathFromName(name: string): string {
  return name.normalize("NFKD").replace(/[\u0300-\u036f]/g, "").toLowerCase()
    .replace(/[^a-z0-9_.-]+/g, "-").replace(/^-+|-+$/g, "");
}

/** A project may be no more visible than its group ("public is not allowed in a private group."). */
function visibilityError(ns: NamespaceRecord, v: Visibility): Reply | undefined {
  if (ns.kind !== "group" || VISIBILITIES.indexOf(v) <= VISIBILITIES.indexOf(ns.visibility)) {
    return undefined;
  }
  return invalid({ visibility_level: [`${v} is not allowed in a ${ns.visibility} group.`] });
}

function sibling(ctx: RouteContext, ns: NamespaceRecord, except?: ProjectRecord) {
  return ctx.state.projects.filter((p) => p.namespace === ns && p !== except);
}

async function show(ctx: RouteContext, call: Call, project: ProjectRecord, status = 200) {
  return reply(
    status,
    projectJson(project, ctx.links, call.user, await isEmptyRepo(project.gitDir)),
  );
}

export async function getProject(ctx: RouteContext, call: Call): Promise<Reply> {
  const project = userProject(ctx, call);
  return isReply(project) ? project : await show(ctx, call, project);
}

export async function createProject(ctx: RouteContext, call: Call): Promise<Reply> {
  const p = call.params;
  const name = p.string("name");
  const path = p.string("path");
  const namespaceId = p.integer("namespace_id");
  const visibility = p.oneOf("visibility", VISIBILITIES, "string") ?? "private";
  const readme = p.boolean("initialize_with_readme") ?? false;
  const defaultBranch = p.string("default_branch");
  const description = p.string("description") ?? "";
  const failed = p.failure();
  if (failed) return failed;
  if (name === undefined && path === undefined) {
    return reply(400, { error: "name, path are missing, at least one parameter must be provided" });
  }
  const user = call.user!;
  const ns = namespaceId === undefined
    ? user.namespace
    : findNamespace(ctx.state, String(namespaceId));
  // Projects::CreateService#deny_namespace: an unknown namespace and one the user may not
  // create projects in get the same answer.
  if (!ns || !canCreateProjectIn(user, ns)) return invalid({ namespace: ["is not valid"] });
  const projectPath = path ?? pathFromName(name!);
  const projectName = name ?? projectPath;
  const badName = !NAME_RULE.test(projectName) || projectName.length > 255;
  const badPath = !isValidPath(projectPath);
  if (badName || badPath) {
    return invalid({
      ...(badName ? { name: [NAME_MESSAGE] } : {}),
      ...(badPath ? { path: [PATH_MESSAGE] } : {}),
    });
  }
  // go-git-providers always sends default_branch; blank means the instance default.
  const branch = defaultBranch || "main";
  if (!await validBranchName(branch)) return reply(400, { error: "default_branch is invalid" });
  const others = sibling(ctx, ns);
  const pathTaken = others.some((o) => o.path.toLowerCase() === projectPath.toLowerCase()) ||
    findNamespace(ctx.state, `${ns.fullPath}/${projectPath}`) !== undefined;
  const nameTaken = others.some((o) => o.name.toLowerCase() === projectName.toLowerCase());
  if (pathTaken) {
    return invalid({
      "project_namespace.name": TAKEN,
      ...(nameTaken ? { name: TAKEN } : {}),
      path: TAKEN,
    });
  }
  if (nameTaken) return invalid({ name: TAKEN });
  const tooVisible = visibilityError(ns, visibility);
  if (tooVisible) return tooVisible;
  const project: ProjectRecord = {
    id: ctx.state.nextId.project++,
    name: projectName,
    path: projectPath,
    description,
    namespace: ns,
    visibility,
    defaultBranch: branch,
    gitDir: join(ctx.state.gitRoot, ...ns.fullPath.split("/"), `${projectPath}.git`),
    creator: user,
    createdAt: new Date().toISOString(),
    members: new Map(),
    deployKeys: [],
    deployTokens: [],
    sharedWith: new Map(),
  };
  // Registered before git runs, so a concurrent create of the same path gets 400.
  ctx.state.projects.push(project);
  try {
    await createProjectRepo(project.gitDir, branch, readme ? `# ${projectName}\n` : null);
  } catch (e) {
    ctx.state.projects.splice(ctx.state.projects.indexOf(project), 1);
    await rm(project.gitDir, { recursive: true, force: true });
    throw e;
  }
  return await show(ctx, call, project, 201);
}

export async function updateProject(ctx: RouteContext, call: Call): Promise<Reply> {
  const project = userProject(ctx, call);
  if (isReply(project)) return project;
  if (!canAdminProject(call.user, project)) return forbidden();
  const p = call.params;
  const name = p.string("name");
  const description = p.string("description");
  const visibility = p.oneOf("visibility", VISIBILITIES, "string");
  const defaultBranch = p.string("default_branch");
  const failed = p.failure();
  if (failed) return failed;
  if (name !== undefined) {
    if (!NAME_RULE.test(name)) return invalid({ name: [NAME_MESSAGE] });
    const taken = sibling(ctx, project.namespace, project)
      .some((o) => o.name.toLowerCase() === name.toLowerCase());
    if (taken) return invalid({ name: TAKEN });
  }
  if (visibility !== undefined) {
    const tooVisible = visibilityError(project.namespace, visibility);
    if (tooVisible) return tooVisible;
  }
  if (defaultBranch && defaultBranch !== project.defaultBranch) {
    // Projects::UpdateService: change_head needs the branch to exist.
    if (!await branchExists(project.gitDir, defaultBranch)) {
      return invalid({ base: [`Could not change HEAD: branch '${defaultBranch}' does not exist`] });
    }
    await setHead(project.gitDir, defaultBranch);
    project.defaultBranch = defaultBranch;
  }
  if (name !== undefined) project.name = name;
  if (description !== undefined) project.description = description;
  if (visibility !== undefined) project.visibility = visibility;
  return await show(ctx, call, project);
}

export function shareProject(ctx: RouteContext, call: Call): Reply {
  const project = userProject(ctx, call);
  if (isReply(project)) return project;
  if (!canAdminProject(call.user, project)) return forbidden();
  const p = call.params;
  const groupId = p.integer("group_id", true);
  const access = p.oneOf("group_access", ACCESS_LEVELS, "integer", true);
  const expiresAt = p.string("expires_at");
  const failed = p.failure();
  if (failed) return failed;
  const group = findNamespace(ctx.state, String(groupId));
  if (!group || group.kind !== "group" || !canShareWith(call.user!, group)) {
    return notFound("Group");
  }
  if (project.namespace.kind === "group" && lineage(project.namespace).includes(group)) {
    return message(
      409,
      "Project cannot be shared with the group it is in or one of its ancestors.",
    );
  }
  if (project.sharedWith.has(group.id)) {
    // The uniqueness validation of ProjectGroupLink#group_id, as a full message.
    return message(409, "Group already shared with this group");
  }
  if (!isAccessLevel(access)) {
    return reply(400, { error: "group_access does not have a valid value" });
  }
  // Only an owner of the project shares it as owner (GitLab 16.7+, gitlab-org/gitlab!133674).
  if (access === OWNER && !canOwnProject(call.user, project)) return forbidden();
  const link = { id: ctx.state.nextId.link++, group, access, expiresAt: expiresAt ?? null };
  project.sharedWith.set(group.id, link);
  return reply(201, groupLinkJson(project, link));
}

export function unshareProject(ctx: RouteContext, call: Call): Reply {
  const project = userProject(ctx, call);
  if (isReply(project)) return project;
  if (!canAdminProject(call.user, project)) return forbidden();
  const groupId = call.path.group_id;
  if (!/^\d+$/.test(groupId)) return reply(400, { error: "group_id is invalid" });
  const link = project.sharedWith.get(Number(groupId));
  if (!link) return notFound("Group Link");
  if (link.access === OWNER && !canOwnProject(call.user, project)) return forbidden();
  project.sharedWith.delete(Number(groupId));
  return reply(204);
}
