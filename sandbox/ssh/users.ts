/**
 * sshd maps every login name to a local account (getpwnam), so each user name the sandbox serves
 * ("git", a CodeCommit-style key id …) must exist. We create missing ones once, idempotently:
 *   useradd --badname -M -N -d / -s /bin/sh -p '*' -c "fluxfleet ssh sandbox" <name>
 * - /bin/sh, not git-shell: sshd runs the authorized_keys forced command through the login shell,
 *   and git-shell would refuse to run our wrapper. The wrapper itself only ever execs git-shell.
 * - password "*" (no password, not "!"-locked): with UsePAM no, sshd refuses "!"-locked accounts.
 * - home "/": exists, so sshd prints no "Could not chdir to home directory" into git's stderr.
 * - --badname: key ids like APKAEIBAERJR2EXAMPLE are upper case, which useradd rejects otherwise.
 * Nothing can log in with these accounts except through the sandbox's own sshd and keys.
 */

const MARK = "fluxfleet ssh sandbox";
const SAFE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}$/;

async function run(
  cmd: string,
  args: string[],
): Promise<{ code: number; out: string; err: string }> {
  const res = await new Deno.Command(cmd, { args, stdin: "null", stdout: "piped", stderr: "piped" })
    .output();
  const dec = new TextDecoder();
  return { code: res.code, out: dec.decode(res.stdout), err: dec.decode(res.stderr) };
}

/** The passwd entry's login shell, or null when the user does not exist. */
async function loginShell(name: string): Promise<string | null> {
  const res = await run("getent", ["passwd", name]);
  if (res.code !== 0) return null;
  return res.out.trim().split(":")[6] ?? "";
}

async function ensureUser(name: string): Promise<void> {
  if (!SAFE_NAME.test(name)) throw new Error(`unusable sandbox user name: ${JSON.stringify(name)}`);
  for (let attempt = 1; attempt <= 5; attempt++) {
    const shell = await loginShell(name);
    if (shell !== null) {
      if (/git-shell$/.test(shell)) {
        throw new Error(
          `local user ${name} has git-shell as login shell, which cannot run the sandbox's forced ` +
            `command wrapper: change it with "usermod -s /bin/sh ${name}"`,
        );
      }
      return;
    }
    const res = await run("useradd", [
      "--badname",
      "-M",
      "-N",
      "-d",
      "/",
      "-s",
      "/bin/sh",
      "-p",
      "*",
      "-c",
      MARK,
      name,
    ]);
    if (res.code === 0) return;
    // Another test process may hold the passwd lock or have just created the same user: retry.
    if (attempt === 5) {
      throw new Error(`cannot create local user ${name} for the ssh sandbox: ${res.err.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 100 * attempt));
  }
}

/** Makes sure every name maps to a local account sshd can log in (needs root). */
export async function ensureSandboxUsers(names: string[]): Promise<void> {
  for (const name of names) await ensureUser(name);
}
