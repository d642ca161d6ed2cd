/**
 * Temporary files as lib/util/sealed_file.ts's writeAtomically leaves them in a cache folder: one a
 * killed run left two hours ago (`stale`, to be removed) and one being written now (`fresh`, to be
 * kept). Returns their names.
 */
export async function plantTempFiles(dir: string): Promise<{ stale: string; fresh: string }> {
  const stale = `${"a".repeat(64)}.json.${crypto.randomUUID()}.tmp`;
  const fresh = `${"b".repeat(64)}.json.${crypto.randomUUID()}.tmp`;
  await Deno.writeTextFile(`${dir}/${stale}`, "half");
  const twoHours = new Date(Date.now() - 7_200_000);
  await Deno.utime(`${dir}/${stale}`, twoHours, twoHours);
  await Deno.writeTextFile(`${dir}/${fresh}`, "half");
  return { stale, fresh };
}
