/**
 * The client's msgpack codec gives back every string it packed, at every size where msgpack's
 * string header changes (fixstr/str8/str16/str32) and where the reader's paths change (one
 * character, the interned table's 24 bytes), whatever the first character: a string led by
 * U+FEFF (a byte-order mark) is data, as msgpackr's native reader keeps it.
 *
 * @module
 */

import assert from "node:assert/strict";
import { packValue, unpackValue } from "./msgpack.ts";

const SIZES = [0, 1, 2, 23, 24, 25, 31, 32, 33, 63, 64, 65, 255, 256, 65535, 65536];

Deno.test("msgpack: strings at every header boundary, led by ASCII, U+FEFF, e-acute or a pair", () => {
  for (const lead of ["", "a", "\uFEFF", "\u00e9", "\u{1F600}", "\u0000"]) {
    for (const bytes of SIZES) {
      const leadBytes = new TextEncoder().encode(lead).length;
      if (bytes < leadBytes) continue;
      const s = lead + "x".repeat(bytes - leadBytes);
      const back = unpackValue(packValue({ s, list: [s] })) as { s: string; list: string[] };
      assert.ok(back.s === s, `${JSON.stringify(lead)} ${bytes} bytes`);
      assert.ok(back.list[0] === s, `${JSON.stringify(lead)} ${bytes} bytes, in an array`);
    }
  }
});
