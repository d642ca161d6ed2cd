/** The Bitbucket Server REST API's objects, in its own words (REPO_READ, REPO_WRITE, REPO_ADMIN). */

/** A repository as the provider reports it. */
export interface ProviderRepo {
  /** Project key as the server spells it (Bitbucket: "FLEET", or "~ALICE" for personal ones). */
  project: string;
  slug: string;
  private: boolean;
  httpCloneUrl: string;
  sshCloneUrl?: string;
  defaultBranch?: string;
}

export type AccessKeyPermission = "REPO_READ" | "REPO_WRITE";

/** A repository access (deploy) key. */
export interface AccessKey {
  id: number;
  label: string;
  /** "<type> <base64>" without the comment, so keys compare by their material. */
  publicKey: string;
  permission: AccessKeyPermission;
}

export type GroupPermission = "REPO_READ" | "REPO_WRITE" | "REPO_ADMIN";

export interface GroupGrant {
  group: string;
  permission: GroupPermission;
}

export interface CreateRepositoryOptions {
  private: boolean;
  defaultBranch?: string;
}

export interface NewAccessKey {
  label: string;
  publicKey: string;
  permission: AccessKeyPermission;
}

export interface BitbucketApi {
  /** undefined when the repository (or its project) does not exist. */
  getRepository(): Promise<ProviderRepo | undefined>;
  createRepository(opts: CreateRepositoryOptions): Promise<ProviderRepo>;
  setVisibility(isPrivate: boolean): Promise<void>;
  /** Every key, across all pages. */
  listAccessKeys(): Promise<AccessKey[]>;
  addAccessKey(key: NewAccessKey): Promise<AccessKey>;
  deleteAccessKey(id: number): Promise<void>;
  /** Every group grant, across all pages. */
  listGroupGrants(): Promise<GroupGrant[]>;
  grantGroup(grant: GroupGrant): Promise<void>;
  /** Early check that the token may create repositories / manage keys; throws ProviderError in words. */
  checkAccess(): Promise<void>;
}
