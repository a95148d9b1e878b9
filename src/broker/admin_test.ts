import assert from "node:assert/strict";
import { Log, text } from "./_testing.ts";
import { captureSnapshot, restoreSnapshot } from "./snapshot.ts";
import { DEAD_LETTER_HEADERS } from "./state.ts";

/** A queue `q` whose messages go to `dlq` after one delivery, with `n` of them dead there. */
function withDead(n: number): Log {
  const l = new Log();
  l.queue("dlq");
  l.queue("q", { maxDeliveries: 1, deadLetterQueue: "dlq", leaseMs: 1000 });
  for (let i = 0; i < n; i++) l.publish("q", { id: `m${i}`, text: `"${i}"`, headers: { k: "v" } });
  const got = l.receive("q", n);
  l.apply({ op: "nack", queue: "q", receipts: got.map((d) => d.receipt) });
  return l;
}

Deno.test("peek shows stored messages in seq order and leases nothing", () => {
  const l = new Log();
  l.queue("q");
  for (let i = 0; i < 5; i++) l.publish("q", { id: `m${i}`, text: `"${i}"`, group: "g" });
  l.receive("q", 1);
  const seen = l.broker.peekQueue("q", 1, 3)!;
  assert.deepEqual(seen.map((m) => [m.seq, m.id, m.state, m.attempt]), [
    [1, "m0", "leased", 1],
    [2, "m1", "ready", 0],
    [3, "m2", "ready", 0],
  ]);
  assert.equal(seen[1].group, "g");
  assert.equal(text(seen[2]), '"2"');
  assert.deepEqual(l.broker.peekQueue("q", 4, 10)!.map((m) => m.seq), [4, 5]);
  assert.equal(l.broker.queue("q")!.stats.ready, 4);
  assert.equal(l.receive("q", 10).length, 4, "peeked messages are still deliverable");
  assert.equal(l.broker.peekQueue("nope", 1, 1), undefined);
});

Deno.test("purge drops ready and delayed messages and leaves leased ones to their consumer", () => {
  const l = new Log();
  l.queue("q");
  l.publish("q", { id: "leased" });
  l.publish("q", { id: "ready" });
  l.publish("q", { id: "later", delayMs: 60_000 });
  const [d] = l.receive("q", 1);
  assert.deepEqual(l.apply({ op: "queue_purge", queue: "q" }), { ok: true, purged: 2 });
  const stats = l.broker.queue("q")!.stats;
  assert.deepEqual([stats.ready, stats.delayed, stats.leased], [0, 0, 1]);
  assert.equal(l.broker.messageStatus("q", "ready")?.state, "dead");
  assert.equal(l.ack("q", d.receipt), "acked");
  l.now += 61_000;
  assert.equal(l.receive("q", 10).length, 0, "the purged delayed message never comes back");
  assert.equal(l.broker.queue("q")!.stats.bytes, 0);
  assert.deepEqual(l.apply({ op: "queue_purge", queue: "nope" }).ok, false);
});

Deno.test("redrive of all moves dead messages back to their origin without the dead headers", () => {
  const l = withDead(3);
  assert.equal(l.broker.queue("dlq")!.stats.ready, 3);
  const r = l.apply({ op: "queue_redrive", queue: "dlq" });
  assert.deepEqual(r, { ok: true, redriven: 3, skipped: [], remaining: 0 });
  const back = l.receive("q", 10);
  assert.deepEqual(back.map((d) => [d.id, text(d), d.attempt]), [
    ["m0", '"0"', 1],
    ["m1", '"1"', 1],
    ["m2", '"2"', 1],
  ]);
  assert.deepEqual(back[0].headers, { k: "v" });
  assert.equal(l.broker.messageStatus("q", "m1")?.state, "leased", "the id follows the message");
  assert.equal(l.broker.messageStatus("dlq", "m1")?.state, "acked");
});

Deno.test("redrive of chosen seqs moves only those and says why others stayed", () => {
  const l = withDead(3);
  const [first] = l.broker.peekQueue("dlq", 1, 1)!;
  assert.equal(first.headers[DEAD_LETTER_HEADERS.origin], "q");
  l.publish("dlq", { id: "orphan" });
  const orphanSeq = l.broker.messageStatus("dlq", "orphan")!.seq;
  const r = l.apply({ op: "queue_redrive", queue: "dlq", seqs: [first.seq, 99, orphanSeq] });
  assert.deepEqual(r, {
    ok: true,
    redriven: 1,
    skipped: [{ seq: 99, reason: "not_found" }, { seq: orphanSeq, reason: "no_origin" }],
    remaining: 3,
  });
  assert.deepEqual(l.receive("q", 10).map((d) => d.id), ["m0"]);
});

Deno.test("redrive skips leased messages, a missing origin and a full origin", () => {
  const l = withDead(2);
  const [leased] = l.receive("dlq", 1);
  l.apply({ op: "queue_update", queue: "q", options: { maxMessages: 0 } });
  const full = l.apply({ op: "queue_redrive", queue: "dlq" });
  assert.ok(full.ok);
  assert.deepEqual(full.skipped.map((s) => s.reason), ["origin_full"]);
  const again = l.apply({ op: "queue_redrive", queue: "dlq", seqs: [leased.seq] });
  assert.ok(again.ok);
  assert.deepEqual(again.skipped, [{ seq: leased.seq, reason: "leased" }]);
  l.apply({ op: "queue_delete", queue: "q" });
  const gone = l.apply({ op: "queue_redrive", queue: "dlq" });
  assert.ok(gone.ok);
  assert.deepEqual(gone.skipped.map((s) => s.reason), ["origin_not_found"]);
  const bad = l.apply({ op: "queue_redrive", queue: "dlq", seqs: [0] });
  assert.equal(bad.ok, false);
});

Deno.test("purge and redrive leave replicas that restore from a snapshot identical", () => {
  const l = withDead(4);
  l.apply({ op: "queue_redrive", queue: "dlq", seqs: [1, 2] });
  l.apply({ op: "queue_purge", queue: "dlq" });
  const copy = restoreSnapshot(captureSnapshot(l.broker).serialize());
  assert.deepEqual(copy.listQueues(), l.broker.listQueues());
  assert.deepEqual(copy.peekQueue("q", 1, 10), l.broker.peekQueue("q", 1, 10));
});
