/**
 * The private temp dirs of `git.transport: system`, named after the process that made them, so
 * that a later run can tell a dir abandoned by a killed run (its process is gone) from a live one
 * of a concurrent run, and clean the abandoned ones up: it kills what still runs for them (an
 * agent, ssh) and removes them.
 *
 * Name: `ffssh-<pidns>.<pid>.<starttime>.<random>` (numbers in base 36). The pid
 * namespace and the start time (clock ticks since boot, /proc/<pid>/stat field 22) make the owner
 * unambiguous despite pid reuse and containers sharing a temp dir. Where /proc is not available the
 * dir carries no owner and is never swept (the run's guard process still removes it, see
 * session_guard.ts). The name is kept short: the agent's socket lives in the dir, and a socket
 * path has at most 103 bytes (macOS), TMPDIR included.
 */
import { tmpdir } from "node:os";
import { join } from "node:path";

/** "fluxfleet ssh session", short: the agent's socket path is bounded (MAX_SOCKET_PATH). */
export const SESSION_PREFIX = "ffssh-";
const PREFIX = SESSION_PREFIX;
const OWNED = /^ffssh-([0-9a-z]+)\.([0-9a-z]+)\.([0-9a-z]+)\./;

interface Owner {
  ns: number;
  pid: number;
  start: number;
}

/** Start time of a process (field 22 of /proc/<pid>/stat); null when there is no such process. */
function startTimeOf(pid: number | "self"): number | null {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // "pid (comm) state ppid …": comm may contain spaces and parentheses; field 3 follows ")".
    const start = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]);
    return Number.isSafeInteger(start) ? start : null;
  } catch {
    return null;
  }
}

function pidNamespace(): number | null {
  try {
    const n = Number(/^pid:\[(\d+)\]$/.exec(Deno.readLinkSync("/proc/self/ns/pid"))?.[1]);
    return Number.isSafeInteger(n) ? n : null;
  } catch {
    return null;
  }
}

let self: Owner | null | undefined;

function thisProcess(): Owner | null {
  if (self !== undefined) return self;
  const ns = pidNamespace();
  const start = startTimeOf("self");
  self = ns === null || start === null ? null : { ns, pid: Deno.pid, start };
  return self;
}

/**
 * sun_path holds 108 bytes on Linux, 104 on macOS and the BSDs, the final NUL included: the agent's
 * socket path (`<root>/<session dir>/<socket name>`) may not be longer.
 */
export const MAX_SOCKET_PATH = Deno.build.os === "linux" ? 107 : 103;
/** The longest session dir name makeSessionDir makes (three 32-bit numbers in base 36). */
const LONGEST_NAME = PREFIX.length + 3 * 7 + 3 + 6;

/**
 * Where the session dirs go: the temp dir, unless a socket named `socketName` in a session dir
 * there could be too long a path (a deep TMPDIR, such as a test's or a CI job's): then /tmp, which
 * is short and, with its sticky bit and the dir's 0700, as private. Sweeps look in both.
 */
export function sessionRoots(socketName: string): { use: string; sweep: string[] } {
  const temp = tmpdir();
  const fits = (root: string) =>
    join(root, "x".repeat(LONGEST_NAME), socketName).length <= MAX_SOCKET_PATH;
  const use = fits(temp) || !fits("/tmp") ? temp : "/tmp";
  return { use, sweep: [...new Set([temp, use])] };
}

/** Six base-36 characters (31 bits) from the CSPRNG. */
function randomTag(): string {
  const [n] = crypto.getRandomValues(new Uint32Array(1));
  return (n % 36 ** 6).toString(36).padStart(6, "0");
}

/** A new 0700 dir in the temp dir, named after this process. */
export async function makeSessionDir(root: string = tmpdir()): Promise<string> {
  const me = thisProcess();
  const prefix = me
    ? `${PREFIX}${me.ns.toString(36)}.${me.pid.toString(36)}.${me.start.toString(36)}.`
    : PREFIX;
  for (let attempt = 1;; attempt++) {
    const dir = join(root, prefix + randomTag());
    try {
      // Exclusive: fails on any existing entry, a symlink planted in a shared /tmp included.
      await Deno.mkdir(dir, { mode: 0o700 });
    } catch (e) {
      if (e instanceof Deno.errors.AlreadyExists && attempt < 20) continue;
      throw e;
    }
    await Deno.chmod(dir, 0o700);
    return dir;
  }
}

function ownerOf(name: string): Owner | null {
  const m = OWNED.exec(name);
  if (!m) return null;
  const [ns, pid, start] = m.slice(1).map((n) => parseInt(n, 36));
  return [ns, pid, start].every(Number.isSafeInteger) ? { ns, pid, start } : null;
}

/** The processes of this user whose command line mentions `dir` (ssh-agent -a, ssh -o …). */
function processesUsing(dir: string): number[] {
  const pids: number[] = [];
  const needle = `${dir}/`;
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name) || Number(e.name) === Deno.pid) continue;
    try {
      if (Deno.statSync(`/proc/${e.name}`).uid !== Deno.uid()) continue;
      const argv = Deno.readTextFileSync(`/proc/${e.name}/cmdline`).split("\0");
      if (argv.some((a) => a === dir || a.includes(needle))) pids.push(Number(e.name));
    } catch { /* exited while we looked */ }
  }
  return pids;
}

/**
 * Removes the session dirs of runs of this user that are gone (killed with SIGKILL, or their
 * machine lost power), after killing the processes still working for them. Dirs of live
 * processes, of other users, and of other pid namespaces are left alone. Returns the names removed.
 */
export function sweepStaleSessionDirs(root: string = tmpdir()): string[] {
  const me = thisProcess();
  if (!me) return [];
  const removed: string[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(root)];
  } catch {
    return [];
  }
  for (const e of entries) {
    const owner = ownerOf(e.name);
    if (!owner || owner.ns !== me.ns) continue;
    if (startTimeOf(owner.pid) === owner.start) continue; // still running (this process too)
    const dir = join(root, e.name);
    try {
      const st = Deno.lstatSync(dir);
      if (!st.isDirectory || st.uid !== Deno.uid()) continue;
      for (const pid of processesUsing(dir)) {
        try {
          Deno.kill(pid, "SIGKILL");
        } catch { /* already gone */ }
      }
      Deno.removeSync(dir, { recursive: true });
      removed.push(e.name);
    } catch { /* removed meanwhile, or not ours to remove */ }
  }
  return removed;
}
