/** The isomorphic-git transport: the public surface of this folder. */
export { checkoutRepo, type GitRemote, httpsRemote } from "./fetch.ts";
export { commitAndPush } from "./push.ts";
export { describeGitError, formatSeconds } from "./errors.ts";
export { makeGitHttp } from "./http.ts";
export { type SshAccess, sshGitTransport } from "./ssh.ts";
