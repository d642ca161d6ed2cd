/**
 * The forge JSON client (lib/providers/http) against a real local HTTP server: the shared rate
 * limiter (403/429 with x-ratelimit-reset, retry-after), Link paging and its bounds, redirects,
 * bounded answers, and errors in words without the token.
 */
import assert from "node:assert/strict";
import { createJsonClient, type JsonClient } from "../../lib/providers/http/client.ts";
import { statusWords } from "../../lib/providers/http/errors.ts";
import { collectLinkPages, linkTarget } from "../../lib/providers/http/paging.ts";
import { createRateLimiter, refusalWait } from "../../lib/providers/http/rate_limit.ts";
import { ProviderError } from "../../lib/providers/types.ts";

interface Seen {
  path: string;
  auth: string | null;
}

type Handler = (req: Request, url: URL, n: number) => Response | Promise<Response>;

async function withServer(
  handler: Handler,
  fn: (base: string, seen: Seen[]) => Promise<void>,
): Promise<void> {
  const seen: Seen[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const url = new URL(req.url);
    seen.push({ path: url.pathname + url.search, auth: req.headers.get("authorization") });
    return handler(req, url, seen.length);
  });
  try {
    await fn(`http://127.0.0.1:${server.addr.port}`, seen);
  } finally {
    await server.shutdown();
  }
}

let tokens = 0;
/** A token of its own per client set, so the run-wide limiters of other tests stay apart. */
function freshToken(): string {
  return `tok-${crypto.randomUUID()}-${++tokens}`;
}

function client(
  base: string,
  token: string,
  extra: Partial<Parameters<typeof createJsonClient>[0]> = {},
): JsonClient {
  return createJsonClient({
    service: "Forge",
    baseUrl: base,
    allowInsecureHttp: true,
    token,
    authorization: `token ${token}`,
    timeoutMs: 2_000,
    retry: { attempts: 2, initialDelayMs: 1, maxDelayMs: 5 },
    describe: (ctx) => statusWords(ctx, "check FORGE_TOKEN"),
    ...extra,
  });
}

async function failure(p: Promise<unknown>): Promise<ProviderError> {
  const e = await p.then(() => assert.fail("expected a failure"), (e: unknown) => e);
  assert.ok(e instanceof ProviderError, String(e));
  return e;
}

const resetIn = (seconds: number) => String(Math.ceil(Date.now() / 1000) + seconds);

Deno.test("a 403 with x-ratelimit-remaining 0 blocks every client of that host and token until the reset; another token is not held up", async () => {
  await withServer((req, url) => {
    if (url.pathname === "/first" && !req.headers.get("x-waited")) {
      return Response.json({ message: "API rate limit exceeded for user ID 1." }, {
        status: 403,
        headers: { "x-ratelimit-remaining": "0", "x-ratelimit-reset": resetIn(1) },
      });
    }
    return Response.json({ ok: url.pathname });
  }, async (base, seen) => {
    const token = freshToken();
    const waitsA: string[] = [];
    const waitsB: string[] = [];
    let firstRefused = false;
    const a = client(base, token, {
      onWait: (m) => {
        waitsA.push(m);
        firstRefused = true;
      },
      headers: {},
    });
    const b = client(base, token, { onWait: (m) => waitsB.push(m) });
    const other = client(base, freshToken(), { onWait: () => assert.fail("not rate limited") });
    // The refused request, answered again only after its wait (the server answers 200 then).
    const first = a.send({ method: "GET", path: "/first", action: "read first", subject: "x" })
      .catch((e) => e);
    while (!firstRefused) await new Promise((r) => setTimeout(r, 5));
    const [second, third] = await Promise.all([
      b.send({ method: "GET", path: "/second", action: "read second", subject: "x" }),
      other.send({ method: "GET", path: "/third", action: "read third", subject: "x" }),
    ]);
    assert.deepEqual(second.json, { ok: "/second" });
    assert.deepEqual(third.json, { ok: "/third" });
    // The refused request came back refused again (the server refuses /first without the
    // header): it was retried after each wait, and the limit was reported in words.
    const err = await first;
    assert.ok(err instanceof ProviderError);
    assert.match(
      err.message,
      /read first: Forge's rate limit for this token on 127\.0\.0\.1:\d+ is used up until \d\d:\d\d:\d\d UTC \(403, x-ratelimit-reset\)/,
    );
    assert.ok(!err.message.includes(token));
    assert.match(
      waitsA[0],
      /^waiting \d+ s for Forge's rate limit on 127\.0\.0\.1:\d+ \(x-ratelimit-reset\)$/,
    );
    assert.equal(waitsB.length >= 1, true, "the second client of the same token waited too");
    // Client B was never refused: it waited instead of spending a request.
    assert.equal(seen.filter((s) => s.path === "/second").length, 1);
    a.close();
    b.close();
    other.close();
  });
});

Deno.test("a 429 with retry-after is waited for and retried; a wait beyond the bound is an error in words, not retried", async () => {
  await withServer((_req, url, n) => {
    if (url.pathname === "/once" && n === 1) {
      return Response.json({ message: "slow down" }, {
        status: 429,
        headers: { "retry-after": "1" },
      });
    }
    if (url.pathname === "/long") {
      return Response.json({ message: "You have exceeded a secondary rate limit" }, {
        status: 403,
        headers: { "retry-after": "3600" },
      });
    }
    return Response.json({});
  }, async (base, seen) => {
    const token = freshToken();
    const waits: string[] = [];
    const c = client(base, token, { onWait: (m) => waits.push(m) });
    await c.send({ method: "POST", path: "/once", body: {}, action: "create", subject: "x" });
    assert.deepEqual(c.requests.map((r) => r.status), [429, 200]);
    assert.match(waits[0], /^waiting 1 s for Forge's rate limit on .* \(retry-after\)$/);

    const err = await failure(
      c.send({ method: "GET", path: "/long", action: "list", subject: "x" }),
    );
    assert.equal(err.status, 403);
    assert.equal(err.transient, false);
    assert.match(
      err.message,
      /list: Forge's rate limit .* is used up until .* \(403, retry-after\): re-run after that/,
    );
    assert.equal(seen.filter((s) => s.path === "/long").length, 1);
    c.close();
  });
});

Deno.test("statuses in words, without the token a server echoes (plain, URL-encoded, base64)", async () => {
  const token = `s3cr/t+${crypto.randomUUID()}`;
  await withServer((_req, url) => {
    const status = Number(url.pathname.slice(1));
    return Response.json({
      message: `bad ${token} ${encodeURIComponent(token)} ${btoa(token)}`,
    }, { status });
  }, async (base) => {
    const c = client(base, token);
    const cases: [number, RegExp][] = [
      [401, /^do it: the Forge token was rejected \(401\): check FORGE_TOKEN$/],
      [403, /^do it: the token may not do this on 127\.0\.0\.1:\d+ \(403\)$/],
      [404, /^do it: the thing was not found on 127\.0\.0\.1:\d+ \(404\)/],
      [422, /^do it: Forge refused the request as invalid \(422\)$/],
    ];
    for (const [status, words] of cases) {
      const err = await failure(
        c.send({ method: "GET", path: `/${status}`, action: "do it", subject: "the thing" }),
      );
      assert.equal(err.status, status);
      assert.match(err.message, words);
    }
    // The server's message is quoted by providers; the client's own scrub covers every form.
    const described = client(base, token, {
      describe: (ctx) => `said: ${(ctx.body as { message: string }).message}`,
    });
    const echoed = await failure(
      described.send({ method: "GET", path: "/400", action: "x", subject: "y" }),
    );
    assert.equal(echoed.message, "said: bad *** *** ***");
    c.close();
    described.close();
  });
});

Deno.test("Link paging follows rel=next across pages, within a bound, and never to another origin", async () => {
  await withServer((_req, url) => {
    const page = Number(url.searchParams.get("page") ?? "1");
    const headers: Record<string, string> = {};
    if (url.pathname === "/items" && page < 3) {
      headers.link = `<${url.origin}/items?page=${
        page + 1
      }>; rel="next", <${url.origin}/items?page=3>; rel="last"`;
    }
    if (url.pathname === "/loop") headers.link = `<${url.origin}/loop?page=2>; rel="next"`;
    if (url.pathname === "/away") {
      headers.link = `<http://elsewhere.invalid/items?page=2>; rel="next"`;
    }
    return Response.json([`${url.pathname}#${page}`], { headers });
  }, async (base, seen) => {
    const c = client(base, freshToken());
    const all = await collectLinkPages(c, {
      path: "/items",
      action: "list",
      subject: "x",
      maxPages: 10,
    });
    assert.deepEqual(all, ["/items#1", "/items#2", "/items#3"]);

    const bounded = await failure(
      collectLinkPages(c, { path: "/items", action: "list", subject: "x", maxPages: 2 }),
    );
    assert.match(
      bounded.message,
      /list: unexpected answer from Forge: more than 2 pages; refusing to follow further/,
    );

    const loop = await failure(
      collectLinkPages(c, { path: "/loop", action: "list", subject: "x", maxPages: 50 }),
    );
    assert.match(loop.message, /a next-page link names a page already read/);
    assert.ok(seen.filter((s) => s.path.startsWith("/loop")).length <= 3);

    const away = await failure(
      collectLinkPages(c, { path: "/away", action: "list", subject: "x", maxPages: 5 }),
    );
    assert.match(away.message, /a link leads away from http:\/\/127\.0\.0\.1:\d+: not followed/);
    c.close();
  });
  assert.equal(linkTarget('<https://a/x?page=2>; rel="next"', "next"), "https://a/x?page=2");
  assert.equal(linkTarget('<https://a/x?page=1>; rel="prev first"', "next"), undefined);
});

Deno.test("redirects: inside the origin followed for GET, to another origin refused before the token leaves", async () => {
  await withServer((_req, other) => {
    return Response.json({ reached: other.pathname });
  }, async (elsewhere, elsewhereSeen) => {
    await withServer((_req, url) => {
      if (url.pathname === "/old") return Response.redirect(`${url.origin}/new`, 301);
      if (url.pathname === "/away") return Response.redirect(`${elsewhere}/stolen`, 307);
      return Response.json({ at: url.pathname });
    }, async (base) => {
      const c = client(base, freshToken());
      const moved = await c.send({ method: "GET", path: "/old", action: "read", subject: "x" });
      assert.deepEqual(moved.json, { at: "/new" });
      const err = await failure(
        c.send({ method: "POST", path: "/away", body: {}, action: "create", subject: "x" }),
      );
      assert.match(
        err.message,
        new RegExp(
          `create: Forge answered ${base}/away with a redirect \\(307\\) to ${elsewhere}/stolen: not followed`,
        ),
      );
      assert.equal(elsewhereSeen.length, 0);
      c.close();
    });
  });
});

Deno.test("an answer larger than the bound is refused in words", async () => {
  await withServer(() => Response.json(["x".repeat(5000)]), async (base) => {
    const c = client(base, freshToken(), { maxResponseBytes: 1000 });
    const err = await failure(
      c.send({ method: "GET", path: "/big", action: "list", subject: "x" }),
    );
    assert.match(
      err.message,
      /list: Forge at 127\.0\.0\.1:\d+ answered with more than 1000 bytes: not read further/,
    );
    c.close();
  });
});

Deno.test("refusalWait: x-ratelimit-reset, RateLimit-Reset and retry-after, and 403s that are no rate limit", () => {
  const now = 1_800_000_000_000;
  const h = (o: Record<string, string>) => new Headers(o);
  assert.deepEqual(
    refusalWait(
      403,
      h({ "x-ratelimit-remaining": "0", "x-ratelimit-reset": "1800000042" }),
      "",
      now,
    ),
    { ms: 42_000, source: "x-ratelimit-reset" },
  );
  assert.deepEqual(refusalWait(429, h({ "ratelimit-reset": "1800000010" }), "", now), {
    ms: 10_000,
    source: "ratelimit-reset",
  });
  assert.deepEqual(refusalWait(429, h({ "retry-after": "7" }), "", now), {
    ms: 7000,
    source: "retry-after",
  });
  assert.deepEqual(
    refusalWait(403, h({}), '{"message":"You have exceeded a secondary rate limit"}', now),
    { ms: 60_000, source: "the secondary rate limit" },
  );
  assert.equal(
    refusalWait(403, h({ "x-ratelimit-remaining": "12" }), "Must have admin rights", now),
    undefined,
  );
  assert.equal(refusalWait(404, h({ "retry-after": "1" }), "", now), undefined);
});

Deno.test("rate limiter: a block that grows past the run's bound while waiting ends the wait (no sleep of years)", async () => {
  let now = 0;
  const sleeps: number[] = [];
  const box: { limiter?: ReturnType<typeof createRateLimiter> } = {};
  const clock = {
    now: () => now,
    sleep(ms: number): Promise<void> {
      sleeps.push(ms);
      now += ms;
      // While this session waits, another answer says the limit resets in ten years.
      if (sleeps.length === 1) {
        box.limiter!.block({ ms: 10 * 365 * 24 * 3600_000, source: "reset" });
      }
      return Promise.resolve();
    },
  };
  const limiter = box.limiter = createRateLimiter(clock);
  limiter.block({ ms: 10_000, source: "retry-after" });
  const told: number[] = [];
  await limiter.ready((w) => told.push(w.ms), 15 * 60_000);
  assert.deepEqual(sleeps, [10_000], "it waited the 10 s it was told, then stopped");
  assert.deepEqual(told, [10_000]);
  assert.ok(limiter.remainingMs() > 15 * 60_000, "the caller sees the block past its bound");
  // Without a bound, no single sleep passes what a timer can hold (2^31-1 ms).
  const unbounded = createRateLimiter({
    now: () => now,
    sleep(ms: number) {
      sleeps.push(ms);
      now += ms;
      return Promise.resolve();
    },
  });
  unbounded.block({ ms: 2 ** 33, source: "reset" });
  await unbounded.ready();
  assert.ok(sleeps.slice(1).every((ms) => ms <= 2 ** 31 - 1), `${sleeps}`);
});

Deno.test("Link paging: a listing past its total bound (items or size) is refused, however few its pages", async () => {
  const big = "x".repeat(1024 * 1024);
  await withServer((_req, url) => {
    const page = Number(url.searchParams.get("page") ?? "1");
    const headers = { link: `<${url.origin}${url.pathname}?page=${page + 1}>; rel="next"` };
    // /many: 4,000 small items a page; /large: 12 items of 1 MiB a page (each page within bounds).
    if (url.pathname === "/many") {
      return Response.json(Array.from({ length: 4000 }, (_, i) => i), { headers });
    }
    return Response.json(Array.from({ length: 12 }, () => big), { headers });
  }, async (base) => {
    const c = client(base, freshToken());
    for (
      const [path, words] of [["/many", /more than 10000 items/], ["/large", /or 32 MiB/]] as const
    ) {
      const e = await failure(
        collectLinkPages(c, { path, action: "list", subject: "x", maxPages: 100 }),
      );
      assert.match(e.message, /refusing to read further/, path);
      assert.match(e.message, words, path);
    }
    c.close();
  });
});
