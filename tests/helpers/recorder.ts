/**
 * A second listener for redirect tests: it records everything it receives (method, URL,
 * Authorization header, body) and answers 200 with an empty JSON object, so a client that
 * followed a redirect there would believe it succeeded. Tests assert it received nothing.
 */
import { sandboxTls } from "../../sandbox/kube/tls.ts";

export interface RecordedRequest {
  method: string;
  url: string;
  authorization: string | null;
  body: string;
}

export interface Recorder {
  /** http://127.0.0.1:<port> (https:// with `tls`). */
  url: string;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

/** With `tls`, it serves the sandbox CA's leaf certificate (SAN 127.0.0.1, localhost). */
export async function startRecorder(opts: { tls?: boolean } = {}): Promise<Recorder> {
  const requests: RecordedRequest[] = [];
  const tls = opts.tls ? await sandboxTls() : undefined;
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen() {},
    ...(tls ? { cert: tls.certPem, key: tls.keyPem } : {}),
  }, async (req) => {
    requests.push({
      method: req.method,
      url: req.url,
      authorization: req.headers.get("authorization"),
      body: await req.text(),
    });
    return Response.json({});
  });
  return {
    url: `${tls ? "https" : "http"}://127.0.0.1:${server.addr.port}`,
    requests,
    close: () => server.shutdown(),
  };
}
