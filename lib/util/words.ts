/** Small wording helpers shared by the renderers. */

/** "1 cluster", "2 clusters", "0 clusters"; `many` for irregular plurals. */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}
