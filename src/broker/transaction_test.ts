import assert from "node:assert/strict";
import { body, Log, text } from "./_testing.ts";

function setup(): Log {
  const l = new Log();
  l.queue("in", { leaseMs: 1000 });
  l.queue("out", { maxMessages: 1 });
  l.publish("in", { id: "job" });
  return l;
}

Deno.test("a transaction acks and publishes together", () => {
  const l = setup();
  const [d] = l.receive("in");
  const r = l.apply({
    op: "transaction",
    ack: [{ queue: "in", receipt: d.receipt }],
    publish: [{ queue: "out", body: body("result"), id: "r1" }],
  });
  assert.ok(r.ok);
  assert.equal(r.ack[0].status, "acked");
  assert.deepEqual(r.publish[0], { ok: true, seq: 1, id: "r1", duplicate: false });
  assert.equal(l.broker.messageStatus("in", "job")?.state, "acked");
  assert.deepEqual(l.receive("out").map(text), ["result"]);
});

Deno.test("a transaction with a stale receipt applies nothing and names the item", () => {
  const l = setup();
  const [d] = l.receive("in");
  l.now += 1000;
  const r = l.apply({
    op: "transaction",
    ack: [{ queue: "in", receipt: d.receipt }],
    publish: [{ queue: "out", body: body("result") }],
  });
  assert.ok(!r.ok);
  assert.equal(r.reason, "transaction_aborted");
  assert.deepEqual(r.errors!.map((e) => [e.item, e.reason]), [["ack[0]", "stale"]]);
  assert.equal(l.broker.queue("out")!.stats.published, 0);
});

Deno.test("a transaction whose publish does not fit acks nothing", () => {
  const l = setup();
  const [d] = l.receive("in");
  const r = l.apply({
    op: "transaction",
    ack: [{ queue: "in", receipt: d.receipt }],
    publish: [{ queue: "out", body: body("1") }, { queue: "out", body: body("2") }],
  });
  assert.ok(!r.ok);
  assert.deepEqual(r.errors!.map((e) => [e.item, e.reason]), [["publish[1]", "queue_full"]]);
  assert.equal(l.broker.messageStatus("in", "job")?.state, "leased");
  assert.equal(l.broker.queue("out")!.stats.published, 0);
});

Deno.test("a transaction refuses the same message acked twice", () => {
  const l = setup();
  const [d] = l.receive("in");
  const r = l.apply({
    op: "transaction",
    ack: [{ queue: "in", receipt: d.receipt }, { queue: "in", receipt: d.receipt }],
    publish: [],
  });
  assert.ok(!r.ok);
  assert.deepEqual(r.errors!.map((e) => e.item), ["ack[1]"]);
});

Deno.test("a transaction reports missing queues and topics per item", () => {
  const l = setup();
  const r = l.apply({
    op: "transaction",
    ack: [{ topic: "none", subscription: "s", receipt: "1.1.1" }],
    publish: [{ queue: "none", body: body("x") }, { topic: "none", body: body("x") }],
  });
  assert.ok(!r.ok);
  assert.deepEqual(r.errors!.map((e) => e.reason), [
    "topic_not_found",
    "queue_not_found",
    "topic_not_found",
  ]);
});
