/**
 * Plain TCP listeners on 127.0.0.1 for tests that must prove where connections go: one that
 * counts and drops every connection (nothing may reach it), one that accepts and never speaks (a
 * black-holing firewall or proxy).
 */

export interface TestListener {
  port: number;
  /** Connections accepted so far. */
  connections(): number;
  close(): Promise<void>;
}

/** Counts the connections it is offered and drops each at once. */
export function countingListener(): TestListener {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let count = 0;
  const accepting = (async () => {
    for await (const conn of listener) {
      count++;
      conn.close();
    }
  })().catch(() => {});
  return {
    port: listener.addr.port,
    connections: () => count,
    close: async () => {
      listener.close();
      await accepting;
    },
  };
}

/** Accepts connections and holds them open without a word until closed. */
export function silentListener(): TestListener {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) held.push(conn);
  })().catch(() => {});
  return {
    port: listener.addr.port,
    connections: () => held.length,
    close: async () => {
      listener.close();
      for (const c of held) {
        try {
          c.close();
        } catch { /* closed by the peer */ }
      }
      await accepting;
    },
  };
}
