/**
 * TLS material for the sandbox API server: a CA plus a server leaf signed by it.
 *
 * A self-signed leaf used as its own CA is rejected by rustls (Deno's fetch), so we make a
 * real two-level chain. openssl is slow enough (tens of ms per key) that we generate once per
 * process and share the pair between every sandbox.
 */

export interface SandboxTls {
  /** PEM of the CA that signed the server certificate; goes into kubeconfigs and caCerts. */
  caPem: string;
  /** PEM of the server leaf (SAN IP:127.0.0.1, DNS:localhost). */
  certPem: string;
  /** PKCS#8 PEM private key of the server leaf. */
  keyPem: string;
}

let cached: Promise<SandboxTls> | undefined;

/** Returns the process-wide CA + leaf, generating it on first use. */
export function sandboxTls(): Promise<SandboxTls> {
  if (!cached) {
    cached = generateTls().catch((err) => {
      // Do not cache a failure: a later caller may succeed (e.g. transient fs trouble).
      cached = undefined;
      throw err;
    });
  }
  return cached;
}

async function openssl(cwd: string, args: string[]): Promise<void> {
  const out = await new Deno.Command("openssl", { args, cwd, stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim();
    throw new Error(`openssl ${args[0]} failed: ${err}`);
  }
}

/** A random positive serial, so two runs never issue certificates with the same serial. */
function randomSerial(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0] &= 0x7f;
  return "0x" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

const LEAF_EXTENSIONS = [
  "basicConstraints=critical,CA:FALSE",
  "keyUsage=critical,digitalSignature,keyEncipherment",
  "extendedKeyUsage=serverAuth",
  "subjectAltName=IP:127.0.0.1,DNS:localhost",
  "",
].join("\n");

async function generateTls(): Promise<SandboxTls> {
  const dir = await Deno.makeTempDir({ prefix: "fluxfleet-sandbox-tls-" });
  try {
    const ec = ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"];
    await openssl(dir, ["genpkey", ...ec, "-out", "ca.key"]);
    await openssl(dir, ["genpkey", ...ec, "-out", "server.key"]);
    await openssl(dir, [
      "req",
      "-x509",
      "-new",
      "-key",
      "ca.key",
      "-sha256",
      "-days",
      "3650",
      "-subj",
      "/CN=fluxfleet-sandbox-ca",
      "-set_serial",
      randomSerial(),
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
      "-out",
      "ca.crt",
    ]);
    await openssl(dir, [
      "req",
      "-new",
      "-key",
      "server.key",
      "-subj",
      "/CN=localhost",
      "-out",
      "server.csr",
    ]);
    await Deno.writeTextFile(`${dir}/leaf.ext`, LEAF_EXTENSIONS);
    await openssl(dir, [
      "x509",
      "-req",
      "-in",
      "server.csr",
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-set_serial",
      randomSerial(),
      "-days",
      "825",
      "-sha256",
      "-extfile",
      "leaf.ext",
      "-out",
      "server.crt",
    ]);
    return {
      caPem: await Deno.readTextFile(`${dir}/ca.crt`),
      certPem: await Deno.readTextFile(`${dir}/server.crt`),
      keyPem: await Deno.readTextFile(`${dir}/server.key`),
    };
  } finally {
    // The CA key must not outlive this function: nothing else may sign with it.
    await Deno.remove(dir, { recursive: true });
  }
}
