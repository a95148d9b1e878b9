/**
 * Transactions with retained topic publishes: a `retain: "set"` that would pass the topic's
 * caps is refused by the transaction's check, nothing applied, never found at apply (where it
 * threw on every replica after the acks were applied: test/sim/FINDINGS.md, 15).
 */

import assert from "node:assert/strict";
import { body, Log } from "./_testing.ts";

function setup(maxRetained: number): { l: Log; receipt: string } {
  const l = new Log();
  l.queue("in", { leaseMs: 1000 });
  l.publish("in", { id: "job" });
  const t = l.apply({ op: "topic_put", topic: "t", options: { maxRetained } });
  assert.ok(t.ok);
  const [d] = l.receive("in");
  return { l, receipt: d.receipt };
}

Deno.test("two retained sets past maxRetained abort the transaction; the ack stays undone", () => {
  const { l, receipt } = setup(1);
  const r = l.apply({
    op: "transaction",
    ack: [{ queue: "in", receipt }],
    publish: [
      { topic: "t", subject: "a", retain: "set", body: body("1") },
      { topic: "t", subject: "b", retain: "set", body: body("2") },
    ],
  });
  assert.ok(!r.ok);
  assert.equal(r.reason, "transaction_aborted");
  assert.deepEqual(r.errors!.map((e) => [e.item, e.reason]), [["publish[1]", "retained_full"]]);
  assert.equal(l.broker.messageStatus("in", "job")?.state, "leased");
  assert.equal(l.broker.topic("t")?.published, 0);
});

Deno.test("a retained set past a cap the topic already holds aborts the transaction", () => {
  const { l, receipt } = setup(1);
  const held = l.apply({
    op: "topic_publish",
    topic: "t",
    message: { subject: "a", retain: "set", body: body("0") },
  });
  assert.ok(held.ok);
  const r = l.apply({
    op: "transaction",
    ack: [{ queue: "in", receipt }],
    publish: [{ topic: "t", subject: "b", retain: "set", body: body("1") }],
  });
  assert.ok(!r.ok);
  assert.deepEqual(r.errors!.map((e) => [e.item, e.reason]), [["publish[0]", "retained_full"]]);
  assert.equal(l.broker.messageStatus("in", "job")?.state, "leased");
});

Deno.test("what fits goes through: a clear makes room, a replaced subject, a duplicate id", () => {
  const { l, receipt } = setup(1);
  const first = l.apply({
    op: "topic_publish",
    topic: "t",
    message: { subject: "a", retain: "set", body: body("0"), id: "x" },
  });
  assert.ok(first.ok);
  const r = l.apply({
    op: "transaction",
    ack: [{ queue: "in", receipt }],
    publish: [
      { topic: "t", subject: "a", retain: "set", body: body("1") }, // replaces a's
      { topic: "t", subject: "b", retain: "set", body: body("2"), id: "x" }, // a duplicate
      { topic: "t", subject: "a", retain: "clear", body: body("3") },
      { topic: "t", subject: "b", retain: "set", body: body("4") }, // the room a left
    ],
  });
  assert.ok(r.ok, JSON.stringify(r));
  assert.deepEqual(r.publish.map((p) => p.ok && p.duplicate), [false, true, false, false]);
  assert.equal(l.broker.messageStatus("in", "job")?.state, "acked");
});
