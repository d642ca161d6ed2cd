/** The system transport (git binary + OpenSSH): the public surface of this folder. */
export { systemCheckoutRepo, systemCommitAndPush, systemRemoteHead } from "./git.ts";
export type { SystemSshAccess } from "./session.ts";
