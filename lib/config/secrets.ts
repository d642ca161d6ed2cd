/**
 * Resolves secret references ({env}, {file}, {stdin}, {prompt}) into values.
 * Values are registered for redaction the moment they are read.
 */
import { resolve } from "node:path";
import { registerSecret } from "../util/redact.ts";
import type { SecretRef } from "./types.ts";

export interface SecretSource {
  /** Reads all of standard input once; every {stdin: true} reference gets the same value (as flux). */
  readStdin(): Promise<string>;
  /** Asks on the terminal; undefined when there is no TTY. */
  prompt?(question: string): Promise<string>;
  env(name: string): string | undefined;
}

export function processSecretSource(): SecretSource {
  let stdin: Promise<string> | undefined;
  return {
    readStdin() {
      stdin ??= new Response(Deno.stdin.readable).text();
      return stdin;
    },
    prompt: Deno.stdin.isTerminal() ? promptHidden : undefined,
    env: (name) => Deno.env.get(name),
  };
}

/**
 * Shorter secrets are refused: values this short are not redacted (they would mask ordinary
 * words, lib/util/redact.ts), so one could reach output unmasked; no real token, password or
 * passphrase is this short.
 */
export const MIN_SECRET_LENGTH = 8;

/**
 * Resolves one reference; `name` names it in errors (e.g.
 * `fleet.yaml:12:30: cluster "dev": git.auth.token`). The value never appears in an error.
 * A function is called only when an error (or the prompt) needs the name: locating a setting
 * in the manifest builds its document model, which a run without problems never needs.
 */
export async function resolveSecret(
  ref: SecretRef,
  name: string | (() => string),
  baseDir: string,
  source: SecretSource,
): Promise<string> {
  const what = (): string => typeof name === "string" ? name : name();
  let value: string;
  if ("env" in ref) {
    const v = source.env(ref.env);
    if (v === undefined || v === "") {
      throw new Error(`${what()}: environment variable ${ref.env} is not set`);
    }
    value = v;
  } else if ("file" in ref) {
    const path = resolve(baseDir, ref.file);
    try {
      value = await Deno.readTextFile(path);
    } catch (e) {
      throw new Error(`${what()}: cannot read secret file ${path}: ${(e as Error).name}`);
    }
  } else if ("stdin" in ref) {
    value = await source.readStdin();
    if (value.trim() === "") throw new Error(`${what()}: standard input was empty`);
  } else {
    if (!source.prompt) {
      throw new Error(
        `${what()}: asks for a prompt, but there is no terminal (use env, file or stdin)`,
      );
    }
    value = await source.prompt(`${what()}: `);
  }
  // Files and pipes end with a newline that is not part of the secret.
  value = value.replace(/\r?\n$/, "");
  if ([...value].length < MIN_SECRET_LENGTH) {
    throw new Error(
      `${what()}: the secret read from ${describeRef(ref)} is shorter than ${MIN_SECRET_LENGTH} ` +
        "characters; fluxfleet refuses secrets that short (they could not be masked in its output)",
    );
  }
  registerSecret(value);
  return value;
}

/** Where a secret came from, for messages (never its value). */
function describeRef(ref: SecretRef): string {
  if ("env" in ref) return `environment variable ${ref.env}`;
  if ("file" in ref) return `file ${ref.file}`;
  return "stdin" in ref ? "standard input" : "the prompt";
}

async function promptHidden(question: string): Promise<string> {
  const enc = new TextEncoder();
  await Deno.stderr.write(enc.encode(question));
  Deno.stdin.setRaw(true);
  const chars: number[] = [];
  const buf = new Uint8Array(1);
  try {
    while (true) {
      const n = await Deno.stdin.read(buf);
      if (n === null || buf[0] === 13 || buf[0] === 10) break;
      if (buf[0] === 3) throw new Error("interrupted");
      if (buf[0] === 127) chars.pop();
      else chars.push(buf[0]);
    }
  } finally {
    Deno.stdin.setRaw(false);
    await Deno.stderr.write(enc.encode("\n"));
  }
  return new TextDecoder().decode(new Uint8Array(chars));
}
