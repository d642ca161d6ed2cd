/** Process and port plumbing for the sshd sandbox: free ports, readiness, clean shutdown. */

/** A port the kernel just handed out; sshd binds it a moment later (callers retry on a clash). */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** True once something on host:port greets with an SSH banner. */
export async function sshBannerSeen(host: string, port: number): Promise<boolean> {
  let conn: Deno.TcpConn | undefined;
  try {
    conn = await Deno.connect({ hostname: host, port });
    const buf = new Uint8Array(64);
    const timer = setTimeout(() => conn?.close(), 1000);
    let n: number | null = null;
    try {
      n = await conn.read(buf);
    } finally {
      clearTimeout(timer);
    }
    return n !== null && new TextDecoder().decode(buf.subarray(0, n)).startsWith("SSH-");
  } catch {
    return false;
  } finally {
    try {
      conn?.close();
    } catch {
      // Closed by the timer already.
    }
  }
}

/** Parent pid of every process, from /proc (Linux). */
async function parentMap(): Promise<Map<number, number>> {
  const map = new Map<number, number>();
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = await Deno.readTextFile(`/proc/${entry.name}/stat`);
      // "pid (comm) state ppid …": comm may contain spaces and parentheses.
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      map.set(Number(entry.name), ppid);
    } catch {
      // Exited while we looked.
    }
  }
  return map;
}

/** All descendants of pid (children first-level order does not matter: we signal them all). */
export async function descendants(pid: number): Promise<number[]> {
  const parents = await parentMap();
  const out: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const p = queue.shift()!;
    for (const [child, parent] of parents) {
      if (parent === p) {
        out.push(child);
        queue.push(child);
      }
    }
  }
  return out;
}

/** Running (a zombie counts as gone: it only waits for its parent to reap it). */
export function isAlive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

export function signal(pid: number, sig: Deno.Signal): void {
  try {
    Deno.kill(pid, sig);
  } catch {
    // Already gone.
  }
}

/** Waits (bounded) until none of the pids is alive; true if they all went. */
export async function waitGone(pids: number[], timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (pids.some(isAlive)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}
