/**
 * Temporary dirs named after the process that made them, so that a later run can tell a dir
 * abandoned by a killed run (its process is gone) from a live one of a concurrent run, and clean
 * the abandoned ones up: it kills what still runs for them (an agent, ssh, git) and removes them.
 * Used for a run's temp dir (lib/cli/lifecycle.ts) and system git's key sessions
 * (lib/git/transports/system/session_dir.ts).
 *
 * Name: `<prefix><pidns>.<pid>.<starttime>.<random>` (numbers in base 36). The pid namespace and
 * the start time (clock ticks since boot, /proc/<pid>/stat field 22) make the owner unambiguous
 * despite pid reuse and containers sharing a temp dir. Where /proc is not available the dir
 * carries no owner and is never swept.
 */
import { join } from "node:path";

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

/** Six base-36 characters (31 bits) from the CSPRNG. */
function randomTag(): string {
  const [n] = crypto.getRandomValues(new Uint32Array(1));
  return (n % 36 ** 6).toString(36).padStart(6, "0");
}

/** The name prefix of this process's dirs: `<prefix><pidns>.<pid>.<starttime>.` */
function ownedPrefix(prefix: string): string {
  const me = thisProcess();
  return me
    ? `${prefix}${me.ns.toString(36)}.${me.pid.toString(36)}.${me.start.toString(36)}.`
    : prefix;
}

/** The longest name `makeOwnedDir` makes with `prefix` (three 32-bit numbers in base 36). */
export function longestOwnedName(prefix: string): number {
  return prefix.length + 3 * 7 + 3 + 6;
}

/** A new 0700 dir in `root`, named after this process. */
export async function makeOwnedDir(root: string, prefix: string): Promise<string> {
  const name = ownedPrefix(prefix);
  for (let attempt = 1;; attempt++) {
    const dir = join(root, name + randomTag());
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

/** makeOwnedDir, synchronously (for start-up code that cannot wait). */
export function makeOwnedDirSync(root: string, prefix: string): string {
  const name = ownedPrefix(prefix);
  for (let attempt = 1;; attempt++) {
    const dir = join(root, name + randomTag());
    try {
      Deno.mkdirSync(dir, { mode: 0o700 });
    } catch (e) {
      if (e instanceof Deno.errors.AlreadyExists && attempt < 20) continue;
      throw e;
    }
    Deno.chmodSync(dir, 0o700);
    return dir;
  }
}

/** The owner in a name (the prefix already cut off). */
function ownerOf(name: string): Owner | null {
  const m = /^([0-9a-z]+)\.([0-9a-z]+)\.([0-9a-z]+)\./.exec(name);
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
 * Removes the dirs named `<prefix>…` in `root` of runs of this user that are gone (killed with SIGKILL, or their
 * machine lost power), after killing the processes still working for them. Dirs of live
 * processes, of other users, and of other pid namespaces are left alone. Returns the names removed.
 */
export function sweepStaleOwnedDirs(root: string, prefix: string): string[] {
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
    if (!e.name.startsWith(prefix)) continue;
    const owner = ownerOf(e.name.slice(prefix.length));
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
