/**
 * Redaction of secrets from everything fluxfleet prints or stores.
 * Every secret value resolved from the manifest or a kubeconfig is registered here; `redact`
 * replaces it anywhere, in each form a server or a library may echo it in:
 * - as it is, and JSON-escaped once or twice (a secret with quotes or backslashes inside JSON
 *   output or a `.dockerconfigjson`, or inside JSON quoted in a JSON string);
 * - URL-encoded (encodeURIComponent, and form encoding with `+` for spaces): a credential in a
 *   query string or URL that a server quotes back;
 * - base64, on its own (a Secret's `data`, with or without padding) and inside a longer base64
 *   text: Basic credentials `user:secret`, or a `.dockerconfigjson` holding the password. There
 *   the secret starts at any byte offset, so it is redacted as the characters that encode only
 *   its own bytes, for each of the three offsets modulo 3 (what is left at either edge are the
 *   few bits of a character shared with the neighbouring bytes).
 * Not covered, as nothing fluxfleet talks to produces them from its secrets: base64url,
 * hexadecimal, and encodings of encodings (beyond base64 of a registered Basic credential).
 */
import { stripControls } from "./strip_controls.ts";

/** Every registered value, so a secret registered once per cluster is worked on once. */
const registered = new Set<string>();
const forms = new Set<string>();
/**
 * `forms` by their first MIN_SECRET characters, rebuilt on change: a text is scanned once for
 * candidates, whatever the number of forms (a fleet registers thousands).
 */
let index: Map<string, string[]> | undefined;

/** Very short values would redact ordinary words; a real token or key is never this short. */
const MIN_SECRET = 4;
/** A base64 core shorter than this could match unrelated base64 text. */
const MIN_CORE = 6;

export function registerSecret(value: string): void {
  if (value.length < MIN_SECRET || registered.has(value)) return;
  registered.add(value);
  for (const form of secretForms(value)) forms.add(form);
  index = undefined;
}

function formIndex(): Map<string, string[]> {
  const byPrefix = new Map<string, string[]>();
  for (const form of forms) {
    const prefix = form.slice(0, MIN_SECRET);
    const list = byPrefix.get(prefix);
    if (list) list.push(form);
    else byPrefix.set(prefix, [form]);
  }
  return byPrefix;
}

/** The forms that occur in `text`, longest first (a whole base64 text before its cores). */
function formsIn(text: string): string[] {
  index ??= formIndex();
  if (index.size === 0) return [];
  const found = new Set<string>();
  for (let i = 0; i + MIN_SECRET <= text.length; i++) {
    const list = index.get(text.slice(i, i + MIN_SECRET));
    if (list) { for (const form of list) if (text.startsWith(form, i)) found.add(form); }
  }
  return [...found].sort((a, b) => b.length - a.length);
}

function utf8(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

function base64(bytes: Uint8Array): string {
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

/**
 * The base64 characters that depend on `bytes` alone when they sit `offset` bytes into a longer
 * text: character i covers bits [6i, 6i+6), which must lie within the secret's bits.
 */
function base64Core(bytes: Uint8Array, offset: number): string {
  const padded = new Uint8Array(offset + bytes.length + 2);
  padded.set(bytes, offset);
  const start = Math.ceil((offset * 8) / 6);
  const end = Math.floor(((offset + bytes.length) * 8) / 6);
  return base64(padded).slice(start, end);
}

function secretForms(value: string): string[] {
  const out = new Set<string>([value, stripControls(value)]);
  const jsonEscaped = JSON.stringify(value).slice(1, -1);
  out.add(jsonEscaped);
  out.add(JSON.stringify(jsonEscaped).slice(1, -1));
  out.add(encodeURIComponent(value));
  out.add(new URLSearchParams({ v: value }).toString().slice(2));
  for (const text of new Set([value, jsonEscaped])) {
    const bytes = utf8(text);
    const whole = base64(bytes);
    out.add(whole);
    out.add(whole.replace(/=+$/, ""));
    for (const offset of [0, 1, 2]) {
      const core = base64Core(bytes, offset);
      if (core.length >= MIN_CORE) out.add(core);
    }
  }
  return [...out].filter((f) => f.length >= MIN_SECRET);
}

const URL_CREDENTIALS = /([a-z][a-z0-9+.-]*:\/\/)([^/@\s:]+)(:[^/@\s]*)?@/gi;

export function redact(text: string): string {
  let out = text.replace(
    URL_CREDENTIALS,
    (_m, scheme: string, user: string, pass?: string) =>
      pass ? `${scheme}${user}:***@` : `${scheme}${user}@`,
  );
  for (const form of formsIn(out)) out = out.replaceAll(form, "***");
  return out;
}

/** Text as it may be shown: control characters and escape sequences removed, secrets redacted. */
export function safeText(text: string): string {
  return redact(stripControls(text));
}

/**
 * A text a server sent (an error message, what a hook printed), made safe and cut to `max`
 * characters. Redacted before it is cut: a secret cut in half would no longer be recognised.
 */
export function serverText(text: string, max: number): string {
  const safe = safeText(text);
  return safe.length > max ? `${safe.slice(0, max)}…` : safe;
}

/** Message of any thrown value, safe to show: control characters removed, redacted. */
export function errorMessage(e: unknown): string {
  return safeText(e instanceof Error ? e.message : String(e));
}
