import assert from "node:assert/strict";
import { crc32c } from "./crc32c.ts";

Deno.test("crc32c() matches the standard check value for '123456789'", () => {
  assert.equal(crc32c(new TextEncoder().encode("123456789")), 0xe3069283);
});

Deno.test("crc32c() of 32 zero bytes matches RFC 3720 B.4", () => {
  assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa);
});

Deno.test("crc32c() continues across split buffers and agrees with the bytewise definition", () => {
  const bytes = Uint8Array.from({ length: 1000 }, (_, i) => (i * 131 + 7) & 0xff);
  for (const cut of [0, 1, 7, 8, 9, 500, 999, 1000]) {
    const split = crc32c(bytes, crc32c(bytes, 0, 0, cut), cut, bytes.length);
    assert.equal(split, crc32c(bytes), `cut at ${cut}`);
  }
  let c = ~0 >>> 0;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  assert.equal(crc32c(bytes), ~c >>> 0);
});

Deno.test("crc32c() over views at every alignment and length agrees with the bytewise definition", () => {
  const buf = Uint8Array.from({ length: 600 }, (_, i) => (i * 89 + 13) & 0xff);
  const bytewise = (b: Uint8Array) => {
    let c = ~0 >>> 0;
    for (const x of b) {
      c ^= x;
      for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    }
    return ~c >>> 0;
  };
  for (let off = 0; off < 8; off++) {
    for (const len of [0, 1, 63, 64, 65, 71, 72, 200, 591]) {
      const view = buf.subarray(off, off + len);
      assert.equal(crc32c(view), bytewise(view), `offset ${off}, length ${len}`);
      // A range inside a view, as the snapshot store checksums its chunks.
      assert.equal(crc32c(view, 0, 1, len), bytewise(view.subarray(1, len)), `range ${off}/${len}`);
    }
  }
});
