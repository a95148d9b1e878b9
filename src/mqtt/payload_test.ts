import assert from "node:assert/strict";
import { decodePayload, encodePayload } from "./payload.ts";

const enc = (s: string | Uint8Array) =>
  encodePayload(typeof s === "string" ? new TextEncoder().encode(s) : s);

Deno.test("payloads: canonical JSON as its value, other UTF-8 as text, the rest as base64; each comes back byte for byte", () => {
  const cases: [string | Uint8Array, string][] = [
    ['{"t":21.5}', "json"],
    ["42", "json"],
    ["-1", "json"],
    ["true", "json"],
    ['"s"', "json"],
    ["[1,2]", "json"],
    ["null", "json"],
    ["21.50", "text"], // JSON, but not canonical
    ["12abc", "text"],
    ["nope", "text"],
    ["xxxx", "text"],
    ["", "text"],
    ['{ "a": 1 }', "text"],
    [new Uint8Array([0xff, 0x00]), "base64"],
  ];
  for (const [input, kind] of cases) {
    const e = enc(input);
    assert.equal(e.kind, kind, String(input));
    const bytes = typeof input === "string" ? new TextEncoder().encode(input) : input;
    assert.deepEqual(new Uint8Array(decodePayload(e.body, e.kind)), bytes, String(input));
  }
});

Deno.test("payloads: a payload inside a larger buffer is read alone, ASCII or not", () => {
  const whole = new TextEncoder().encode('[{"a":1}]héllo wörld\u00ff\xff');
  const view = (from: number, to: number) => whole.subarray(from, to);
  assert.deepEqual(encodePayload(view(1, 8)), { body: { a: 1 }, kind: "json" });
  assert.deepEqual(encodePayload(view(9, 10)), { body: "h", kind: "text" });
  assert.deepEqual(encodePayload(view(9, 15)), { body: "héllo", kind: "text" });
  assert.deepEqual(encodePayload(view(10, 11)).kind, "base64"); // half of "é"
  const ascii = new TextEncoder().encode('ab{"b":2}cd');
  assert.deepEqual(encodePayload(ascii.subarray(2, 9)), { body: { b: 2 }, kind: "json" });
  assert.deepEqual(encodePayload(ascii.subarray(9, 11)), { body: "cd", kind: "text" });
  for (const [from, to] of [[0, whole.length], [9, 22], [16, 19]]) {
    const e = encodePayload(view(from, to));
    assert.deepEqual(new Uint8Array(decodePayload(e.body, e.kind)), view(from, to));
  }
});
