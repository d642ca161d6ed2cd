/** Bitbucket Server / Data Center provider: the public surface of this folder. */
export { type BitbucketServerProvider, bitbucketServerProvider } from "./provider.ts";
export type { BitbucketTarget, RetryOptions } from "./target.ts";
export type { RequestRecord } from "./http.ts";
