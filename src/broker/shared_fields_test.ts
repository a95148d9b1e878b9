import assert from "node:assert/strict";
import { body, Log } from "./_testing.ts";

// Stored messages share their headers (and optional fields) with equal ones: each message still
// reads back its own values, a publisher's object is never kept, and nothing stored can change.

function topicWithSubscription(): Log {
  const l = new Log();
  assert.ok(l.apply({ op: "topic_put", topic: "t", options: {} }).ok);
  const r = l.apply({
    op: "subscription_put",
    topic: "t",
    subscription: "s",
    options: { startAt: "earliest" },
  });
  assert.ok(r.ok);
  return l;
}

Deno.test("messages with equal headers each read back their own headers, in their order", () => {
  const l = topicWithSubscription();
  const input: Record<string, string>[] = [
    { "mqtt-payload": "utf8", "mqtt-qos": "1" },
    { "mqtt-payload": "utf8", "mqtt-qos": "1" },
    { "mqtt-qos": "1", "mqtt-payload": "utf8" },
    { "mqtt-payload": "utf8", "mqtt-qos": "0" },
    {},
    { "mqtt-payload": "utf8", "mqtt-qos": "1" },
  ];
  const r = l.apply({
    op: "topic_publish_batch",
    topic: "t",
    messages: input.map((headers, i) => ({ body: body(`m${i}`), subject: "a.b", headers })),
  });
  assert.ok(r.ok);
  const read = l.broker.readTopic("t", 1, 10)!;
  // A message without headers reads back as `{}` (or none).
  const expected = input;
  assert.deepEqual(read.map((m) => m.headers ?? {}), expected);
  assert.deepEqual(read.map((m) => Object.keys(m.headers ?? {})), [
    ["mqtt-payload", "mqtt-qos"],
    ["mqtt-payload", "mqtt-qos"],
    ["mqtt-qos", "mqtt-payload"],
    ["mqtt-payload", "mqtt-qos"],
    [],
    ["mqtt-payload", "mqtt-qos"],
  ]);
  const got = l.apply({ op: "subscription_receive", topic: "t", subscription: "s", max: 10 });
  assert.ok(got.ok);
  assert.deepEqual(got.messages.map((d) => d.headers ?? {}), expected);
  assert.deepEqual(got.messages.map((d) => d.subject), input.map(() => "a.b"));
});

Deno.test("stored headers are not the publisher's object and cannot be changed", () => {
  const l = new Log();
  l.queue("q");
  const headers: Record<string, string> = { h: "v" };
  for (let i = 0; i < 3; i++) {
    const r = l.apply({ op: "publish", queue: "q", message: { body: body("x"), headers } });
    assert.ok(r.ok);
  }
  headers.h = "changed";
  headers.extra = "added";
  const peeked = l.broker.peekQueue("q", 1, 10)!;
  assert.deepEqual(peeked.map((m) => m.headers), [{ h: "v" }, { h: "v" }, { h: "v" }]);
  assert.throws(() => {
    (peeked[0].headers as Record<string, string>).h = "again";
  }, TypeError);
  assert.deepEqual(l.broker.peekQueue("q", 1, 1)![0].headers, { h: "v" });
});
