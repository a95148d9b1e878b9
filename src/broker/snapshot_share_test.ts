/**
 * A capture shares the message store's and the id tables' blocks with the live state instead of
 * copying them: whatever is applied after it (leases, acks, redeliveries, ids added again, new
 * messages, a consumer draining whole blocks) must not change a byte of what it encodes.
 */

import assert from "node:assert/strict";
import { captureSnapshot, snapshotBytes } from "./snapshot.ts";
import { concatParts } from "./_snapshot_format.ts";
import { body, Log } from "./_testing.ts";

/** Asserts `a` and `b` are the same bytes (naming the first that differs, not a diff of MBs). */
function assertSameBytes(a: Uint8Array, b: Uint8Array): void {
  let at = 0;
  while (at < a.length && at < b.length && a[at] === b[at]) at++;
  assert.ok(at === a.length && at === b.length, `bytes differ at ${at} (${a.length}, ${b.length})`);
}

/** A queue and a topic with a subscription, `n` messages each, every one with an id. */
function build(n: number): Log {
  const l = new Log();
  l.queue("q", { leaseMs: 1000, maxDeliveries: 3 });
  l.apply({ op: "topic_put", topic: "t", options: {} });
  l.apply({ op: "subscription_put", topic: "t", subscription: "s", options: {} });
  for (let i = 0; i < n; i += 500) {
    const messages = Array.from({ length: 500 }, (_, k) => ({
      id: `m${i + k}`,
      body: body(`x${i + k}`),
    }));
    l.apply({ op: "publish_batch", queue: "q", messages });
    l.apply({ op: "topic_publish_batch", topic: "t", messages });
  }
  return l;
}

/** Applies that write everywhere in the state: the front, the middle, the tail, the ids. */
function writeAfter(l: Log): void {
  const got = l.receive("q", 300);
  for (const d of got.slice(0, 200)) l.ack("q", d.receipt);
  l.advance(2000); // the other leases end: those messages go back to ready
  for (let k = 0; k < 20; k++) { // a consumer passing whole blocks
    for (const d of l.receive("q", 1000)) l.ack("q", d.receipt);
  }
  for (let k = 0; k < 5; k++) {
    l.apply({ op: "subscription_receive", topic: "t", subscription: "s", max: 1000 });
  }
  // Ids added again (their old records deleted) and new messages at the tail.
  l.publish("q", { id: "m39999", text: "again" });
  for (let i = 0; i < 2000; i++) l.publish("q", { id: `new${i}`, text: "new" });
}

Deno.test("a capture shares the columns: applies after it never change what it encodes", () => {
  const l = build(40_000);
  const expected = snapshotBytes(l.broker);
  const kept = captureSnapshot(l.broker);
  const drained = captureSnapshot(l.broker);
  writeAfter(l);
  assertSameBytes(kept.serialize(), expected);
  assertSameBytes(concatParts(drained.drain()), expected);
  // Once drained, its blocks are let go: the state goes on, and a new capture encodes it.
  const now = snapshotBytes(l.broker);
  assert.throws(() => assertSameBytes(now, expected), /bytes differ/);
  writeAfter(l);
  const later = snapshotBytes(l.broker);
  const view = captureSnapshot(l.broker);
  l.receive("q", 1000);
  assertSameBytes(view.serialize(), later);
  assertSameBytes(kept.serialize(), expected);
});
