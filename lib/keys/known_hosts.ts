/**
 * known_hosts lines as OpenSSH reads and writes them: "[host]:port type base64" (plain "host" for
 * port 22), comma-separated patterns with * ? and !negation, hashed "|1|salt|hmac" names,
 * @revoked and @cert-authority markers.
 */
import { createHmac } from "node:crypto";
import { Buffer } from "node:buffer";
import { findPublicKey, sha256Fingerprint } from "./fingerprint.ts";

export interface HostKey {
  /** Key type from the blob: ssh-ed25519, ecdsa-sha2-nistp256, ssh-rsa … */
  type: string;
  base64: string;
  fingerprint: string;
}

export interface KnownHostsEntry {
  /** Host patterns as written, e.g. "github.com", "[127.0.0.1]:2222", "|1|salt|hash". */
  hosts: string[];
  key: HostKey;
  /** "@revoked" keys are refused for the hosts they name; "@cert-authority" lines are CA keys. */
  marker?: "revoked" | "cert-authority";
}

export { scanHostKey, type ScanOptions } from "./scan.ts";

/** The name OpenSSH looks up: "host" on port 22, "[host]:port" otherwise. */
export function knownHostsName(host: string, port: number): string {
  const h = host.toLowerCase();
  return port === 22 ? h : `[${h}]:${port}`;
}

export function knownHostsLine(host: string, port: number, key: HostKey): string {
  return `${knownHostsName(host, port)} ${key.type} ${key.base64}`;
}

/** Parses known_hosts text; lines that are not host keys (comments, junk) are skipped. */
export function parseKnownHosts(text: string): KnownHostsEntry[] {
  const out: KnownHostsEntry[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const fields = line.split(/\s+/);
    let marker: KnownHostsEntry["marker"];
    if (fields[0].startsWith("@")) {
      const m = fields.shift();
      if (m === "@revoked") marker = "revoked";
      else if (m === "@cert-authority") marker = "cert-authority";
      else continue;
    }
    if (fields.length < 3) continue;
    const key = findPublicKey(fields.slice(1).join(" "));
    // The key must follow the host field directly; anything else is not a known_hosts line.
    if (!key || key.type !== fields[1]) continue;
    const entry: KnownHostsEntry = {
      hosts: fields[0].split(",").filter((h) => h !== ""),
      key: { type: key.type, base64: key.base64, fingerprint: sha256Fingerprint(key.blob) },
    };
    if (marker) entry.marker = marker;
    out.push(entry);
  }
  return out;
}

/** OpenSSH's match_pattern: only * and ? are special, case-insensitive for host names. */
function globMatch(pattern: string, name: string): boolean {
  const re = pattern.toLowerCase().replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*")
    .replace(/\?/g, ".");
  return new RegExp(`^${re}$`).test(name);
}

/** "|1|base64(salt)|base64(HMAC-SHA1(salt, name))" as written by `ssh-keygen -H`. */
function hashedMatch(pattern: string, name: string): boolean {
  const parts = pattern.split("|");
  if (parts.length !== 4 || parts[1] !== "1") return false;
  const salt = Buffer.from(parts[2], "base64");
  const mac = createHmac("sha1", salt).update(name).digest("base64");
  return mac === parts[3];
}

/** OpenSSH semantics: any negated match excludes the line, else any positive match includes it. */
export function hostsMatch(patterns: string[], name: string): boolean {
  let matched = false;
  for (const p of patterns) {
    if (p.startsWith("|")) {
      if (hashedMatch(p, name)) matched = true;
      continue;
    }
    const negated = p.startsWith("!");
    if (globMatch(negated ? p.slice(1) : p, name)) {
      if (negated) return false;
      matched = true;
    }
  }
  return matched;
}

/** Host keys trusted for host:port, minus any the file marks @revoked. */
export function findHostKeys(text: string, host: string, port: number): HostKey[] {
  const name = knownHostsName(host, port);
  const entries = parseKnownHosts(text).filter((e) => hostsMatch(e.hosts, name));
  const revoked = new Set(
    entries.filter((e) => e.marker === "revoked").map((e) => `${e.key.type} ${e.key.base64}`),
  );
  const seen = new Set<string>();
  const keys: HostKey[] = [];
  for (const e of entries) {
    const id = `${e.key.type} ${e.key.base64}`;
    if (e.marker || revoked.has(id) || seen.has(id)) continue;
    seen.add(id);
    keys.push(e.key);
  }
  return keys;
}

/** Keys the file revokes for host:port (a server presenting one is refused outright). */
export function findRevokedHostKeys(text: string, host: string, port: number): HostKey[] {
  const name = knownHostsName(host, port);
  return parseKnownHosts(text).filter((e) => e.marker === "revoked" && hostsMatch(e.hosts, name))
    .map((e) => e.key);
}
