/** What a test leaves behind, checked in a temp dir of its own. */
import assert from "node:assert/strict";

/**
 * Runs `fn` with TMPDIR (of this process, hence of the children it starts) set to a new dir of its
 * own, then requires that dir to be empty and removes it: a test checks only what it left behind,
 * whatever other fluxfleet processes on the machine do in the shared temp dir. The dir is 0755 so
 * that the sshd sandbox's login users reach what lies below it. Tests run one at a time in a
 * process (no --parallel): TMPDIR is process-wide.
 */
export async function withOwnTmpdir(fn: (tmp: string) => Promise<void>): Promise<void> {
  const previous = Deno.env.get("TMPDIR");
  const tmp = await Deno.makeTempDir({ prefix: "fluxfleet-test-tmp-" });
  await Deno.chmod(tmp, 0o755);
  Deno.env.set("TMPDIR", tmp);
  try {
    await fn(tmp);
    const left = [...Deno.readDirSync(tmp)].map((e) => e.name);
    assert.deepEqual(left, [], "temp files left behind");
  } finally {
    if (previous === undefined) Deno.env.delete("TMPDIR");
    else Deno.env.set("TMPDIR", previous);
    await Deno.remove(tmp, { recursive: true });
  }
}
