/** Redaction forms, control-character stripping, and where output applies them. */
import assert from "node:assert/strict";
import { redact, registerSecret, safeText, serverText } from "../lib/util/redact.ts";
import { stripControls } from "../lib/util/strip_controls.ts";
import { createProgress, loadLiveDisplay } from "../lib/report/progress.ts";
import { jsonText } from "../lib/report/json.ts";

const utf8 = (s: string) => new TextEncoder().encode(s);
const b64 = (s: string) => btoa(String.fromCharCode(...utf8(s)));

/** The secret's bytes can be read back from `text` by decoding base64 at any alignment. */
function decodable(text: string, secret: string): boolean {
  const middle = String.fromCharCode(...utf8(secret.slice(1, -1)));
  for (const [run] of text.matchAll(/[A-Za-z0-9+/]{4,}/g)) {
    for (let shift = 0; shift < 4; shift++) {
      const part = run.slice(shift);
      if (atob(part.slice(0, part.length - (part.length % 4))).includes(middle)) return true;
    }
  }
  return false;
}

Deno.test("redact: a secret in base64 alone, as Basic credentials and at each byte offset of a longer base64 text", () => {
  const secret = `canary-b64-${crypto.randomUUID()}`;
  registerSecret(secret);
  const cases = [
    b64(secret),
    b64(secret).replace(/=+$/, ""),
    b64(`git:${secret}`),
    b64(`admin:${secret}`),
    b64(`{"auths":{"ghcr.io":{"password":"${secret}"}}}`),
    b64(`x${secret}y`),
    b64(`xy${secret}z`),
    b64(`xyz${secret}`),
  ];
  for (const text of cases) {
    const out = redact(`data: ${text} end`);
    assert.match(out, /\*\*\*/, `${text} was not redacted`);
    assert.ok(!decodable(out, secret), `the secret can be read back from ${out}`);
    assert.match(out, /^data: .* end$/);
  }
});

Deno.test("redact: a secret URL-encoded, form-encoded and JSON-escaped", () => {
  const secret = `canary "q" \\ / + & ${crypto.randomUUID()}`;
  registerSecret(secret);
  for (
    const form of [
      encodeURIComponent(secret),
      new URLSearchParams({ t: secret }).toString().slice(2),
      JSON.stringify(secret).slice(1, -1),
      JSON.stringify(JSON.stringify({ password: secret })).slice(1, -1).replace(/^.*"password/, ""),
    ]
  ) {
    assert.ok(form !== secret);
    const out = redact(`before ${form} after`);
    assert.ok(!out.includes(secret.slice(-20)), `${form} -> ${out}`);
  }
  assert.equal(redact(JSON.stringify({ error: `failed: ${secret}` })), '{"error":"failed: ***"}');
});

Deno.test("redact: text without registered secrets is unchanged; very short values are not registered", () => {
  registerSecret("abc");
  const text = "abc SHA256:q1w2e3r4 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKk plan: 3 changes";
  assert.equal(redact(text), text);
});

Deno.test("stripControls: escape sequences and control characters go, text, tabs and newlines stay", () => {
  const cases: [string, string][] = [
    ["title \x1b]0;pwned\x07end", "title end"],
    ["link \x1b]8;;https://evil.example/a b\x1b\\click\x1b]8;;\x1b\\ end", "link click end"],
    ["clear\x1b[2J\x1b[1;1H\x1b[31mred\x1b[0m", "clearred"],
    ["8-bit \x9b2J\x9d0;t\x9c csi", "8-bit  csi"],
    ["dcs \x1bP+q544e\x1b\\ end", "dcs  end"],
    ["ok\rFAILED", "okFAILED"],
    ["back\b\b\bspace\x7f", "backspace"],
    ["keypad\x1b= \x1b(Bcharset", "keypad charset"],
    ["bidi \u202euser\u202c \u2066iso\u2069", "bidi user iso"],
    ["unterminated \x1b]0;pwned and the rest", "unterminated "],
    ["tabs\tand\nnewlines, é ⠋ ✓ 日本", "tabs\tand\nnewlines, é ⠋ ✓ 日本"],
  ];
  for (const [input, expected] of cases) {
    assert.equal(stripControls(input), expected, JSON.stringify(input));
  }
});

Deno.test("serverText: redacts a secret before cutting the text, so no part of it survives the cut", () => {
  const secret = `canary-cut-${crypto.randomUUID()}`;
  registerSecret(secret);
  const text = `${"x".repeat(90)} ${b64(`git:${secret}`)} \x1b[2J more`;
  const out = serverText(text, 100);
  assert.ok(out.length <= 101);
  assert.ok(!out.includes("\x1b"));
  assert.ok(!decodable(out, secret), out);
  assert.equal(safeText(`a\x1b]0;t\x07 ${secret}`), "a ***");
});

Deno.test("progress on a terminal: its own escapes are kept, a message's are removed", async () => {
  await loadLiveDisplay();
  const out: string[] = [];
  const p = createProgress({ quiet: false, tty: true, color: true, write: (t) => out.push(t) });
  p.event("dev", "waiting: \x1b]0;pwned\x07not ready\x1b[2J\rok");
  await new Promise((r) => setTimeout(r, 150));
  p.done();
  const drawn = out.join("");
  // The display's own escapes (colour, cursor moves) are drawn; the message's are gone.
  // deno-lint-ignore no-control-regex -- the escape sequences are what is tested
  assert.match(drawn, /\x1b\[36m.\x1b\[0m dev \x1b\[2m +[\d.]+s\x1b\[0m {2}waiting: not readyok\n/);
  // deno-lint-ignore no-control-regex -- the escape sequences are what is tested
  assert.match(drawn, /\x1b\[2K\x1b\[1A/);
  assert.ok(!drawn.includes("pwned") && !drawn.includes("\x07") && !drawn.includes("[2J"));
  const plain: string[] = [];
  createProgress({ quiet: false, tty: false, color: false, write: (t) => plain.push(t) })
    .event("dev", "a\x1b[31mb\rc");
  assert.match(plain[0], / dev: abc\n$/);
});

Deno.test("jsonText: strings lose control characters (a decoded message prints clean), tabs and newlines stay", () => {
  const text = jsonText({ error: "denied\x1b]0;pwned\x07 \x1b[2J!", diff: "-\ta\n+\tb\n" });
  assert.ok(!/\\u00(1b|07)/.test(text), text);
  assert.deepEqual(JSON.parse(text), { error: "denied !", diff: "-\ta\n+\tb\n" });
});
