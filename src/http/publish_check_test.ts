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
const key = fc.constantFrom(
  "body",
  "id",
  "subject",
  "headers",
  "group",
  "delayMs",
  "messages",
  "__proto__",
  "x",
);
/** Header records: good ones, long names and values, values that are not strings. */
const headerName = fc.oneof(
  fc.constantFrom(
    "mqtt-qos",
    "",
    "x".repeat(256),
    "x".repeat(257),
    "__proto__",
    "constructor",
    "1",
  ),
  fc.string({ maxLength: 4 }),
);
const headerValue = fc.oneof(
  fc.constantFrom("", "1", "x".repeat(8192), "x".repeat(8193)),
  fc.string({ maxLength: 4 }),
  value,
);
const headers = fc.dictionary(headerName, headerValue, { maxKeys: 3 });
const subject = fc.oneof(
  fc.constantFrom(
    "a.b",
    "mqtt.x",
    "a.*",
    "a.>",
    "",
    "a..b",
    ".a",
    "x".repeat(255),
    "x".repeat(256),
  ),
  fc.string({ maxLength: 6 }),
);
/** The gateway's messages with good values more often: subjects and headers near the limits. */
const nearlyGood = fc.record({
  body: value,
  subject: fc.oneof(subject, fc.constantFrom("a.b", "mqtt.x-y.z")),
  headers: fc.dictionary(headerName, fc.oneof(fc.string({ maxLength: 4 }), headerValue), {
    maxKeys: 3,
  }),
}, { requiredKeys: ["body"] });
/** A message of the MQTT gateway's shape, sometimes spoiled by one more field. */
const mqttMessage = fc.record(
  { body: value, subject: fc.oneof(subject, value), headers: fc.oneof(headers, value), x: value },
  { requiredKeys: ["body"] },
);
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
  mqttMessage,
  fc.record({ messages: fc.array(mqttMessage, { maxLength: 4 }) }),
  fc.record({ messages: fc.array(nearlyGood, { maxLength: 3 }) }),
  value,
);

Deno.test("plainPublish takes only what publishSchema takes, and reads it the same", () => {
  let taken = 0;
  let withMqttFields = 0;
  fc.assert(
    fc.property(body, (raw) => {
      // What a request body can be: the JSON of it.
      const json = JSON.parse(JSON.stringify(raw));
      const fast = plainPublish(json);
      if (fast === undefined) return;
      taken++;
      if (/"(subject|headers)"/.test(JSON.stringify(json))) withMqttFields++;
      const zod = publishSchema.safeParse(json);
      assert.ok(zod.success, JSON.stringify(json));
      assert.deepEqual(fast, zod.data);
    }),
    { numRuns: 8000 },
  );
  assert.ok(taken > 500, `only ${taken} bodies took the plain path`);
  assert.ok(withMqttFields > 100, `only ${withMqttFields} with a subject or headers`);
});

Deno.test("plainPublish: the shapes it takes and those it leaves to zod", () => {
  const batch = (n: number) => ({ messages: Array.from({ length: n }, () => ({ body: 1 })) });
  assert.deepEqual(plainPublish({ body: 1, id: "a" }), { body: 1, id: "a" });
  assert.deepEqual(plainPublish(batch(1)), batch(1));
  assert.deepEqual(plainPublish(batch(1000)), batch(1000));
  const mqtt = {
    subject: "mqtt.a",
    body: "aGk=",
    headers: { "mqtt-payload": "b64", "mqtt-qos": "1" },
  };
  assert.deepEqual(plainPublish({ messages: [mqtt, mqtt] }), { messages: [mqtt, mqtt] });
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
      { body: 1, subject: "a.*" },
      { body: 1, subject: 5 },
      { body: 1, headers: { a: 1 } },
      { body: 1, headers: { a: "x".repeat(8193) } },
      { body: 1, headers: ["a"] },
      JSON.parse('{"body":1,"headers":{"__proto__":"x"}}'),
      [],
      null,
      "body",
    ]
  ) assert.equal(plainPublish(refused), undefined, JSON.stringify(refused));
});
