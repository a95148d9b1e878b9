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
