import assert from "node:assert/strict";
import { doingNow, doingUnder } from "../lib/util/deadline_stop.ts";

Deno.test("doingUnder: two pieces of work with the same words end apart; the deadline still names the one left", () => {
  const signal = new AbortController().signal;
  const first = doingUnder(signal, "waiting for the answer of GitLab at h");
  const second = doingUnder(signal, "waiting for the answer of GitLab at h");
  const other = doingUnder(signal, "waiting out GitLab's rate limit");
  first();
  assert.deepEqual(doingNow(signal), [
    "waiting for the answer of GitLab at h",
    "waiting out GitLab's rate limit",
  ]);
  second();
  other();
  assert.deepEqual(doingNow(signal), []);
});
