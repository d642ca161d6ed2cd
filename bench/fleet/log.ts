/** Progress lines of the bench, stamped with the seconds since it started. */
const t0 = performance.now();

export function log(text: string): void {
  const s = ((performance.now() - t0) / 1000).toFixed(1).padStart(7);
  console.log(`[${s}s] ${text}`);
}
