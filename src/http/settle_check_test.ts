import assert from "node:assert/strict";
import fc from "fast-check";
import { plainAck } from "./settle_check.ts";
import { ackSchema } from "./schemas.ts";

/** Receipts near the limits, and values that are not receipts. */
const receipt = fc.oneof(
  fc.constantFrom("1.a.1", "", "x".repeat(512), "x".repeat(513), "é", 0, null, [], {}),
  fc.string({ maxLength: 6 }),
);
const receipts = fc.oneof(
  fc.array(receipt, { maxLength: 4 }),
  fc.array(fc.constantFrom("1.a.1", "2.b.3"), { minLength: 998, maxLength: 1002 }),
  fc.jsonValue({ maxDepth: 1 }),
);
const body = fc.oneof(
  fc.record({ receipts }),
  fc.record({ receipts, x: fc.jsonValue({ maxDepth: 1 }) }, { requiredKeys: ["receipts"] }),
  fc.record({ receipts, delayMs: fc.nat() }, { requiredKeys: [] }),
  fc.jsonValue({ maxDepth: 2 }),
);

Deno.test("plainAck takes only what ackSchema takes, and reads it the same", () => {
  let taken = 0;
  fc.assert(
    fc.property(body, (raw) => {
      // What a request body can be: the JSON of it.
      const json = JSON.parse(JSON.stringify(raw) ?? "null");
      const fast = plainAck(json);
      const zod = ackSchema.safeParse(json);
      if (fast === undefined) return;
      taken++;
      assert.ok(zod.success, JSON.stringify(json));
      assert.deepEqual(fast, zod.data);
    }),
    { numRuns: 4000 },
  );
  assert.ok(taken > 300, `only ${taken} bodies took the plain path`);
});

Deno.test("plainAck: the shapes it takes and those it leaves to zod", () => {
  const of = (n: number) => ({ receipts: Array.from({ length: n }, (_, i) => `1.${i}.1`) });
  assert.deepEqual(plainAck(of(1)), of(1));
  assert.deepEqual(plainAck(of(1000)), of(1000));
  const refused = [
    of(0),
    of(1001),
    { receipts: [""] },
    { receipts: ["x".repeat(513)] },
    { receipts: [1] },
    { receipts: "1.a.1" },
    { receipts: ["1.a.1"], delayMs: 0 },
    JSON.parse('{"__proto__":{"receipts":["1.a.1"]}}'),
    Object.assign(Object.create(null), { receipts: ["1.a.1"] }),
    null,
    ["1.a.1"],
  ];
  for (const json of refused) assert.equal(plainAck(json), undefined, JSON.stringify(json));
});
