/**
 * Bitbucket through the forge client (../http/client.ts): Bearer auth (Bitbucket HTTP access
 * tokens, https://confluence.atlassian.com/bitbucketserver/http-access-tokens-939515499.html),
 * Bitbucket's error words, and the user the server says the token belongs to (X-AUSERNAME).
 */
import { type ApiRequest, createJsonClient, type RequestRecord } from "../http/client.ts";
import { describeFailure, SERVICE } from "./errors.ts";
import type { ResolvedTarget } from "./target.ts";

export type { ApiRequest, Method, RequestRecord } from "../http/client.ts";

export interface ApiResponse {
  status: number;
  json: unknown;
}

export interface Transport {
  send(req: ApiRequest): Promise<ApiResponse>;
  readonly requests: RequestRecord[];
  /** The user Bitbucket says the token belongs to (X-AUSERNAME), once a response told us. */
  user(): string | null;
  close(): void;
}

export function createTransport(target: ResolvedTarget): Transport {
  let user: string | null = null;
  const client = createJsonClient({
    service: SERVICE,
    baseUrl: target.base,
    allowInsecureHttp: true, // checked by resolveTarget
    token: target.token,
    authorization: `Bearer ${target.token}`,
    timeoutMs: target.timeoutMs,
    retry: target.retry,
    caPem: target.caPem,
    onWait: target.onWait,
    deadline: target.deadline,
    describe: (ctx) => describeFailure(target, ctx),
    onAnswer: (headers) => {
      const who = headers.get("x-ausername");
      if (who) user = who;
    },
  });
  return {
    send: (req) => client.send(req),
    requests: client.requests,
    user: () => user,
    close: () => client.close(),
  };
}
