/**
 * `skipValue` (`_msgpack_skip.ts`): it finds the end of one msgpack value of every type byte
 * msgpackr writes, and -1 for bytes that do not hold one (cut short, 0xc1, nested too deep).
 */

import assert from "node:assert/strict";
import { FLOAT32_OPTIONS, Packr } from "msgpackr";
import { skipValue } from "./_msgpack_skip.ts";

const plain = new Packr({ useRecords: false, moreTypes: false });
const float32 = new Packr({ useRecords: false, useFloat32: FLOAT32_OPTIONS.ALWAYS });
const typed = new Packr({ useRecords: false, moreTypes: true });
const sized = new Packr({ useRecords: false, variableMapSize: true });

const big = 70_000;
const values: [string, Uint8Array][] = [
  ["fixint, nil, booleans", plain.pack([0, 127, -1, -32, null, true, false, undefined])],
  ["ints 8 to 64", plain.pack([200, -100, 60_000, -30_000, 2 ** 31, -(2 ** 31), 2n ** 62n])],
  ["uint64", plain.pack(2n ** 63n + 5n)],
  ["float32 and float64", float32.pack([1.5, 0.1])],
  ["dates: fixext 4, fixext 8, ext 8", plain.pack([new Date(0), new Date(1.5), new Date(-1e15)])],
  ["strings: fix, 8, 16, 32", plain.pack(["a", "b".repeat(40), "c".repeat(300), "d".repeat(big)])],
  ["bin 8, 16, 32", plain.pack([new Uint8Array(10), new Uint8Array(300), new Uint8Array(big)])],
  ["ext 16 and 32", typed.pack([new Int16Array(200), new Int16Array(big)])],
  ["array 16 and 32", plain.pack([new Array(20).fill(1), new Array(big).fill(2)])],
  [
    "fixmap, map 16 and 32",
    sized.pack([
      { a: 1 },
      Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, i])),
      Object.fromEntries(Array.from({ length: big }, (_, i) => [`k${i}`, i])),
    ]),
  ],
];

Deno.test("skipValue finds the end of every kind of msgpack value, and -1 when it is cut short", () => {
  for (const [name, packed] of values) {
    const bytes = new Uint8Array(packed.length + 2); // a value before it (true) and after (nil)
    bytes.set(packed, 1);
    bytes[0] = 0xc3;
    bytes[bytes.length - 1] = 0xc0;
    assert.equal(skipValue(bytes, 1, bytes.length, 8), 1 + packed.length, name);
    const cut = bytes.subarray(0, 1 + packed.length);
    for (const end of [cut.length - 1, 2, Math.floor(cut.length / 2)]) {
      if (end > 1) assert.equal(skipValue(cut, 1, end, 8), -1, `${name} cut at ${end}`);
    }
  }
});

Deno.test("skipValue refuses the never-used byte 0xc1 and nesting deeper than it is allowed", () => {
  assert.equal(skipValue(Uint8Array.of(0x91, 0xc1), 0, 2, 8), -1);
  const deep = Uint8Array.of(...new Array(10).fill(0x91), 0xc0);
  assert.equal(skipValue(deep, 0, deep.length, 10), deep.length);
  assert.equal(skipValue(deep, 0, deep.length, 9), -1);
});
