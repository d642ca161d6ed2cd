/** isomorphic-git's failures in words a user can act on. */
import { serverText } from "../../../util/redact.ts";
import { LimitExceededError } from "../../../util/limits.ts";
import { GitError } from "../../types.ts";
import { RedirectRefusedError } from "./http.ts";

/** isomorphic-git errors → words a user can act on (HTTP status, push rejection, network). */
export function describeGitError(e: unknown, url: string, timeoutMs?: number): GitError {
  const err = e as {
    code?: string;
    data?: { statusCode?: number; reason?: string };
    message?: string;
  };
  const where = redactUrl(url);
  // Already in words, naming the server and the limit or both URLs; retrying would not help.
  if (e instanceof LimitExceededError || e instanceof RedirectRefusedError) {
    return new GitError(e.message, false);
  }
  if (err?.code === "HttpError" && !/^https?:/.test(url)) {
    // The SSH transport answers like an HTTP server; its status message carries the reason.
    const data = err.data as { statusMessage?: string } | undefined;
    return new GitError(
      `git over SSH to ${where} failed: ${data?.statusMessage ?? "not found"}`,
      false,
    );
  }
  if (err?.code === "HttpError") {
    const status = err.data?.statusCode ?? 0;
    const text: Record<number, string> = {
      401:
        `git server rejected the credentials for ${where} (HTTP 401): check git.auth.username and the token`,
      403:
        `git server refused access to ${where} (HTTP 403): the token lacks read/push rights on this repository`,
      404: `repository ${where} not found (HTTP 404): check git.url and that the token can see it`,
      429: `git server is throttling requests to ${where} (HTTP 429): retry later`,
    };
    const transient = status === 429 || status >= 500;
    return new GitError(
      text[status] ??
        (status >= 500
          ? `git server failed for ${where} (HTTP ${status}): retry later`
          : `git request to ${where} failed (HTTP ${status})`),
      transient,
    );
  }
  if (err?.code === "GitPushError") {
    const details = (err.data as { prettyDetails?: string } | undefined)?.prettyDetails ?? "";
    return new GitError(
      `push to ${where} was refused by the server:${details.replace(/\n\s*/g, " ")}`,
      false,
    );
  }
  if (err?.code === "SmartHttpError") {
    // isomorphic-git quotes the first 256 characters of the answer: cut before it is redacted,
    // a secret the server echoed would survive in part. The whole answer is redacted, then cut.
    const response = (err.data as { response?: string } | undefined)?.response ?? "";
    return new GitError(
      `${where} did not answer as a git server (no smart HTTP ref advertisement); it said: ${
        serverText(response.trim().split("\n")[0] ?? "", 200)
      }`,
      false,
    );
  }
  if (err?.code === "PushRejectedError") {
    return new GitError(`push to ${where} was rejected (${err.data?.reason ?? "rejected"})`, false);
  }
  const msg = err?.message ?? String(e);
  if (/refused|ECONNREFUSED/i.test(msg)) {
    return new GitError(`cannot connect to git server ${where}: connection refused`, true);
  }
  if (/reset|ECONNRESET|broken pipe|connection closed|unexpected eof/i.test(msg)) {
    return new GitError(`connection to git server ${where} was interrupted`, true);
  }
  if (/TimeoutError|timed out|due to timeout|signal/i.test(msg)) {
    // The reason first: a progress line cut to the terminal's width still shows it.
    return new GitError(
      timeoutMs
        ? `no answer within ${formatSeconds(timeoutMs)} from git server ${where}`
        : `git server ${where} did not answer before the timeout`,
      true,
    );
  }
  if (/certificate|UnknownIssuer/i.test(msg)) {
    const first = msg.split("\n")[0];
    // isomorphic/http.ts words certificate failures itself, git.caFile advice included.
    const hint = /git\.caFile/.test(first) ? "" : "; set git.caFile for a private CA";
    return new GitError(`TLS verification failed for ${where} (${first})${hint}`, false);
  }
  return new GitError(`git operation on ${where} failed: ${msg.split("\n")[0]}`, false);
}

/** 60000 → "60 s", 1500 → "1.5 s". */
export function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(1))} s`;
}

export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = "";
    u.password = "";
    return u.toString();
  } catch {
    return url;
  }
}
