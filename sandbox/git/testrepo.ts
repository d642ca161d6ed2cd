/** A temporary directory that cleans up after itself (`await using` or `remove()`). */
export interface TempDir {
  path: string;
  remove(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Creates a fresh directory under the system temp dir. */
export async function makeTempDir(prefix = "fluxfleet-"): Promise<TempDir> {
  const path = await Deno.makeTempDir({ prefix });
  const remove = async (): Promise<void> => {
    // Already gone is fine: cleanup must never mask the real test failure.
    await Deno.remove(path, { recursive: true }).catch(ignoreNotFound);
  };
  return { path, remove, [Symbol.asyncDispose]: remove };
}

function ignoreNotFound(err: unknown): void {
  if (!(err instanceof Deno.errors.NotFound)) throw err;
}
