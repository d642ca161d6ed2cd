/**
 * What a run may leave behind, looked for everywhere it could be: an SSH private key in any form
 * it could have been written in (armour, the lines of the key as given, its raw private bytes, and
 * their base64 and hex at every alignment), a passphrase, and processes still working for a path.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import sshpkModule from "sshpk";
import type { SshpkApi } from "../../lib/keys/sshpk.ts";

// lib/keys/sshpk.ts imports sshpk lazily (async); this helper stays synchronous.
const sshpk = sshpkModule as SshpkApi;

export interface Needle {
  /** Said in a failure instead of the secret itself. */
  name: string;
  text: string;
}

/** base64 of `bytes` as it appears inside any longer base64 text, whatever the alignment. */
function base64Forms(bytes: Uint8Array): string[] {
  const forms: string[] = [];
  for (let o = 0; o < 3; o++) {
    const whole = bytes.subarray(o, o + 3 * Math.floor((bytes.length - o) / 3));
    const b64 = Buffer.from(whole).toString("base64");
    forms.push(b64, b64.replaceAll("+", "-").replaceAll("/", "_"));
  }
  return forms;
}

/** Every form of `keyText` (any format, decrypted with `passphrase`) and of the passphrase. */
export function keyNeedles(keyText: string, passphrase?: string): Needle[] {
  const needles: Needle[] = [
    { name: "a PEM/OpenSSH private key header", text: "PRIVATE KEY-----" },
    // The magic of every OpenSSH private key blob (a public key has none), raw and in base64.
    { name: "an OpenSSH private key blob", text: "openssh-key-v1" },
    { name: "an OpenSSH private key blob (base64)", text: "b3BlbnNzaC1rZXktdjE" },
  ];
  for (const line of keyText.split("\n").map((l) => l.trim())) {
    if (line.length >= 16 && !line.startsWith("-----") && !line.includes(":")) {
      needles.push({ name: "a line of the key file", text: line });
    }
  }
  if (passphrase) needles.push({ name: "the passphrase", text: passphrase });
  const key = sshpk.parsePrivateKey(keyText, "auto", { passphrase });
  for (const part of ["k", "d", "p", "q"]) {
    let bytes = key.part[part]?.data;
    if (!bytes) continue;
    while (bytes.length > 0 && bytes[0] === 0) bytes = bytes.subarray(1);
    const name = `private key part ${part}`;
    needles.push({ name: `${name} (raw)`, text: Buffer.from(bytes).toString("latin1") });
    needles.push({ name: `${name} (hex)`, text: Buffer.from(bytes).toString("hex") });
    for (const form of base64Forms(bytes)) needles.push({ name: `${name} (base64)`, text: form });
  }
  return needles;
}

/** Every regular file under `dir` (symlinks not followed), with its bytes as latin1 text. */
export async function treeFiles(dir: string): Promise<{ path: string; text: string }[]> {
  const files: { path: string; text: string }[] = [];
  for await (const e of Deno.readDir(dir)) {
    const p = join(dir, e.name);
    if (e.isDirectory) files.push(...await treeFiles(p));
    else if (e.isFile) {
      files.push({ path: p, text: new TextDecoder("latin1").decode(await Deno.readFile(p)) });
    }
  }
  return files;
}

/** Fails naming the file and the kind of secret found (never the secret). */
export async function assertNoKeyMaterial(dir: string, needles: Needle[]): Promise<void> {
  for (const f of await treeFiles(dir)) {
    for (const n of needles) {
      assert.ok(!f.text.includes(n.text), `${f.path} holds ${n.name}`);
    }
  }
}

/** Processes (not this one) with an argument that is `path` or lies under it. */
export function processesUsing(path: string): { pid: number; argv: string[] }[] {
  const found: { pid: number; argv: string[] }[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name) || Number(e.name) === Deno.pid) continue;
    try {
      const argv = Deno.readTextFileSync(`/proc/${e.name}/cmdline`).split("\0");
      if (argv.some((a) => a.includes(path))) found.push({ pid: Number(e.name), argv });
    } catch { /* exited */ }
  }
  return found;
}

/** Waits (bounded) until no process uses `path`; returns those still running then. */
export async function processesGone(
  path: string,
  timeoutMs = 30_000,
): Promise<{ pid: number; argv: string[] }[]> {
  const deadline = Date.now() + timeoutMs;
  let left = processesUsing(path);
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    left = processesUsing(path);
  }
  return left;
}

/** The environment of a process as one text (empty when it is gone or unreadable). */
export function environOf(pid: number): string {
  try {
    return Deno.readTextFileSync(`/proc/${pid}/environ`);
  } catch {
    return "";
  }
}

/**
 * Runs `fn` with TMPDIR (of this process, hence of the children it starts) set to a new dir of its
 * own, then requires that dir to be empty and removes it: a test checks only what it left behind,
 * whatever other fluxfleet processes on the machine do in the shared temp dir. The dir is 0755 so
 * that the sshd sandbox's login users reach what lies below it. Tests run one at a time in a
 * process (no --parallel): TMPDIR is process-wide.
 */
export async function withOwnTmpdir(fn: (tmp: string) => Promise<void>): Promise<void> {
  const previous = Deno.env.get("TMPDIR");
  const tmp = await Deno.makeTempDir({ prefix: "tmp-" });
  await Deno.chmod(tmp, 0o755);
  Deno.env.set("TMPDIR", tmp);
  try {
    await fn(tmp);
    const left = [...Deno.readDirSync(tmp)].map((e) => e.name);
    assert.deepEqual(left, [], "temp files left behind");
  } finally {
    if (previous === undefined) Deno.env.delete("TMPDIR");
    else Deno.env.set("TMPDIR", previous);
    await Deno.remove(tmp, { recursive: true });
  }
}
