/**
 * `--debug`: one line per request to stderr. Lines go through the same redaction as all output
 * (the sink is the CLI's redacting printer), and never carry headers or bodies.
 */
let sink: ((line: string) => void) | undefined;

export function setDebugSink(fn: ((line: string) => void) | undefined): void {
  sink = fn;
}

export function debug(line: string): void {
  sink?.(`debug: ${line}\n`);
}
