/**
 * Reads a V8 `.cpuprofile` (as written by bench/profile.ts) and says where the time went: self
 * time per package / project file, and the heaviest functions by self and by inclusive time.
 * Pure functions over the JSON, so the bench can print a summary right after a profiled run.
 */

export interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  hitCount?: number;
  children?: number[];
}

export interface CpuProfile {
  nodes: CpuProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface Hot {
  key: string;
  ms: number;
}

export interface ProfileSummary {
  totalMs: number;
  /** Self time per area: an npm package, a project file, the runtime, GC, idle. */
  byArea: Hot[];
  /** Functions with the most self time. */
  bySelf: Hot[];
  /** Project (lib/, main.ts) functions with the most inclusive time. */
  byInclusive: Hot[];
}

const PROJECT_ROOT = new URL("../", import.meta.url).href;

/** "yaml", "@kubernetes/client-node", "lib/plan/desired.ts", "(garbage collector)", … */
export function areaOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith("(") ? functionName : "(native)";
  const pkg = /node_modules\/\.deno\/[^/]+\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url) ??
    /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (pkg) return pkg[1];
  // The project's own files by their path from its root (the root's own name may be "bench").
  if (url.startsWith(PROJECT_ROOT)) return url.slice(PROJECT_ROOT.length);
  const own = /\/((?:lib|sandbox|bench)\/.+|main\.ts)$/.exec(url);
  if (own) return own[1];
  if (/^(ext|node):/.test(url)) return "(deno runtime)";
  return url.replace(/^file:\/\/\/.*\//, "");
}

function keyOf(n: CpuProfileNode): string {
  const f = n.callFrame;
  const where = areaOf(f.url, f.functionName);
  return `${f.functionName || "(anonymous)"} ${where}:${f.lineNumber + 1}`;
}

function top(map: Map<string, number>, k: number): Hot[] {
  return [...map.entries()].map(([key, ms]) => ({ key, ms })).sort((a, b) => b.ms - a.ms)
    .slice(0, k);
}

const RUNTIME = new Set(["(native)", "(deno runtime)"]);

export function summarize(p: CpuProfile, k = 15): ProfileSummary {
  const totalMs = (p.endTime - p.startTime) / 1000;
  const hits = p.nodes.reduce((s, n) => s + (n.hitCount ?? 0), 0);
  const msPerHit = hits > 0 ? totalMs / hits : 0;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  /** Native ops and runtime glue are charged to the package or file that called them. */
  const chargedArea = (n: CpuProfileNode): string => {
    let area = areaOf(n.callFrame.url, n.callFrame.functionName);
    let id = parent.get(n.id);
    for (let depth = 0; RUNTIME.has(area) && id !== undefined && depth < 64; depth++) {
      const up = byId.get(id)!;
      const a = areaOf(up.callFrame.url, up.callFrame.functionName);
      if (!RUNTIME.has(a) && a !== "(root)") area = a;
      id = parent.get(id);
    }
    return area;
  };
  const byArea = new Map<string, number>();
  const bySelf = new Map<string, number>();
  for (const n of p.nodes) {
    const ms = (n.hitCount ?? 0) * msPerHit;
    if (ms === 0) continue;
    const area = chargedArea(n);
    byArea.set(area, (byArea.get(area) ?? 0) + ms);
    bySelf.set(keyOf(n), (bySelf.get(keyOf(n)) ?? 0) + ms);
  }
  // Inclusive time: subtree totals, counted once per function even under recursion.
  const subtree = new Map<number, number>();
  const order: number[] = [];
  const root = p.nodes[0];
  const stack: number[] = root ? [root.id] : [];
  // Iterative pre-order walk; bounded by the node count (each node is pushed once).
  while (stack.length > 0 && order.length <= p.nodes.length) {
    const id = stack.pop()!;
    order.push(id);
    for (const c of byId.get(id)?.children ?? []) stack.push(c);
  }
  for (const id of order.reverse()) {
    const n = byId.get(id)!;
    let ms = (n.hitCount ?? 0) * msPerHit;
    for (const c of n.children ?? []) ms += subtree.get(c) ?? 0;
    subtree.set(id, ms);
  }
  const inclusive = new Map<string, number>();
  const walk: { id: number; active: Set<string> }[] = root
    ? [{ id: root.id, active: new Set() }]
    : [];
  let steps = 0;
  while (walk.length > 0 && steps++ <= p.nodes.length) {
    const { id, active } = walk.pop()!;
    const n = byId.get(id)!;
    const key = keyOf(n);
    const own = /^(lib\/|main\.ts)/.test(areaOf(n.callFrame.url, n.callFrame.functionName));
    let next = active;
    if (own && !active.has(key)) {
      inclusive.set(key, (inclusive.get(key) ?? 0) + (subtree.get(id) ?? 0));
      next = new Set(active).add(key);
    }
    for (const c of n.children ?? []) walk.push({ id: c, active: next });
  }
  return {
    totalMs,
    byArea: top(byArea, k),
    bySelf: top(bySelf, k),
    byInclusive: top(inclusive, k),
  };
}

export function formatSummary(s: ProfileSummary): string {
  const row = (h: Hot) =>
    `    ${h.ms.toFixed(0).padStart(6)} ms ${
      (100 * h.ms / s.totalMs).toFixed(1).padStart(5)
    }%  ${h.key}`;
  return [
    `  profiled ${s.totalMs.toFixed(0)} ms of the fluxfleet process (from its first module)`,
    "  self time by area (native ops charged to their caller):",
    ...s.byArea.map(row),
    "  heaviest functions (self):",
    ...s.bySelf.map(row),
    "  heaviest fluxfleet functions (inclusive):",
    ...s.byInclusive.map(row),
  ].join("\n");
}

// ---------------------------------------------------------------------------
// Sampling heap profiles (HeapProfiler.getSamplingProfile): live memory by allocation site.

export interface HeapProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  selfSize: number;
  id: number;
  children: HeapProfileNode[];
}

export interface HeapProfile {
  head: HeapProfileNode;
}

export interface HeapSummary {
  totalMiB: number;
  byArea: Hot[];
  /** Project functions under which the live memory was allocated (inclusive). */
  byInclusive: Hot[];
}

/** Sizes are reported in the `ms` field of Hot, in MiB. */
export function summarizeHeap(h: HeapProfile, k = 12): HeapSummary {
  const byArea = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let total = 0;
  // Explicit stack, bounded by the node count: every node is visited once.
  const stack: { n: HeapProfileNode; area: string; own: string[] }[] = [{
    n: h.head,
    area: "(root)",
    own: [],
  }];
  let visits = 0;
  while (stack.length > 0 && visits++ < 10_000_000) {
    const { n, area: callerArea, own } = stack.pop()!;
    const f = n.callFrame;
    let area = areaOf(f.url, f.functionName);
    if (RUNTIME.has(area) || area === "(root)") area = callerArea;
    const mib = n.selfSize / 1048576;
    total += mib;
    if (mib > 0) {
      byArea.set(area, (byArea.get(area) ?? 0) + mib);
      for (const key of own) inclusive.set(key, (inclusive.get(key) ?? 0) + mib);
    }
    let nextOwn = own;
    if (/^(lib\/|main\.ts)/.test(area) && f.url) {
      const key = `${f.functionName || "(anonymous)"} ${area}:${f.lineNumber + 1}`;
      if (!own.includes(key)) nextOwn = [...own, key];
    }
    for (const c of n.children) stack.push({ n: c, area, own: nextOwn });
  }
  return { totalMiB: total, byArea: top(byArea, k), byInclusive: top(inclusive, k) };
}

export function formatHeapSummary(s: HeapSummary, when: string): string {
  const row = (h: Hot) =>
    `    ${h.ms.toFixed(1).padStart(7)} MiB ${
      (100 * h.ms / s.totalMiB).toFixed(1).padStart(5)
    }%  ${h.key}`;
  return [
    `  live JS heap sampled ${when}: ${s.totalMiB.toFixed(0)} MiB`,
    "  by allocating area:",
    ...s.byArea.map(row),
    "  by fluxfleet function on the allocation stack (inclusive):",
    ...s.byInclusive.map(row),
  ].join("\n");
}
