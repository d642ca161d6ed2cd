/**
 * One GitLab project through a run (flux bootstrap gitlab): the token's rights checked first, the
 * project (with its group shares and the caller's role, in one answer) and its deploy keys
 * observed, planned with the pure planners, and the steps carried out through the REST API.
 * An unchanged project costs two calls: the project and its deploy keys.
 */
import type { ClusterAccess, ProviderSession, RepositoryFacts, SessionAccess } from "../types.ts";
import { ProviderError, publicKeyMaterial } from "../types.ts";
import { checkHttpCloneLink, checkSshCloneLink, type CloneLinkHome } from "../clone_links.ts";
import {
  addDeployKey,
  createProject,
  deleteDeployKey,
  getGroup,
  getProject,
  type GlDeployKey,
  type GlGroup,
  type GlProject,
  listDeployKeys,
  setVisibility,
  shareProject,
  unshareProject,
} from "./api.ts";
import {
  createDeployToken,
  deleteDeployToken,
  type GlDeployToken,
  listDeployTokens,
} from "./api_tokens.ts";
import { checkCanCreate, checkProjectRole, checkScopes } from "./access.ts";
import { gitlabClient } from "./client.ts";
import { planDeployKey, planProject } from "./plan.ts";
import { ACCESS_LEVELS, type GitLabSettings, httpCloneUrl, projectPath } from "./settings.ts";

/** GitLab's scp-like `git@host:group/app.git` as the ssh:// URL Flux's source-controller reads. */
export function sshUrlOf(link: string): string {
  if (link.startsWith("ssh://")) return link;
  const m = /^([^@/:\s]+)@([^/:\s]+):(.+)$/.exec(link);
  return m ? `ssh://${m[1]}@${m[2]}/${m[3].replace(/^\/+/, "")}` : link;
}

/** Where the project's links must be (lib/providers/clone_links.ts): the API's own origin. */
function cloneLinkHome(s: GitLabSettings): CloneLinkHome {
  return {
    origin: s.apiUrl,
    repository: `project ${projectPath(s)}`,
    namer: "GitLab",
    hint: "check the server's external_url and gitlab_shell_ssh host, or set git.gitlab.apiUrl",
    ...(s.sshHostname ? { sshHostname: s.sshHostname } : {}),
  };
}

/** The URLs the cluster and fluxfleet use: the API's links, or GitLab's conventions before creation. */
export function repositoryFacts(
  s: GitLabSettings,
  project: GlProject | undefined,
): RepositoryFacts {
  const httpUrl = project?.httpUrl ?? httpCloneUrl(s);
  const link = project?.sshUrl
    ? sshUrlOf(project.sshUrl)
    : `ssh://git@${new URL(s.apiUrl).hostname}/${projectPath(s)}.git`;
  // The cluster reads from this link (a host key scanned on first use): the API's host only.
  checkSshCloneLink(cloneLinkHome(s), link);
  if (!s.sshHostname) return { exists: project !== undefined, httpUrl, sshUrl: link };
  // --ssh-hostname replaces host and port.
  const u = new URL(link);
  return {
    exists: project !== undefined,
    httpUrl,
    sshUrl: `ssh://${u.username || "git"}@${s.sshHostname}${u.pathname}`,
  };
}

/**
 * fluxfleet pushes to the API's http_url_to_repo with the token: GitLab serves git on its API's
 * origin (https://host/group/project.git), so a link on another origin — another host, another
 * port, or http:// beside an https:// API — is a misconfigured or hostile server.
 */
export function checkCloneLink(s: GitLabSettings, project: GlProject): GlProject {
  checkHttpCloneLink(cloneLinkHome(s), project.httpUrl);
  return project;
}

export function openSession(s: GitLabSettings, access: SessionAccess): ProviderSession {
  const client = gitlabClient({
    apiUrl: s.apiUrl,
    access,
    ...(access.onWait ? { onWait: access.onWait } : {}),
  });
  const path = projectPath(s);
  const registersKeys = !s.tokenAuth && !s.deployTokenAuth;
  let project: GlProject | undefined;
  /** The group a missing project is created in (undefined: the user's namespace). */
  let home: GlGroup | undefined;
  let keys: GlDeployKey[] = [];
  let tokens: GlDeployToken[] = [];

  async function share(group: string, level: number): Promise<void> {
    const g = await getGroup(client, group);
    if (!g) {
      throw new ProviderError(
        `group ${group} was not found on ${client.ref.host} (404), or the token may not see it`,
        { status: 404, transient: false },
      );
    }
    // A share's role is changed by sharing again (go-git-providers teamAccess.Update).
    if (project?.sharedWith.some((l) => l.groupId === g.id)) {
      await unshareProject(client, path, g.id);
    }
    await shareProject(client, path, g, level);
  }

  return {
    registersKeys,
    async observe(): Promise<RepositoryFacts> {
      // Permissions first: a token that cannot do the work fails here, before anything is pushed.
      const token = await checkScopes(client, access.token);
      project = await getProject(client, path);
      if (project) checkCloneLink(s, project);
      if (project) await checkProjectRole(client, access.token, s, project);
      else home = await checkCanCreate(client, access.token, s, token);
      keys = project && registersKeys ? await listDeployKeys(client, path) : [];
      tokens = project && s.deployTokenAuth ? await listDeployTokens(client, path) : [];
      return repositoryFacts(s, project);
    },
    planRepository: () =>
      planProject(
        { name: path, visibility: s.visibility, reconcile: s.reconcile, teams: s.teams },
        project,
      ),
    planClusterAccess: (want: ClusterAccess) =>
      registersKeys
        ? planDeployKey(
          {
            label: want.label,
            publicKey: want.publicKey,
            permission: s.readWriteKey ? "write" : "read",
            ...(want.generatedKey ? { generatedKey: want.generatedKey } : {}),
          },
          keys,
        )
        : [],
    keyRegistered: (publicKey) => keys.some((k) => k.publicKey === publicKeyMaterial(publicKey)),
    credentialsValid: (username) =>
      tokens.some((t) =>
        t.username === username && t.active && t.scopes.includes("read_repository")
      ),
    // Destroy: the cluster's own deploy keys (by title), or in deploy-token mode its deploy
    // tokens (by name); other clusters' and people's stay.
    clusterKeys: (label) =>
      s.deployTokenAuth
        ? tokens.filter((t) => t.name === label).map((t) => t.id)
        : keys.filter((k) => k.title === label).map((k) => k.id),
    async removeKeys(ids) {
      for (const id of ids) {
        if (s.deployTokenAuth) await deleteDeployToken(client, path, id, { gone: true });
        else await deleteDeployKey(client, path, id, { gone: true });
      }
    },
    async issueCredentials(label) {
      // As flux (reconcileDeployToken, named per cluster here): the tokens made for this cluster
      // before go first, then a new one with read_repository, whose value GitLab shows only now.
      for (const t of tokens.filter((t) => t.name === label)) {
        await deleteDeployToken(client, path, t.id);
      }
      const made = await createDeployToken(client, path, label);
      return { username: made.username, password: made.token };
    },
    async apply(step, ctx) {
      switch (step.kind) {
        case "repository":
          if (step.action === "create") {
            project = checkCloneLink(
              s,
              await createProject(client, {
                path,
                name: s.project,
                ...(home ? { namespaceId: home.id } : {}),
                visibility: s.visibility,
              }),
            );
            return repositoryFacts(s, project);
          }
          await setVisibility(client, path, s.visibility);
          return undefined;
        case "group":
          // A failed share is a warning, as in flux.
          try {
            await share(step.group, ACCESS_LEVELS[step.permission]);
          } catch (e) {
            ctx.warn(
              `could not share the project with group ${step.group}: ${(e as Error).message}`,
            );
          }
          return undefined;
        case "accessKey": {
          if (!ctx.publicKey) throw new Error(`no public key to register as ${step.label}`);
          // Old keys go first: GitLab answers the add of a key the project has with that key as
          // it is.
          for (const id of step.remove) await deleteDeployKey(client, path, id);
          await addDeployKey(client, path, {
            title: step.label,
            publicKey: ctx.publicKey,
            canPush: step.permission === "write",
          });
          return undefined;
        }
      }
    },
    close: () => client.close(),
  };
}
