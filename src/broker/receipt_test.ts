/** Receipts: the decoder's scan accepts and reads exactly what the format (and its old parser) does. */
import assert from "node:assert/strict";
import fc from "fast-check";
import { decodeReceipt, encodeReceipt } from "./_channel.ts";

/** The parser as it was (split and a regular expression per part): the reference. */
function reference(receipt: string): { ord: number; seq: number; attempt: number } | undefined {
  if (typeof receipt !== "string" || receipt.length > 64) return undefined;
  const parts = receipt.split(".");
  if (parts.length !== 3 || parts.some((p) => !/^[0-9a-z]{1,12}$/.test(p))) return undefined;
  const [ord, seq, attempt] = parts.map((p) => parseInt(p, 36));
  return { ord, seq, attempt };
}

Deno.test("decodeReceipt reads back what encodeReceipt wrote", () => {
  fc.assert(fc.property(
    fc.nat(),
    fc.maxSafeNat(),
    fc.nat(),
    (ord, seq, attempt) => {
      assert.deepEqual(decodeReceipt(encodeReceipt(ord, seq, attempt)), { ord, seq, attempt });
    },
  ));
});

Deno.test("decodeReceipt agrees with the split-and-regex parser on any string", () => {
  const part = fc.stringMatching(/^[0-9a-z.A-Z_-]{0,14}$/);
  const near = fc.tuple(part, part, part, fc.option(part)).map(([a, b, c, d]) =>
    d === null ? `${a}.${b}.${c}` : `${a}.${b}.${c}.${d}`
  );
  fc.assert(
    fc.property(fc.oneof(near, fc.string({ maxLength: 70 })), (receipt) => {
      assert.deepEqual(decodeReceipt(receipt), reference(receipt));
    }),
    { numRuns: 5000 },
  );
  for (
    const edge of [
      "",
      ".",
      "..",
      "a.b.c",
      "a.b.",
      ".b.c",
      "a..c",
      "a.b.c.",
      "aaaaaaaaaaaa.b.c",
      "aaaaaaaaaaaaa.b.c",
      "a.b.ccccccccccccc",
      "A.b.c",
      "1.2.3 ",
      "1.2.3\n",
      "z".repeat(12) + "." + "z".repeat(12) + "." + "z".repeat(12),
    ]
  ) {
    assert.deepEqual(decodeReceipt(edge), reference(edge), JSON.stringify(edge));
  }
});
