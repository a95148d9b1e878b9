/**
 * A topic publish whose body alone passes the topic's `maxBytes`, or whose delay reaches its
 * `maxAgeMs`, is refused, never answered with a seq and then dropped by retention before any
 * subscription could have it (test/sim/FINDINGS.md, 19).
 */

import assert from "node:assert/strict";
import { body, Log } from "./_testing.ts";

function setup(): Log {
  const l = new Log();
  assert.ok(l.apply({ op: "topic_put", topic: "t", options: { maxBytes: 10 } }).ok);
  assert.ok(l.apply({ op: "subscription_put", topic: "t", subscription: "s", options: {} }).ok);
  return l;
}

Deno.test("a message larger than the topic's maxBytes is refused, and its id stays free", () => {
  const l = setup();
  const big = l.apply({
    op: "topic_publish",
    topic: "t",
    message: { body: body("x".repeat(11)), id: "big" },
  });
  assert.ok(!big.ok);
  assert.equal(big.reason, "invalid_request");
  assert.match(big.detail, /maxBytes/);
  assert.equal(l.broker.topic("t")?.published, 0);
  // At the bound it is kept and delivered; the refused id was not taken.
  const fits = l.apply({
    op: "topic_publish",
    topic: "t",
    message: { body: body("x".repeat(10)), id: "big" },
  });
  assert.deepEqual(fits, { ok: true, seq: 1, id: "big", duplicate: false });
  const got = l.apply({ op: "subscription_receive", topic: "t", subscription: "s", max: 10 });
  assert.ok(got.ok);
  assert.deepEqual(got.messages.map((m) => m.id), ["big"]);
});

Deno.test("in a batch the large one is refused alone; in a transaction, nothing is applied", () => {
  const l = setup();
  const batch = l.apply({
    op: "topic_publish_batch",
    topic: "t",
    messages: [{ body: body("a") }, { body: body("x".repeat(11)) }, { body: body("b") }],
  });
  assert.ok(batch.ok);
  assert.deepEqual(batch.results.map((r) => r.ok), [true, false, true]);
  l.queue("in", { leaseMs: 1000 });
  l.publish("in", { id: "job" });
  const [d] = l.receive("in");
  const tx = l.apply({
    op: "transaction",
    ack: [{ queue: "in", receipt: d.receipt }],
    publish: [{ topic: "t", body: body("x".repeat(11)) }],
  });
  assert.ok(!tx.ok);
  assert.deepEqual(tx.errors!.map((e) => [e.item, e.reason]), [["publish[0]", "invalid_request"]]);
  assert.equal(l.broker.messageStatus("in", "job")?.state, "leased");
});

Deno.test("a delay of the topic's maxAgeMs or more is refused; a shorter one is delivered", () => {
  const l = new Log();
  assert.ok(l.apply({ op: "topic_put", topic: "t", options: { maxAgeMs: 1000 } }).ok);
  assert.ok(l.apply({ op: "subscription_put", topic: "t", subscription: "s", options: {} }).ok);
  const late = l.apply({
    op: "topic_publish",
    topic: "t",
    message: { body: body("late"), delayMs: 1000 },
  });
  assert.ok(!late.ok);
  assert.match(late.detail, /maxAgeMs/);
  const soon = l.apply({
    op: "topic_publish",
    topic: "t",
    message: { body: body("soon"), delayMs: 999 },
  });
  assert.ok(soon.ok);
  l.advance(999);
  const got = l.apply({ op: "subscription_receive", topic: "t", subscription: "s", max: 10 });
  assert.ok(got.ok);
  assert.equal(got.messages.length, 1);
});
