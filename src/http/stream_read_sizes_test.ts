/**
 * The stream's hand reader (`stream_read.ts`) gives back the strings a client packed, at every
 * size where msgpack's string and map headers change (fixstr/str8/str16/str32, fixmap/map16) and
 * where the reader's own paths change (64 bytes: the interned table or `TextDecoder`), whatever
 * the first character: a string led by U+FEFF (a byte-order mark) is the client's data (a body
 * string sent over HTTP keeps it; msgpackr with its native string extractor keeps it too).
 *
 * @module
 */

import assert from "node:assert/strict";
import { packValue } from "../client/mod.ts";
import { NOT_READ, readStreamMessage } from "./stream_read.ts";
import { decodeStreamMessage } from "./stream_frames.ts";

/** Lengths (UTF-8 bytes) around each boundary. */
const SIZES = [0, 1, 15, 16, 30, 31, 32, 33, 63, 64, 65, 66, 100, 254, 255, 256, 257, 65535, 65536];

/** A string of exactly `bytes` UTF-8 bytes, led by `lead` (ASCII filler after it). */
function sized(lead: string, bytes: number): string | undefined {
  const leadBytes = new TextEncoder().encode(lead).length;
  if (bytes < leadBytes) return undefined;
  return lead + "x".repeat(bytes - leadBytes);
}

Deno.test("stream reader: strings at every header boundary, led by ASCII, U+FEFF, é or a pair, read as packed", () => {
  for (const lead of ["", "a", "\uFEFF", "\u00e9", "\u{1F600}", "\u0000"]) {
    for (const bytes of SIZES) {
      const s = sized(lead, bytes);
      if (s === undefined) continue;
      const frame = { t: "req", i: 1, m: "POST", p: "/v1/queues/q/messages", b: { body: s } };
      const packed = packValue(frame, 1);
      const read = readStreamMessage(packed, 1);
      // Left to msgpackr (a short non-ASCII string) is allowed; a value read must be the one sent.
      if (read === NOT_READ) continue;
      const body = (read as { b: { body: string } }).b.body;
      assert.equal(body.length, s.length, `${JSON.stringify(lead)} ${bytes} bytes: length`);
      assert.ok(body === s, `${JSON.stringify(lead)} ${bytes} bytes: not the string sent`);
    }
  }
});

Deno.test("stream reader: a publish whose body starts with U+FEFF keeps it (frame decode)", () => {
  const body = "\uFEFF" + "payment 1234 ".repeat(8);
  const frame = { t: "req", i: 7, m: "POST", p: "/v1/queues/q/messages", b: { id: "m1", body } };
  const [decoded] = decodeStreamMessage(packValue(frame, 1));
  assert.ok("frame" in decoded, JSON.stringify(decoded));
  const got = (decoded.frame as unknown as { b: { body: string } }).b.body;
  assert.equal(got.charCodeAt(0), 0xfeff);
  assert.equal(got, body);
  // A text led by U+FEFF is kept as sent too, at any length (the body check then judges it).
  const j = "\uFEFF" + JSON.stringify({ id: "m2", body: "x".repeat(80) });
  const [text] = decodeStreamMessage(
    packValue({ t: "req", i: 8, m: "POST", p: "/v1/queues/q/messages", j }, 1),
  );
  assert.ok("frame" in text, JSON.stringify(text));
  assert.equal((text.frame as unknown as { j: string }).j, j);
});

Deno.test("stream reader: maps of 15, 16, 17 and 65535 keys read as packed", () => {
  for (const n of [0, 1, 15, 16, 17, 255, 256, 65535]) {
    const h: Record<string, string> = {};
    for (let k = 0; k < n; k++) h[`k${k}`] = `v${k}`;
    const frame = { t: "req", i: 1, m: "GET", p: "/v1/queues", h };
    const read = readStreamMessage(packValue(frame, 1), 1);
    assert.notEqual(read, NOT_READ, `${n} keys`);
    assert.deepEqual(read, frame, `${n} keys`);
    assert.deepEqual(Object.keys((read as { h: object }).h), Object.keys(h), `${n} keys: order`);
  }
});
