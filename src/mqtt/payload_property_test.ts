/**
 * Every MQTT payload comes back byte for byte (`encodePayload` then `decodePayload`), whatever
 * its bytes: arbitrary bytes, any UTF-8 text (a byte-order mark in front too), and JSON.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import fc from "fast-check";
import { decodePayload, encodePayload } from "./payload.ts";

const encoder = new TextEncoder();

function roundTrip(bytes: Uint8Array): Uint8Array {
  const e = encodePayload(bytes);
  // The body is stored as its JSON text and read back (what a subscriber's delivery holds).
  const stored = JSON.parse(JSON.stringify(e.body));
  return new Uint8Array(decodePayload(stored, e.kind));
}

Deno.test("payloads: a payload that starts with a UTF-8 byte-order mark keeps it", () => {
  for (const text of ["\uFEFFhi", "\uFEFF", "\uFEFF\uFEFFx", '\uFEFF{"a":1}', "\uFEFF\u00e9"]) {
    const bytes = encoder.encode(text);
    assert.deepEqual(roundTrip(bytes), bytes, JSON.stringify(text));
  }
});

Deno.test("payloads: any bytes, any text, any JSON come back byte for byte (property)", () => {
  const payload = fc.oneof(
    fc.uint8Array({ maxLength: 200 }),
    fc.string({ unit: "binary", maxLength: 80 }).map((s) => encoder.encode(s)),
    fc.string({ unit: "binary", maxLength: 40 }).map((s) => encoder.encode("\uFEFF" + s)),
    fc.jsonValue({ maxDepth: 3 }).map((v) => encoder.encode(JSON.stringify(v) ?? "null")),
  );
  fc.assert(
    fc.property(payload, (bytes) => {
      assert.deepEqual(roundTrip(bytes), bytes);
    }),
    { numRuns: 2000 },
  );
});

Deno.test("payloads: a payload that is a view of a larger Buffer (a read's) reads as its own bytes (property)", () => {
  const payload = fc.oneof(
    fc.uint8Array({ maxLength: 200 }),
    fc.string({ unit: "binary", maxLength: 80 }).map((s) => encoder.encode(s)),
    fc.jsonValue({ maxDepth: 3 }).map((v) => encoder.encode(JSON.stringify(v) ?? "null")),
  );
  const around = fc.uint8Array({ maxLength: 20 });
  fc.assert(
    fc.property(payload, around, around, (bytes, before, after) => {
      const read = Buffer.concat([before, bytes, after]);
      const view = read.subarray(before.length, before.length + bytes.length);
      assert.deepEqual(encodePayload(view), encodePayload(new Uint8Array(bytes)));
    }),
    { numRuns: 1000 },
  );
});
