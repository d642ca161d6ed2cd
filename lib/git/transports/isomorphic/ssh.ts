/**
 * isomorphic-git over SSH. isomorphic-git only speaks smart HTTP, so this is an `http` plugin that
 * maps its two requests onto an SSH exec channel (one cached ssh2 connection per transport):
 *
 *   GET  …/info/refs?service=S  → exec `S '<path>'`, read the ref advertisement to its flush-pkt,
 *                                  answer 200 as a smart-HTTP server would (service header + refs)
 *   POST …/S                    → write the request into the same channel, end it, stream stdout
 *
 * Stateless HTTP and stateful SSH line up because isomorphic-git negotiates in a single round.
 * We stay on protocol v1 (no GIT_PROTOCOL env). isomorphic-git skips the POST when there is
 * nothing to do (up to date, empty clone, push refused locally): such a channel is ended with a
 * flush-pkt when the next GET for the same service comes, or in close().
 *
 * One transport serves one repository and one git operation at a time.
 */
import type { GitHttpRequest, GitHttpResponse } from "isomorphic-git";
import type { Ssh2Client } from "../../../keys/ssh2.ts";
import { connectSsh } from "./ssh_connect.ts";
import { concatBytes } from "../../../util/bytes.ts";
import {
  type ExecChannel,
  FLUSH_PKT,
  IdleTimeoutError,
  openExec,
  pktLine,
  readAdvertisement,
} from "./ssh_channel.ts";
import { hostPort, parseSshUrl, shellQuote, type SshUrl } from "../../ssh_url.ts";
import { DEFAULT_LIMITS, formatSize, LimitExceededError, raiseHint } from "../../../util/limits.ts";

export { parseSshUrl, type SshUrl } from "../../ssh_url.ts";

export interface SshAccess {
  /** ssh://user@host[:port]/path, or scp-like user@host:path */
  url: string;
  /** Any format parsePrivateKey accepts. */
  privateKey: string;
  passphrase?: string;
  /** known_hosts text; the server's key must match an entry for [host]:port (host for 22). */
  knownHosts: string;
  /** Default: the algorithms for the key types known_hosts has for the host. */
  hostKeyAlgorithms?: string[];
  /** Connect/handshake timeout and idle timeout while waiting for the server. Default 30000. */
  timeoutMs?: number;
  /** Bytes one answer (advertisement, pack, push report) may have: the git-pack limit. */
  maxResponseBytes?: number;
}

export interface SshGitTransport {
  /** Hand to isomorphic-git as `http`. */
  http: { request(req: GitHttpRequest): Promise<GitHttpResponse> };
  /** Placeholder http URL to hand isomorphic-git as `url` (never dialled). */
  url: string;
  /** SSH execs done (for benchmarks). */
  requests: number;
  /** Ends open channels (flush-pkt where no POST came) and the connection. */
  close(): Promise<void>;
}

type Service = "git-upload-pack" | "git-receive-pack";

const DEFAULT_TIMEOUT_MS = 30_000;
/** How long close() waits for the remote git to exit before dropping a channel. */
const SETTLE_MS = 5000;

function serviceOf(name: string | null): Service | null {
  return name === "git-upload-pack" || name === "git-receive-pack" ? name : null;
}

async function* once(bytes: Uint8Array): AsyncIterableIterator<Uint8Array> {
  yield bytes;
}

/**
 * The URL isomorphic-git sees (and writes into .git/config as the remote): it names host, port and
 * path for anyone reading it, never the user or a credential, and is never dialled itself.
 */
function placeholderUrl(t: SshUrl): string {
  const path = t.path.startsWith("/") ? t.path.slice(1) : t.path;
  // ".invalid" (RFC 2606) can never resolve, should a plain HTTP client ever be given this URL.
  return `http://ssh.invalid/${encodeURIComponent(hostPort(t.host, t.port))}/${
    path.split("/").map(encodeURIComponent).join("/")
  }`;
}

class Transport implements SshGitTransport {
  readonly url: string;
  requests = 0;
  readonly http: SshGitTransport["http"];
  readonly #target: SshUrl;
  readonly #timeoutMs: number;
  readonly #maxBytes: number;
  #conn: Promise<Ssh2Client> | undefined;
  #client: Ssh2Client | undefined;
  #connClosed: Promise<void> | undefined;
  readonly #waiting = new Map<Service, ExecChannel>();
  readonly #live = new Set<ExecChannel>();
  #closed = false;

  constructor(private readonly access: SshAccess) {
    this.#target = parseSshUrl(access.url);
    this.#timeoutMs = access.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#maxBytes = access.maxResponseBytes ?? DEFAULT_LIMITS.gitPack;
    this.url = placeholderUrl(this.#target);
    this.http = { request: (req) => this.#request(req) };
  }

  get #where(): string {
    return hostPort(this.#target.host, this.#target.port);
  }

  #tooLarge(service: Service): LimitExceededError {
    return new LimitExceededError(
      `the SSH git server ${this.#where} sent more than ${
        formatSize(this.#maxBytes)
      } in one answer (${service}; the git-pack limit); ${raiseHint("gitPack")}`,
    );
  }

  async #request(req: GitHttpRequest): Promise<GitHttpResponse> {
    if (this.#closed) throw new Error("SSH git transport used after close()");
    if (!req.url.startsWith(this.url)) {
      throw new Error(`SSH git transport for ${this.#where} got a request for another URL`);
    }
    const u = new URL(req.url);
    const rest = req.url.slice(this.url.length).replace(/\?.*$/, "");
    const method = (req.method ?? "GET").toUpperCase();
    if (method === "GET" && rest === "/info/refs") {
      const service = serviceOf(u.searchParams.get("service"));
      if (service) return await this.#advertise(req, service);
    }
    if (method === "POST") {
      const service = serviceOf(rest.replace(/^\//, ""));
      if (service) return await this.#post(req, service);
    }
    throw new Error(`SSH git transport cannot serve ${method} ${rest}`);
  }

  #connection(): Promise<Ssh2Client> {
    if (this.#conn) return this.#conn;
    const dial = (async () => {
      const client = await connectSsh({
        ...this.#target,
        privateKey: this.access.privateKey,
        passphrase: this.access.passphrase,
        knownHosts: this.access.knownHosts,
        hostKeyAlgorithms: this.access.hostKeyAlgorithms,
        timeoutMs: this.#timeoutMs,
      });
      this.#client = client;
      this.#connClosed = new Promise((resolve) => {
        client.on("close", () => {
          // The server dropped us (or close()): the next request dials again.
          if (this.#client === client) {
            this.#client = undefined;
            this.#conn = undefined;
          }
          resolve();
        });
      });
      client.on("error", () => {});
      return client;
    })();
    // A failed dial is not cached: the next request tries again.
    dial.catch(() => {
      if (this.#conn === dial) this.#conn = undefined;
    });
    this.#conn = dial;
    return dial;
  }

  async #advertise(req: GitHttpRequest, service: Service): Promise<GitHttpResponse> {
    const previous = this.#waiting.get(service);
    if (previous) {
      this.#waiting.delete(service);
      await this.#finishUnused(previous);
    }
    const client = await this.#connection();
    let ch: ExecChannel;
    try {
      ch = await openExec(client, `${service} ${shellQuote(this.#target.path)}`);
    } catch (e) {
      throw new Error(
        `SSH server ${this.#where} did not start ${service}: ${
          (e as Error).message.split("\n")[0]
        }`,
      );
    }
    this.requests++;
    this.#live.add(ch);
    ch.closed.then(() => this.#live.delete(ch));
    let advertisement: Uint8Array | null;
    try {
      advertisement = await readAdvertisement(
        ch,
        this.#timeoutMs,
        this.#maxBytes,
        () => this.#tooLarge(service),
      );
    } catch (e) {
      ch.discard();
      ch.end();
      await ch.settle(SETTLE_MS);
      if (e instanceof LimitExceededError) throw e;
      if (e instanceof IdleTimeoutError) {
        throw new Error(
          `SSH server ${this.#where} did not answer ${service} within ${this.#timeoutMs} ms`,
        );
      }
      throw new Error(`${service} on ${this.#where} failed: ${(e as Error).message}`);
    }
    if (advertisement === null) {
      // The remote git never started or refused: what it said on stderr is the explanation.
      await ch.settle(SETTLE_MS);
      const message = this.#refusal(service, ch);
      return {
        url: req.url,
        method: req.method,
        statusCode: 404,
        statusMessage: message,
        headers: { "content-type": "text/plain" },
        body: once(new TextEncoder().encode(ch.stderr() + "\n")),
      };
    }
    this.#waiting.set(service, ch);
    return {
      url: req.url,
      method: req.method,
      statusCode: 200,
      statusMessage: "OK",
      headers: { "content-type": `application/x-${service}-advertisement` },
      body: once(concatBytes([pktLine(`# service=${service}\n`), FLUSH_PKT, advertisement])),
    };
  }

  #refusal(service: Service, ch: ExecChannel): string {
    const said = ch.stderr().split("\n").filter((l) => l.trim() !== "").slice(0, 3).join(" / ");
    const server = said ? ` (the server said: ${said})` : ` (exit code ${ch.exitCode ?? "none"})`;
    const repo = `${this.#target.path} on ${this.#where}`;
    if (/not appear to be a git repository|not found|does not exist|no such/i.test(said)) {
      return `repository ${repo} not found: check the path in the URL${server}`;
    }
    if (service === "git-receive-pack") {
      return `the server refused to accept pushes to ${repo}: the key may be read-only; give it ` +
        `write access${server}`;
    }
    return `the server refused to serve ${repo}${server}`;
  }

  async #post(req: GitHttpRequest, service: Service): Promise<GitHttpResponse> {
    const ch = this.#waiting.get(service);
    if (!ch) throw new Error(`SSH git transport: ${service} request without its advertisement`);
    this.#waiting.delete(service);
    if (req.body) {
      // isomorphic-git passes an async iterator or, for some commands, a plain array.
      for await (const chunk of req.body as AsyncIterable<Uint8Array>) {
        if (!await ch.write(chunk)) break;
      }
    }
    ch.end();
    return {
      url: req.url,
      method: req.method,
      statusCode: 200,
      statusMessage: "OK",
      headers: { "content-type": `application/x-${service}-result` },
      body: this.#stream(ch, service),
    };
  }

  async *#stream(ch: ExecChannel, service: Service): AsyncIterableIterator<Uint8Array> {
    let total = 0;
    let ended = false;
    try {
      while (true) {
        const chunk = await ch.next(this.#timeoutMs);
        if (chunk === null) {
          ended = true;
          break;
        }
        total += chunk.length;
        // Stops reading (the finally below closes the channel) before the pack fills memory.
        if (total > this.#maxBytes) throw this.#tooLarge(service);
        yield chunk;
      }
    } catch (e) {
      if (e instanceof IdleTimeoutError) {
        throw new Error(
          `SSH server ${this.#where} stopped answering ${service} for ${this.#timeoutMs} ms`,
        );
      }
      throw e;
    } finally {
      if (!ended) ch.discard();
      ch.end();
      await ch.settle(SETTLE_MS);
    }
    if (total === 0) {
      throw new Error(
        `${service} on ${this.#where} ended without an answer: ${
          ch.stderr() || `exit code ${ch.exitCode ?? "none"}`
        }`,
      );
    }
  }

  /** A channel whose POST never came: a flush-pkt tells git there is nothing to do. */
  async #finishUnused(ch: ExecChannel): Promise<void> {
    ch.end(FLUSH_PKT);
    await ch.settle(SETTLE_MS);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const waiting = [...this.#waiting.values()];
    this.#waiting.clear();
    await Promise.all(waiting.map((ch) => this.#finishUnused(ch)));
    for (const ch of this.#live) ch.end();
    await Promise.all([...this.#live].map((ch) => ch.settle(SETTLE_MS)));
    // A dial still in flight must finish before we can end it.
    const client = this.#client ?? await this.#conn?.catch(() => undefined);
    if (client) {
      const closed = this.#connClosed;
      client.end();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const gaveUp = await Promise.race([
        closed?.then(() => false) ?? Promise.resolve(false),
        new Promise<boolean>((r) => timer = setTimeout(() => r(true), SETTLE_MS)),
      ]);
      clearTimeout(timer);
      if (gaveUp) {
        client.destroy();
        await closed;
      }
    }
  }
}

/** An isomorphic-git `http` plugin and placeholder URL that carry git over SSH. */
export function sshGitTransport(access: SshAccess): SshGitTransport {
  return new Transport(access);
}
