/** Kubernetes API errors in words a user can act on. */
import { serverText } from "../util/redact.ts";
import { stripControls } from "../util/strip_controls.ts";

export interface KubeStatus {
  kind?: string;
  reason?: string;
  message?: string;
  code?: number;
}

export class KubeApiError extends Error {
  readonly status: number;
  readonly reason: string;
  /** Whether retrying the same request later can succeed (429, 5xx, connection faults). */
  readonly transient: boolean;
  /** Wait the server asked for (Retry-After), in milliseconds. */
  readonly retryAfterMs?: number;
  constructor(status: number, reason: string, message: string, retryAfterMs?: number) {
    // Messages quote the API server: its control characters and escapes stop here.
    super(stripControls(message));
    this.name = "KubeApiError";
    this.status = status;
    this.reason = reason;
    this.transient = status === 429 || status >= 500 || status === 0;
    this.retryAfterMs = retryAfterMs;
  }
}

/** A Status message is the server's: it is shown, up to this length. */
const MAX_SERVER_TEXT = 500;

export function kubeError(
  context: string,
  method: string,
  path: string,
  status: number,
  body: KubeStatus | undefined,
  retryAfterMs?: number,
): KubeApiError {
  const server = typeof body?.message === "string" && body.message !== ""
    ? `: ${serverText(body.message, MAX_SERVER_TEXT)}`
    : "";
  const reason = typeof body?.reason === "string" ? stripControls(body.reason) : `HTTP${status}`;
  const what = `${method} ${path}`;
  let message: string;
  switch (status) {
    case 401:
      message =
        `cluster API (context "${context}") rejected the credentials (401 Unauthorized); refresh the kubeconfig user's token or certificate`;
      break;
    case 403:
      message =
        `cluster API (context "${context}") refused ${what} (403 Forbidden)${server}; bootstrapping needs cluster-admin rights`;
      break;
    case 404:
      message = `not found (404) on ${what}${server}`;
      break;
    case 409:
      message = `conflict (409 ${reason}) on ${what}${server}`;
      break;
    case 422:
      message = `the API server rejected the object as invalid (422) on ${what}${server}`;
      break;
    case 429:
      message =
        `the API server is throttling requests (429 Too Many Requests) on ${what}; retry later`;
      break;
    default:
      message = status >= 500
        ? `the API server failed (${status}) on ${what}${server}; retry later`
        : `unexpected response ${status} on ${what}${server}`;
  }
  return new KubeApiError(status, reason, message, retryAfterMs);
}
