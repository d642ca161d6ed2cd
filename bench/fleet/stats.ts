/** Medians, ranges and the few number formats every part of the fleet bench prints. */

export interface Spread {
  median: number;
  min: number;
  max: number;
  n: number;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  if (s.length === 0) return NaN;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function spread(xs: readonly number[]): Spread {
  return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs), n: xs.length };
}

/** "1.77 s" */
export function secs(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}

/** "1.77 s (1.65–1.87, n=5)": median, then the range of the runs. */
export function secsSpread(s: Spread): string {
  return `${secs(s.median)} (${(s.min / 1000).toFixed(2)}–${(s.max / 1000).toFixed(2)}, n=${s.n})`;
}

/** "243 ms (231–262, n=10)" */
export function msSpread(s: Spread): string {
  return `${s.median.toFixed(0)} ms (${s.min.toFixed(0)}–${s.max.toFixed(0)}, n=${s.n})`;
}

/** KiB (ru_maxrss) to "243 MiB (255 MB)". */
export function mib(kb: number): string {
  return `${(kb / 1024).toFixed(0)} MiB (${(kb * 1024 / 1e6).toFixed(0)} MB)`;
}

/** "243 MiB (238–251, n=3) = 255 MB": median and range in MiB, median in MB too. */
export function mibSpread(s: Spread): string {
  return `${(s.median / 1024).toFixed(0)} MiB (${(s.min / 1024).toFixed(0)}–${
    (s.max / 1024).toFixed(0)
  }, n=${s.n}) = ${(s.median * 1024 / 1e6).toFixed(0)} MB`;
}

export function verdict(ok: boolean): string {
  return ok ? "MET" : "NOT MET";
}
