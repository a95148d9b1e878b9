import assert from "node:assert/strict";
import fc from "fast-check";
import { plainPublish } from "./publish_check.ts";
import { publishSchema } from "./schemas.ts";

/** JSON values near the common shapes: the fields of a message, good and bad values. */
const value = fc.oneof(
  fc.constantFrom("", "a", "x".repeat(256), "x".repeat(257), 0, 1.5, -1, null, true, [], {}),
  fc.string({ maxLength: 5 }),
  fc.jsonValue({ maxDepth: 2 }),
);
const key = fc.constantFrom("body", "id", "group", "delayMs", "messages", "__proto__", "x");
const message = fc.dictionary(key, value, { maxKeys: 3 });
const body = fc.oneof(
  message,
  fc.record({ messages: fc.array(message, { maxLength: 4 }) }),
  fc.record({ messages: fc.array(message, { maxLength: 4 }), x: value }),
  fc.record({ body: value, id: value }, { requiredKeys: ["body"] }),
  fc.record({
    messages: fc.array(fc.record({ body: value, id: value }, { requiredKeys: [] }), {
      maxLength: 4,
    }),
  }),
  value,
);

Deno.test("plainPublish takes only what publishSchema takes, and reads it the same", () => {
  let taken = 0;
  fc.assert(
    fc.property(body, (raw) => {
      // What a request body can be: the JSON of it.
      const json = JSON.parse(JSON.stringify(raw));
      const fast = plainPublish(json);
      if (fast === undefined) return;
      taken++;
      const zod = publishSchema.safeParse(json);
      assert.ok(zod.success, JSON.stringify(json));
      assert.deepEqual(fast, zod.data);
    }),
    { numRuns: 5000 },
  );
  assert.ok(taken > 500, `only ${taken} bodies took the plain path`);
});

Deno.test("plainPublish: the shapes it takes and those it leaves to zod", () => {
  const batch = (n: number) => ({ messages: Array.from({ length: n }, () => ({ body: 1 })) });
  assert.deepEqual(plainPublish({ body: 1, id: "a" }), { body: 1, id: "a" });
  assert.deepEqual(plainPublish(batch(1)), batch(1));
  assert.deepEqual(plainPublish(batch(1000)), batch(1000));
  for (
    const refused of [
      batch(0),
      batch(1001),
      { body: 1, id: "" },
      { body: 1, id: "x".repeat(257) },
      { body: 1, id: 5 },
      { id: "a" },
      { body: 1, group: "g" },
      { messages: [{ body: 1 }], x: 1 },
      { messages: [{ body: 1 }, [1]] },
      JSON.parse('{"body":1,"__proto__":{}}'),
      [],
      null,
      "body",
    ]
  ) assert.equal(plainPublish(refused), undefined, JSON.stringify(refused));
});
