import assert from "node:assert/strict";
import { describeRetry, type RetryNotice, withRetry } from "../lib/util/retry.ts";

const transient = () => ({ transient: true });
const noWait = { sleep: () => Promise.resolve() };

Deno.test("retries are told to the observer, and the final error says how many attempts were made", async () => {
  const notices: RetryNotice[] = [];
  let calls = 0;
  await assert.rejects(
    withRetry(
      { attempts: 3, initialDelayMs: 1, maxDelayMs: 1, onRetry: (n) => notices.push(n) },
      transient,
      () => {
        calls++;
        return Promise.reject(new Error("git server http://h/f.git did not answer within 1 s"));
      },
      { what: "git fetch", ...noWait },
    ),
    (e: Error) => {
      assert.equal(
        e.message,
        "git server http://h/f.git did not answer within 1 s (gave up after 3 attempts)",
      );
      return true;
    },
  );
  assert.equal(calls, 3);
  assert.deepEqual(notices.map(describeRetry), [
    "retrying git fetch (2/3): git server http://h/f.git did not answer within 1 s",
    "retrying git fetch (3/3): git server http://h/f.git did not answer within 1 s",
  ]);
});

Deno.test("a permanent error is thrown at once, as it was; an aborted signal starts no new attempt", async () => {
  let calls = 0;
  await assert.rejects(
    withRetry(
      { attempts: 4, initialDelayMs: 1, maxDelayMs: 1 },
      () => ({ transient: false }),
      () => {
        calls++;
        return Promise.reject(new Error("401"));
      },
      noWait,
    ),
    /^Error: 401$/,
  );
  assert.equal(calls, 1);
  const deadline = new AbortController();
  calls = 0;
  await assert.rejects(
    withRetry(
      { attempts: 4, initialDelayMs: 1, maxDelayMs: 1, signal: deadline.signal },
      transient,
      () => {
        calls++;
        deadline.abort();
        return Promise.reject(new Error("no answer"));
      },
      noWait,
    ),
    /^Error: no answer$/,
  );
  assert.equal(calls, 1, "no attempt after the deadline");
});
