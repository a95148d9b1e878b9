import assert from "node:assert/strict";
import { Packr } from "msgpackr";
import { longStringLedByBom } from "./long_bom_string.ts";

const packr = new Packr({ useRecords: false });
const find = (v: unknown) => {
  const b = packr.pack(v);
  return longStringLedByBom(b, 0, b.length);
};

Deno.test("long_bom_string: finds a string over 64 bytes led by U+FEFF behind a str8, str16 or str32 header", () => {
  for (const n of [62, 200, 300, 70_000]) {
    const s = "\uFEFF" + "x".repeat(n); // 3 + n bytes
    assert.ok(find({ a: 1, s }) > 0, `${n + 3} bytes`);
    assert.equal(find({ s: "y" + s }), -1, "U+FEFF not first");
  }
  assert.equal(find({ s: "\uFEFF" + "x".repeat(61) }), -1, "64 bytes: msgpackr keeps it");
  assert.equal(find({ s: "x".repeat(100) }), -1);
  assert.equal(find(new Uint8Array([0xd9, 70, 0xef, 0xbb])), -1, "cut short");
});
