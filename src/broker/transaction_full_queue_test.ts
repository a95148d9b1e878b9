/**
 * A transaction's publishes fit the queue as its acks leave it: the acks are applied first, so a
 * full queue's consumer can ack a message and publish the next step to the same queue
 * (test/sim/FINDINGS.md, 21). Before, the check counted the acked message as still there and
 * refused every such transaction: the queue could never move on.
 */

import assert from "node:assert/strict";
import { body, Log } from "./_testing.ts";

Deno.test("a full queue: ack one and publish one to it in a transaction", () => {
  const l = new Log();
  l.queue("steps", { maxMessages: 1, maxBytes: 4 });
  l.publish("steps", { id: "step-1", text: "four" });
  const [d] = l.receive("steps");
  const r = l.apply({
    op: "transaction",
    ack: [{ queue: "steps", receipt: d.receipt }],
    publish: [{ queue: "steps", body: body("next"), id: "step-2" }],
  });
  assert.ok(r.ok, JSON.stringify(r));
  assert.equal(l.broker.messageStatus("steps", "step-1")?.state, "acked");
  assert.equal(l.broker.queue("steps")?.stats.ready, 1);
});

Deno.test("the room an ack leaves is counted once, and only in its own queue", () => {
  const l = new Log();
  l.queue("steps", { maxMessages: 1 });
  l.queue("other", { maxMessages: 1 });
  l.publish("steps", { id: "a" });
  l.publish("other", { id: "b" });
  const [d] = l.receive("steps");
  const two = l.apply({
    op: "transaction",
    ack: [{ queue: "steps", receipt: d.receipt }],
    publish: [{ queue: "steps", body: body("1") }, { queue: "steps", body: body("2") }],
  });
  assert.ok(!two.ok);
  assert.deepEqual(two.errors!.map((e) => [e.item, e.reason]), [["publish[1]", "queue_full"]]);
  const elsewhere = l.apply({
    op: "transaction",
    ack: [{ queue: "steps", receipt: d.receipt }],
    publish: [{ queue: "other", body: body("1") }],
  });
  assert.ok(!elsewhere.ok);
  assert.deepEqual(elsewhere.errors!.map((e) => [e.item, e.reason]), [[
    "publish[0]",
    "queue_full",
  ]]);
  assert.equal(l.broker.messageStatus("steps", "a")?.state, "leased");
});
