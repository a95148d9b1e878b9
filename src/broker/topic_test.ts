import assert from "node:assert/strict";
import type { Delivery } from "./commands.ts";
import { body, Log, text } from "./_testing.ts";

function setup(topicOptions: Record<string, unknown> = {}): Log {
  const l = new Log();
  const r = l.apply({ op: "topic_put", topic: "t", options: topicOptions });
  assert.ok(r.ok && r.created);
  return l;
}

function pub(l: Log, t: string, id?: string) {
  return l.apply({
    op: "topic_publish",
    topic: "t",
    message: id === undefined ? { body: body(t) } : { body: body(t), id },
  });
}

function sub(l: Log, name: string, options: Record<string, unknown> = {}) {
  const r = l.apply({ op: "subscription_put", topic: "t", subscription: name, options });
  assert.ok(r.ok, `subscription_put ${name}`);
  return r;
}

function recv(l: Log, name: string, max = 100): Delivery[] {
  const r = l.apply({ op: "subscription_receive", topic: "t", subscription: name, max });
  assert.ok(r.ok);
  return [...r.messages];
}

Deno.test("every subscription gets every message published after its start point", () => {
  const l = setup();
  pub(l, "m1");
  sub(l, "early", { startAt: "earliest" });
  sub(l, "late");
  pub(l, "m2");
  sub(l, "from1", { startAt: { seq: 1 } });
  pub(l, "m3");
  assert.deepEqual(recv(l, "early").map(text), ["m1", "m2", "m3"]);
  assert.deepEqual(recv(l, "late").map(text), ["m2", "m3"]);
  assert.deepEqual(recv(l, "from1").map(text), ["m1", "m2", "m3"]);
});

Deno.test("subscriptions lease and ack independently of each other", () => {
  const l = setup();
  sub(l, "a", { leaseMs: 100 });
  sub(l, "b");
  pub(l, "m");
  const [da] = recv(l, "a");
  const [db] = recv(l, "b");
  const ack = l.apply({
    op: "subscription_ack",
    topic: "t",
    subscription: "b",
    receipts: [db.receipt],
  });
  assert.ok(ack.ok && ack.results[0].status === "acked");
  l.now += 100;
  const again = recv(l, "a");
  assert.equal(again.length, 1);
  assert.equal(again[0].attempt, 2);
  assert.notEqual(again[0].receipt, da.receipt);
  assert.equal(recv(l, "b").length, 0);
  assert.equal(l.broker.subscription("t", "b")!.stats.acked, 1);
});

Deno.test("topic publish dedups ids within the window", () => {
  const l = setup({ dedupWindowMs: 1000 });
  sub(l, "s");
  assert.deepEqual(pub(l, "a", "x"), { ok: true, seq: 1, id: "x", duplicate: false });
  assert.deepEqual(pub(l, "a", "x"), { ok: true, seq: 1, id: "x", duplicate: true });
  assert.equal(recv(l, "s").length, 1);
  l.now += 1000;
  assert.deepEqual(pub(l, "a", "x"), { ok: true, seq: 2, id: "x", duplicate: false });
});

Deno.test("retention by count drops the oldest message from unconsumed subscriptions too", () => {
  const l = setup({ maxMessages: 2 });
  sub(l, "s");
  for (const t of ["1", "2", "3"]) pub(l, t);
  assert.deepEqual(recv(l, "s").map(text), ["2", "3"]);
  assert.equal(l.broker.subscription("t", "s")!.stats.retentionDropped, 1);
  const info = l.broker.topic("t")!;
  assert.equal(info.firstSeq, 2);
  assert.equal(info.messages, 2);
});

Deno.test("retention by age drops old messages at the entry time they expire", () => {
  const l = setup({ maxAgeMs: 1000 });
  sub(l, "s");
  pub(l, "old");
  l.now += 500;
  pub(l, "new");
  l.advance(500);
  assert.deepEqual(l.broker.readTopic("t", 1, 10)!.map(text), ["new"]);
  assert.deepEqual(recv(l, "s").map(text), ["new"]);
});

Deno.test("retention by bytes keeps the log under maxBytes", () => {
  const l = setup({ maxBytes: 10 });
  for (let i = 0; i < 5; i++) pub(l, "abcd");
  const info = l.broker.topic("t")!;
  assert.ok(info.bytes <= 10);
  assert.equal(info.messages, 2);
});

Deno.test("readTopic reads the retained log by seq with a limit", () => {
  const l = setup();
  for (const t of ["a", "b", "c", "d"]) pub(l, t);
  assert.deepEqual(l.broker.readTopic("t", 2, 2)!.map((m) => [m.seq, text(m)]), [
    [2, "b"],
    [3, "c"],
  ]);
  assert.equal(l.broker.readTopic("none", 1, 1), undefined);
});

Deno.test("a subscription's dead-letter queue gets messages past maxDeliveries", () => {
  const l = setup();
  l.queue("dlq");
  sub(l, "s", { maxDeliveries: 1, deadLetterQueue: "dlq" });
  pub(l, "bad");
  const [d] = recv(l, "s");
  l.apply({ op: "subscription_nack", topic: "t", subscription: "s", receipts: [d.receipt] });
  const [dead] = l.receive("dlq");
  assert.equal(text(dead), "bad");
  assert.equal(dead.headers["x-quorumq-origin"], "t/s");
});

Deno.test("subscription commands answer topic_not_found and subscription_not_found", () => {
  const l = setup();
  const a = l.apply({ op: "subscription_receive", topic: "none", subscription: "s", max: 1 });
  assert.equal(!a.ok && a.reason, "topic_not_found");
  const b = l.apply({ op: "subscription_receive", topic: "t", subscription: "none", max: 1 });
  assert.equal(!b.ok && b.reason, "subscription_not_found");
});

Deno.test("deleting a topic removes its subscriptions", () => {
  const l = setup();
  sub(l, "s");
  l.apply({ op: "topic_delete", topic: "t" });
  assert.equal(l.broker.subscription("t", "s"), undefined);
  assert.equal(l.broker.topic("t"), undefined);
});

Deno.test("a subscription starting at a future seq gets messages from that seq on", () => {
  const l = setup();
  pub(l, "1");
  const r = sub(l, "s", { startAt: { seq: 3 } });
  assert.ok(r.ok && "startSeq" in r && r.startSeq === 3);
  for (const t of ["2", "3", "4"]) pub(l, t);
  assert.deepEqual(recv(l, "s").map(text), ["3", "4"]);
});

Deno.test("a message published with delayMs reaches subscriptions after its delay", () => {
  const l = setup();
  sub(l, "s");
  l.apply({ op: "topic_publish", topic: "t", message: { body: body("d"), delayMs: 100 } });
  assert.equal(recv(l, "s").length, 0);
  l.now += 100;
  assert.deepEqual(recv(l, "s").map(text), ["d"]);
});
