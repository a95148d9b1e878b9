/**
 * Interest retention (`retention: "interest"`): a topic keeps a message only while a subscription
 * it was routed to still holds it, in memory and in snapshots.
 */
import assert from "node:assert/strict";
import type { Delivery, TopicInfo } from "./commands.ts";
import { body, Log, text } from "./_testing.ts";
import { restoreSnapshot, snapshotBytes } from "./snapshot.ts";

const BODY = "x".repeat(256);

function setup(topicOptions: Record<string, unknown> = { retention: "interest" }): Log {
  const l = new Log();
  const r = l.apply({ op: "topic_put", topic: "t", options: topicOptions });
  assert.ok(r.ok && r.created, JSON.stringify(r));
  return l;
}

/** A batch as the MQTT gateway publishes it: subjects and its two headers. */
function publishMqtt(l: Log, n: number, subject = (i: number) => `sensors.${i % 8}.temp`): void {
  for (let done = 0; done < n;) {
    const k = Math.min(64, n - done);
    const messages = Array.from({ length: k }, (_, i) => ({
      body: body(BODY),
      subject: subject(done + i),
      headers: { "mqtt-payload": "text", "mqtt-qos": "1" },
    }));
    const r = l.apply({ op: "topic_publish_batch", topic: "t", messages });
    assert.ok(r.ok);
    done += k;
  }
}

function sub(l: Log, name: string, options: Record<string, unknown> = {}): void {
  const r = l.apply({ op: "subscription_put", topic: "t", subscription: name, options });
  assert.ok(r.ok, `subscription_put ${name}: ${JSON.stringify(r)}`);
}

function recv(l: Log, name: string, max = 1000): Delivery[] {
  const r = l.apply({ op: "subscription_receive", topic: "t", subscription: name, max });
  assert.ok(r.ok);
  return [...r.messages];
}

function ack(l: Log, name: string, ds: readonly Delivery[]): void {
  const receipts = ds.map((d) => d.receipt);
  const r = l.apply({ op: "subscription_ack", topic: "t", subscription: name, receipts });
  assert.ok(r.ok && r.results.every((x) => x.status === "acked"));
}

/** Receives and acks everything a subscription holds, in bounded rounds. */
function drain(l: Log, name: string): number {
  let n = 0;
  for (let round = 0; round < 100; round++) {
    const ds = recv(l, name);
    if (ds.length === 0) return n;
    ack(l, name, ds);
    n += ds.length;
  }
  throw new Error(`${name} did not drain`);
}

function held(l: Log): Pick<TopicInfo, "messages" | "bytes"> {
  const { messages, bytes } = l.broker.topic("t")!;
  return { messages, bytes };
}

/** A replica restored from `l`'s snapshot, at the same index and time. */
function restored(l: Log): Log {
  const r = new Log(restoreSnapshot(snapshotBytes(l.broker)));
  r.index = l.index;
  r.now = l.now;
  return r;
}

Deno.test("interest: with no subscription a message is not kept at all, nor in the snapshot", () => {
  const l = setup();
  const empty = snapshotBytes(l.broker).length;
  publishMqtt(l, 2000);
  assert.deepEqual(held(l), { messages: 0, bytes: 0 });
  assert.equal(l.broker.topic("t")!.published, 2000);
  assert.equal(l.broker.topic("t")!.nextSeq, 2001);
  // 2,000 × 256 B would be over 512,000 bytes; the snapshot holds none of them.
  assert.ok(snapshotBytes(l.broker).length < empty + 1000);
  assert.deepEqual(held(restored(l)), { messages: 0, bytes: 0 });
});

Deno.test("interest: acked messages leave the topic; what a subscription holds stays", () => {
  const l = setup();
  sub(l, "s");
  publishMqtt(l, 2000);
  assert.deepEqual(held(l), { messages: 2000, bytes: 2000 * 256 });
  const first = recv(l, "s", 500);
  ack(l, "s", first);
  assert.deepEqual(held(l), { messages: 1500, bytes: 1500 * 256 });
  // A replica restored now holds the same, and ends the same.
  const r = restored(l);
  assert.deepEqual(held(r), held(l));
  for (const log of [l, r]) {
    assert.equal(drain(log, "s"), 1500);
    assert.deepEqual(held(log), { messages: 0, bytes: 0 });
  }
  assert.deepEqual(snapshotBytes(r.broker), snapshotBytes(l.broker));
  assert.deepEqual(held(restored(l)), { messages: 0, bytes: 0 });
});

Deno.test("interest: a message stays until every subscription it was routed to settled it", () => {
  const l = setup();
  sub(l, "all");
  sub(l, "zero", { filter: "sensors.0.*" });
  sub(l, "none", { filter: "other.>" });
  publishMqtt(l, 16);
  assert.equal(held(l).messages, 16);
  assert.equal(drain(l, "all"), 16);
  // Only the two routed to "zero" (seqs 1 and 9) are still needed.
  assert.deepEqual(held(l), { messages: 2, bytes: 512 });
  assert.deepEqual(
    l.broker.readTopic("t", 1, 100)!.map((m) => m.seq),
    [1, 9],
  );
  assert.equal(drain(l, "zero"), 2);
  assert.deepEqual(held(l), { messages: 0, bytes: 0 });
});

Deno.test("interest: an offline subscription keeps its queued messages (no drop)", () => {
  const l = setup();
  sub(l, "online");
  sub(l, "offline");
  publishMqtt(l, 100);
  drain(l, "online");
  l.advance(24 * 3600_000);
  assert.deepEqual(held(l), { messages: 100, bytes: 100 * 256 });
  const r = restored(l);
  assert.equal(drain(r, "offline"), 100);
  assert.deepEqual(held(r), { messages: 0, bytes: 0 });
});

Deno.test("interest: every way a subscription lets go of a message releases it", () => {
  const l = setup();
  l.queue("dlq");
  sub(l, "amo", { deliveryMode: "at_most_once" });
  sub(l, "dead", { maxDeliveries: 1, leaseMs: 10, deadLetterQueue: "dlq" });
  sub(l, "ttl", { messageTtlMs: 50 });
  sub(l, "gone");
  publishMqtt(l, 10);
  assert.equal(held(l).messages, 10);
  assert.equal(recv(l, "amo").length, 10); // settled at delivery
  assert.equal(recv(l, "dead").length, 10);
  l.advance(100); // the lease ends past maxDeliveries: dead-lettered; the TTL passes
  assert.equal(held(l).messages, 10);
  const del = l.apply({ op: "subscription_delete", topic: "t", subscription: "gone" });
  assert.ok(del.ok);
  assert.deepEqual(held(l), { messages: 0, bytes: 0 });
  // The dead-letter queue has its own copy of what it took.
  assert.deepEqual(l.receive("dlq", 100).map(text), Array(10).fill(BODY));
});

Deno.test("interest: the topic's own limits still win, as a cap", () => {
  const l = setup({ retention: "interest", maxMessages: 5 });
  sub(l, "s");
  publishMqtt(l, 10);
  assert.equal(held(l).messages, 5);
  assert.equal(l.broker.subscription("t", "s")!.stats.retentionDropped, 5);
  assert.equal(drain(l, "s"), 5);
  assert.deepEqual(held(l), { messages: 0, bytes: 0 });
});

Deno.test("interest: a subscription backfilled from earliest holds what it got", () => {
  const l = setup();
  sub(l, "a");
  publishMqtt(l, 4);
  sub(l, "b", { startAt: "earliest" });
  assert.equal(drain(l, "a"), 4);
  assert.equal(held(l).messages, 4);
  const r = restored(l);
  for (const log of [l, r]) {
    assert.equal(drain(log, "b"), 4);
    assert.deepEqual(held(log), { messages: 0, bytes: 0 });
  }
});

Deno.test("interest: changing a topic's retention", () => {
  const l = setup({});
  sub(l, "s");
  publishMqtt(l, 6);
  ack(l, "s", recv(l, "s", 4));
  assert.equal(held(l).messages, 6); // limits: kept
  const r = l.apply({ op: "topic_put", topic: "t", options: { retention: "interest" } });
  assert.ok(r.ok && !r.created);
  assert.deepEqual(r.config, { dedupWindowMs: 300_000, retention: "interest" });
  assert.equal(held(l).messages, 2); // what no subscription holds went at once
  drain(l, "s");
  assert.equal(held(l).messages, 0);
  assert.ok(l.apply({ op: "topic_put", topic: "t", options: { retention: "limits" } }).ok);
  publishMqtt(l, 3);
  drain(l, "s");
  assert.equal(held(l).messages, 3);
});

Deno.test("retention: a bad value is refused with what is allowed", () => {
  const l = new Log();
  for (const retention of ["workqueue", 1, null]) {
    const r = l.apply({
      op: "topic_put",
      topic: "t",
      options: { retention } as unknown as Record<string, never>,
    });
    assert.ok(!r.ok);
    assert.equal(r.reason, "invalid_request");
    assert.equal(r.detail, `retention must be "limits" or "interest"`);
  }
});

Deno.test("interest with maxAgeMs: releases keep one age event pending, and age still drops", () => {
  const l = setup({ retention: "interest", maxAgeMs: 3_600_000 });
  // At most once: settled at delivery, so no lease events; the heap's events are the topic's.
  sub(l, "fast", { deliveryMode: "at_most_once" });
  sub(l, "slow", { deliveryMode: "at_most_once" });
  const pending = () => l.broker.events.size;
  const base = pending();
  for (let round = 0; round < 50; round++) {
    publishMqtt(l, 64);
    l.now += 10;
    recv(l, "fast");
    recv(l, "slow");
  }
  // 3,200 heads released one after another: not an age event each (they live an hour).
  assert.deepEqual(held(l), { messages: 0, bytes: 0 });
  assert.ok(pending() - base < 10, `${pending() - base} events pending`);
  publishMqtt(l, 3);
  recv(l, "fast"); // "slow" holds them
  l.advance(1_000);
  publishMqtt(l, 1);
  recv(l, "fast");
  recv(l, "slow", 2); // released: the head moves on twice
  assert.equal(held(l).messages, 2);
  l.advance(3_599_000);
  assert.deepEqual(held(l), { messages: 1, bytes: 256 }); // past maxAgeMs: dropped (a cap)
  assert.equal(l.broker.subscription("t", "slow")!.stats.retentionDropped, 1);
  l.advance(1_000);
  assert.deepEqual(held(l), { messages: 0, bytes: 0 });
  assert.equal(l.broker.subscription("t", "slow")!.stats.retentionDropped, 2);
});
