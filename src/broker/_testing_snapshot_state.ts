/**
 * A fixed log that leaves a broker state with every kind of thing a snapshot holds: queues with
 * ids live, acked, dead and expired, leases, delays, TTLs, fifo groups, dead letters, a redrive,
 * a topic with filtered and fifo subscriptions, Idempotency-Keys and sessions. The snapshot of
 * this state written by an earlier build is kept in `testdata/` (see `snapshot_compat_test.ts`).
 *
 * @module
 */

import { body, Log } from "./_testing.ts";
import { BrokerState } from "./state.ts";

/** Applies the fixed log to a fresh state and returns it. */
export function buildFixtureLog(): Log {
  const l = new Log();
  l.queue("dlq");
  l.queue("q", { leaseMs: 1000, maxDeliveries: 2, deadLetterQueue: "dlq", dedupWindowMs: 60_000 });
  l.queue("f", { fifo: true, leaseMs: 500, messageTtlMs: 90_000 });
  for (let i = 0; i < 40; i++) {
    l.publish("q", { id: `q-${i}`, text: `body ${i}`, ...(i % 7 === 0 ? { delayMs: 5_000 } : {}) });
    l.publish("f", {
      ...(i % 3 === 0 ? {} : { id: `f-${i}` }),
      group: `g${i % 4}`,
      text: "é".repeat(i % 5),
      ...(i % 5 === 0 ? { headers: { k: `v${i}`, "x-trace": "t" } } : {}),
      ...(i % 6 === 0 ? { subject: `orders.eu.${i}` } : {}),
    });
  }
  const got = l.receive("q", 12, 2_000);
  for (const d of got.slice(0, 4)) l.ack("q", d.receipt);
  l.apply({ op: "nack", queue: "q", receipts: [got[4].receipt], delayMs: 3_000 });
  l.receive("f", 3);
  l.advance(2_500); // leases of q end: attempt 1 back to ready
  const again = l.receive("q", 6, 700);
  l.advance(800); // second lease ends: maxDeliveries 2 moves them to dlq
  l.receive("dlq", 2);
  l.apply({ op: "queue_redrive", queue: "dlq", seqs: [3] });
  l.apply({ op: "topic_put", topic: "t", options: { maxMessages: 30 } });
  l.apply({ op: "subscription_put", topic: "t", subscription: "all", options: {} });
  l.apply({
    op: "subscription_put",
    topic: "t",
    subscription: "eu",
    options: { filter: "o.eu.*", fifo: true, maxDeliveries: 3, deadLetterQueue: "dlq" },
  });
  for (let i = 0; i < 36; i++) {
    const subject = i % 2 === 0 ? "o.eu.new" : "o.us.new";
    l.apply({
      op: "topic_publish",
      topic: "t",
      message: { body: body(`t${i}`), subject, ...(i % 3 === 0 ? { id: `t-${i}` } : {}) },
    });
  }
  l.apply({ op: "subscription_receive", topic: "t", subscription: "eu", max: 2 });
  l.apply({ op: "publish", queue: "q", message: { body: body("keyed") } }, {
    key: "k1",
    fingerprint: "fp1",
  });
  const s = l.openSession("alice");
  l.send({ op: "publish", queue: "q", message: { body: body("s1"), id: "s-1" } }, {
    session: { id: s, seq: 1, lowest: 1 },
    owner: "alice",
  });
  l.advance(61_000); // q's dedup window: the first ids are forgotten
  l.publish("q", { id: "q-0", text: "again" });
  l.receive("q", 3, 600_000); // leases held in the snapshot
  l.receive("f", 2, 600_000);
  l.apply({
    op: "subscription_receive",
    topic: "t",
    subscription: "all",
    max: 2,
    leaseMs: 600_000,
  });
  void again;
  return l;
}

/**
 * A state of `messages` messages in each of a queue with ids, TTLs, delays and headers, a fifo
 * queue and a topic's subscription, some leased, and 300 Idempotency-Keys: many parts.
 */
export function buildLargeLog(messages: number): Log {
  const l = new Log(new BrokerState({ idemKeysMax: 1000 }));
  l.queue("dlq");
  l.queue("q", { leaseMs: 500, maxDeliveries: 2, deadLetterQueue: "dlq" });
  l.queue("f", { fifo: true, leaseMs: 500 });
  l.apply({ op: "topic_put", topic: "t", options: {} });
  l.apply({ op: "subscription_put", topic: "t", subscription: "s", options: { leaseMs: 500 } });
  for (let i = 0; i < messages; i++) {
    const id = i % 20 !== 0 ? { id: `id${i}` } : {};
    const extra = i % 7 === 0 ? { headers: { k: `v${i}` }, delayMs: 300 } : {};
    l.publish("q", { text: `q${i}`, ...id, ...extra, ...(i % 5 === 0 ? { ttlMs: 900 } : {}) });
    l.publish("f", { text: `f${i}`, group: `g${i % 13}` });
    l.apply({
      op: "topic_publish",
      topic: "t",
      message: { body: body(`t${i}`), ...id, ...(i % 3 === 0 ? { group: "tg" } : {}) },
    });
  }
  for (let i = 0; i < 300; i++) {
    l.apply({ op: "tick" }, { key: `key${i}`, fingerprint: "f" });
  }
  l.receive("q", 1000);
  l.receive("f", 5); // 5 of 13 group heads leased: the other 8 must stay deliverable
  l.apply({ op: "subscription_receive", topic: "t", subscription: "s", max: 700 });
  return l;
}
