/**
 * Redaction of secrets from everything fluxfleet prints or stores.
 * Every secret value resolved from the manifest is registered here; `redact` replaces it anywhere.
 */

const secrets = new Set<string>();

export function registerSecret(value: string): void {
  // Very short values would redact ordinary words; a real token or key is never this short.
  if (value.length >= 4) secrets.add(value);
}

const URL_CREDENTIALS = /([a-z][a-z0-9+.-]*:\/\/)([^/@\s:]+)(:[^/@\s]*)?@/gi;

export function redact(text: string): string {
  let out = text.replace(
    URL_CREDENTIALS,
    (_m, scheme: string, user: string, pass?: string) =>
      pass ? `${scheme}${user}:***@` : `${scheme}${user}@`,
  );
  for (const s of secrets) out = out.replaceAll(s, "***");
  return out;
}

/** Message of any thrown value, redacted. */
export function errorMessage(e: unknown): string {
  return redact(e instanceof Error ? e.message : String(e));
}
