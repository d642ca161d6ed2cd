/**
 * Credentials: resolves a cluster's secret references before anything is contacted (the git
 * token or SSH key, the commit signer, the registry login), and says which field of the manifest
 * a bad one is.
 */
import type { ClusterConfig, SecretRef } from "../config/types.ts";
import { resolveSecret, type SecretSource } from "../config/secrets.ts";
import { type ParsedPrivateKey, parsePrivateKey } from "../keys/parse.ts";
import {
  type CommitSigner,
  createCommitSigner,
  SigningKeyError,
  type SigningKeys,
} from "../git/sign.ts";
import { createHash } from "node:crypto";
import { registerSecret } from "../util/redact.ts";

export type Credentials =
  & (
    | {
      kind: "token";
      username: string;
      token: string;
      /** git.caFile's PEM: trusted by fluxfleet and stored in the source secret for Flux. */
      caPem?: string;
    }
    | { kind: "ssh"; keyText: string; passphrase?: string; parsed: ParsedPrivateKey }
  )
  & {
    /** git.signing: signs the commits pushed with these credentials. */
    signer?: CommitSigner;
    /** flux.registryCredentials, resolved: the image pull secret's login. */
    registry?: { username: string; password: string };
  };

async function readCaFile(path: string, field: () => string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    throw new Error(`${field()}: cannot read ${path}: ${(e as Error).name}`);
  }
}

/**
 * Names a setting of the cluster in errors: `cluster "dev": git.auth.token`, or with the place in
 * the manifest (Manifest.describe: `fleet.yaml:12:30: cluster "dev": git.auth.token`).
 */
export type FieldNamer = (field: string) => string;

/**
 * Reads and checks a cluster's credentials; errors name the cluster and the field as the manifest
 * spells it (a provider's API token is its own field, not the `git.auth.token` it becomes).
 * `name` is called only for an error (or a prompt): with the manifest's locations it builds the
 * manifest's document model, which a run without problems does not need before its first request.
 */
export async function resolveCredentials(
  c: ClusterConfig,
  baseDir: string,
  secrets: SecretSource,
  name: FieldNamer = (field) => `cluster "${c.name}": ${field}`,
): Promise<Credentials> {
  const auth = c.git.auth;
  const at = (field: string) =>
    name(
      auth.type === "token" && auth.field && field === "token" ? auth.field : `git.auth.${field}`,
    );
  const signer = await resolveSigner(c, baseDir, secrets, name);
  const registry = await resolveRegistry(c, baseDir, secrets, name);
  const extra = { ...(signer ? { signer } : {}), ...(registry ? { registry } : {}) };
  if (auth.type === "token") {
    const token = await resolveSecret(auth.token, () => at("token"), baseDir, secrets);
    const caPem = c.git.caFile
      ? await readCaFile(c.git.caFile, () => name("git.caFile"))
      : undefined;
    return {
      kind: "token",
      username: auth.username,
      token,
      ...(caPem ? { caPem } : {}),
      ...extra,
    };
  }
  const keyText = await resolveSecret(auth.privateKey, () => at("privateKey"), baseDir, secrets);
  const passphrase = auth.passphrase
    ? await resolveSecret(auth.passphrase, () => at("passphrase"), baseDir, secrets)
    : undefined;
  let parsed: ParsedPrivateKey;
  try {
    parsed = await parsePrivateKey(keyText, passphrase);
  } catch (e) {
    // parsePrivateKey's messages are fixed sentences without key material.
    throw new Error(`${at("privateKey")}: ${(e as Error).message}`);
  }
  // The unencrypted forms are secrets too.
  registerSecret(parsed.openssh.trim());
  registerSecret(parsed.ssh2Key.trim());
  return {
    kind: "ssh",
    keyText: keyText + (keyText.endsWith("\n") ? "" : "\n"),
    passphrase,
    parsed,
    ...extra,
  };
}

/**
 * `flux.registryCredentials` (flux bootstrap --registry-creds): the password is read with the
 * other secrets, before anything is contacted, and registered for redaction (resolveSecret) with
 * the forms the pull secret carries it in: Basic `user:password` and its base64.
 */
async function resolveRegistry(
  c: ClusterConfig,
  baseDir: string,
  secrets: SecretSource,
  name: FieldNamer,
): Promise<{ username: string; password: string } | undefined> {
  const rc = c.flux.registryCredentials;
  if (!rc) return undefined;
  const password = await resolveSecret(
    rc.password,
    () => name("flux.registryCredentials.password"),
    baseDir,
    secrets,
  );
  registerSecret(`${rc.username}:${password}`);
  registerSecret(
    btoa(String.fromCharCode(...new TextEncoder().encode(`${rc.username}:${password}`))),
  );
  return { username: rc.username, password };
}

const signers = new Map<string, Promise<CommitSigner>>();

/** Reads `git.signing`'s secrets and makes the signer; errors name the cluster and the field. */
async function resolveSigner(
  c: ClusterConfig,
  baseDir: string,
  secrets: SecretSource,
  name: FieldNamer,
): Promise<CommitSigner | undefined> {
  const spec = c.git.signing;
  if (!spec) return undefined;
  const at = (field: string) => name(`git.signing.${"gpg" in spec ? "gpg" : "ssh"}.${field}`);
  const read = (ref: SecretRef | undefined, field: string) =>
    ref ? resolveSecret(ref, () => at(field), baseDir, secrets) : Promise.resolve(undefined);
  const keys: SigningKeys = "gpg" in spec
    ? {
      format: "openpgp",
      keyRing: (await read(spec.gpg.keyRing, "keyRing"))!,
      passphrase: await read(spec.gpg.passphrase, "passphrase"),
      keyId: spec.gpg.keyId,
    }
    : {
      format: "ssh",
      privateKey: (await read(spec.ssh.key, "key"))!,
      passphrase: await read(spec.ssh.passphrase, "passphrase"),
    };
  // A fleet usually shares one signing key: decrypt it once (a KDF may take a second).
  const id = createHash("sha256").update(JSON.stringify(keys)).digest("hex");
  let signer = signers.get(id);
  if (!signer) signers.set(id, signer = createCommitSigner(keys));
  try {
    return await signer;
  } catch (e) {
    // SigningKeyError messages are fixed sentences without key material.
    if (e instanceof SigningKeyError) throw new Error(`${at(e.field)}: ${e.message}`);
    throw e;
  }
}
