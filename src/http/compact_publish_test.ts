import assert from "node:assert/strict";
import fc from "fast-check";
import { COMPACT_MAX_BYTES, compactPublish } from "./compact_publish.ts";
import { call, localApp } from "./testing/call.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * `compactPublish` of `text` agrees with `JSON.parse`: when it reads the text, its value is the
 * parse's (keys in the same order) and its body text is `JSON.stringify` of the body. True when
 * it read it.
 */
function agrees(text: string): boolean {
  const bytes = encoder.encode(text);
  const compact = compactPublish(bytes);
  if (compact === undefined) return false;
  const parsed = JSON.parse(text);
  assert.deepEqual(compact.json, parsed, text);
  assert.deepEqual(Object.keys(compact.json), Object.keys(parsed), text);
  assert.equal(decoder.decode(compact.bodyText), JSON.stringify(parsed.body), text);
  return true;
}

/** Strings near the scan's edges: quotes, backslashes, controls, non-ASCII, the id limit. */
const str = fc.oneof(
  fc.constantFrom("", "a", "x".repeat(257), "\u007f", "~", " ", "é", "\ud800", "😀", "\\", '"'),
  fc.string({ maxLength: 8 }),
  fc.string({ maxLength: 8, unit: "binary" }),
);
const printable = fc.string({
  unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
  maxLength: 16,
});
const space = fc.oneof(
  { weight: 6, arbitrary: fc.constant("") },
  { weight: 1, arbitrary: fc.constantFrom(" ", "\n", "\t", "\u00a0") },
);
const token = fc.oneof(
  { weight: 5, arbitrary: fc.oneof(printable, str).map((s) => JSON.stringify(s)) },
  {
    weight: 1,
    arbitrary: fc.constantFrom('"\\u0041"', '"a\\/b"', "1", "null", "{}", "[]", '"x', "'a'"),
  },
);
const key = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('"body"', '"id"') },
  { weight: 1, arbitrary: fc.constantFrom('"subject"', '"bod\\u0079"', '"Body"', "body", '"i"') },
);
/** Objects of 0-3 fields, spaced now and then, with a stray character at either end. */
const anyText = fc.tuple(
  fc.array(fc.tuple(space, key, space, token, space), { maxLength: 3 }),
  fc.constantFrom("", "", "", " ", ",", "x"),
  fc.constantFrom("", "", "", " ", "\n"),
).map(([fields, tail, head]) =>
  `${head}{${fields.map(([a, k, b, v, c]) => `${a}${k}:${b}${v}${c}`).join(",")}${tail}}`
);

Deno.test("compactPublish: whatever it reads, it reads as JSON.parse does", () => {
  fc.assert(
    fc.property(anyText, (text) => {
      try {
        JSON.parse(text);
      } catch {
        assert.equal(compactPublish(encoder.encode(text)), undefined, text);
        return;
      }
      agrees(text);
    }),
    { numRuns: 20_000 },
  );
});

Deno.test("compactPublish: reads what JSON.stringify writes of printable strings", () => {
  fc.assert(
    fc.property(fc.option(printable), printable, fc.boolean(), (id, body, idFirst) => {
      const value = id === null ? { body } : idFirst ? { id, body } : { body, id };
      const text = JSON.stringify(value);
      const plain = !/["\\]/.test(body) && (id === null || !/["\\]/.test(id));
      assert.equal(agrees(text), plain && text.length <= COMPACT_MAX_BYTES, text);
    }),
    { numRuns: 5_000 },
  );
});

Deno.test("compactPublish: leaves every other text to JSON.parse", () => {
  for (
    const text of [
      '{"body":"a","body":"b"}',
      '{"id":"a","id":"b"}',
      '{"id":"a"}',
      "{}",
      '{ "body":"a"}',
      '{"body":"a" }',
      '{"body":"a",}',
      '{"body":1}',
      '{"body":"\\u0041"}',
      '{"body":"é"}',
      '{"body":"a","subject":"s"}',
      '{"body":"a"}x',
      '{"body":"a',
      '{"bodyx":"a"}',
      `{"body":"${"a".repeat(COMPACT_MAX_BYTES)}"}`,
    ]
  ) assert.equal(compactPublish(encoder.encode(text)), undefined, text);
  assert.ok(agrees('{"body":""}'));
  assert.ok(agrees('{"id":"","body":"a"}'));
});

Deno.test("a compact single publish stores its body and answers as any other", async () => {
  const { app } = localApp();
  assert.equal((await call(app, "PUT", "/v1/queues/q", {})).status, 201);
  const compact = await call(app, "POST", "/v1/queues/q/messages", '{"id":"m1","body":"hi"}');
  const spaced = await call(app, "POST", "/v1/queues/q/messages", '{ "id": "m2", "body": "hi" }');
  assert.equal(compact.status, 201);
  assert.equal(spaced.status, 201);
  assert.deepEqual(Object.keys(compact.body), Object.keys(spaced.body));
  assert.equal(compact.body.id, "m1");
  const again = await call(app, "POST", "/v1/queues/q/messages", '{"body":"hi","id":"m1"}');
  assert.equal(again.status, 200);
  assert.equal(again.body.duplicate, true);
  // An id too long is zod's problem, as before.
  const long = await call(
    app,
    "POST",
    "/v1/queues/q/messages",
    `{"id":"${"x".repeat(257)}","body":"a"}`,
  );
  assert.equal(long.status, 400);
  const got = await call(app, "POST", "/v1/queues/q/receive", { max: 10 });
  assert.deepEqual(got.body.messages.map((m: { body: unknown }) => m.body), ["hi", "hi"]);
});
