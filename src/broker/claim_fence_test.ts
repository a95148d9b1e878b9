/**
 * The holder fence of a claim's writes (test/chaos/FINDINGS.md, F11): a `once` publish, a
 * `claim_free` and a `claim_settle` that name a holder are refused `session_moved`, and change
 * nothing, once that holder no longer holds the claim. Before it, a gateway's late retry of a
 * connection that had ended applied a QoS 2 message a second time after the client finished the
 * exchange on another node and freed the slot.
 */

import assert from "node:assert/strict";
import { restoreSnapshot, snapshotBytes } from "./snapshot.ts";
import { body, Log } from "./_testing.ts";

function setup(): Log {
  const l = new Log();
  assert.ok(l.apply({ op: "topic_put", topic: "t", options: {} }).ok);
  return l;
}

function take(l: Log, holder: string, extra: Record<string, unknown> = {}) {
  const r = l.apply({ op: "claim_take", topic: "t", key: "c1", holder, ...extra });
  assert.ok(r.ok, JSON.stringify(r));
  return r;
}

/** A `once` publish of `text` in `slot` of claim c1, as `holder` (none: not fenced). */
function once(l: Log, text: string, slot: number, holder?: string) {
  const r = l.apply({
    op: "topic_publish_batch",
    topic: "t",
    messages: [{
      body: body(text),
      subject: "a",
      once: { claim: "c1", slot, ...(holder === undefined ? {} : { holder }) },
    }],
  });
  assert.ok(r.ok, JSON.stringify(r));
  return r.results[0];
}

function free(l: Log, slots: number[], holder?: string, pubrels?: number[]) {
  return l.apply({
    op: "claim_free",
    topic: "t",
    key: "c1",
    slots,
    ...(pubrels === undefined ? {} : { pubrels }),
    ...(holder === undefined ? {} : { holder }),
  });
}

function moved(r: { ok: boolean; reason?: string }): boolean {
  return !r.ok && r.reason === "session_moved";
}

/** A copy of `l`'s state through a snapshot, at the same index and time. */
function restored(l: Log): Log {
  const r = new Log(restoreSnapshot(snapshotBytes(l.broker)));
  r.index = l.index;
  r.now = l.now;
  return r;
}

Deno.test("fence: a once publish of a holder taken over is refused after the new holder freed the slot; the topic holds the message once", () => {
  const l = setup();
  take(l, "A");
  const first = once(l, "m", 7, "A");
  assert.ok(first.ok && !first.duplicate);
  // The client reconnects (holder B) and sends the PUBLISH again: the held slot answers it.
  take(l, "B");
  const again = once(l, "m", 7, "B");
  assert.ok(again.ok && first.ok);
  assert.deepEqual([again.seq, again.duplicate], [first.seq, true]);
  // PUBREL on B frees the slot.
  const freed = free(l, [7], "B");
  assert.ok(freed.ok && freed.freed === 1);
  // A's late retry: refused, neither applied nor a duplicate; the same on a restored replica
  // (the snapshot holds the claim's holder).
  const copy = restored(l);
  const late = once(l, "m", 7, "A");
  assert.ok(moved(late), JSON.stringify(late));
  assert.ok(moved(once(copy, "m", 7, "A")));
  assert.equal(l.broker.topic("t")!.published, 1);
  assert.equal(copy.broker.topic("t")!.published, 1);
  // The slot is still free for B's next message.
  const next = once(l, "m2", 7, "B");
  assert.ok(next.ok && !next.duplicate);
});

Deno.test("fence: a once publish after its holder released the claim, or after the claim ended, is refused; without a holder it is not fenced", () => {
  const l = setup();
  take(l, "A", { expireMs: 60_000 });
  assert.ok(l.apply({ op: "claim_release", topic: "t", key: "c1", holder: "A" }).ok);
  assert.ok(moved(once(l, "m", 7, "A")));
  l.advance(60_000); // the claim ends
  assert.equal(l.broker.claim("t", "c1"), undefined);
  assert.ok(moved(once(l, "m", 7, "A")));
  assert.equal(l.broker.topic("t")!.published, 0);
  // An API client's once publish (no holder) is applied as before.
  const plain = once(l, "m", 7);
  assert.ok(plain.ok && !plain.duplicate);
  assert.equal(l.broker.topic("t")!.published, 1);
});

Deno.test("fence: a claim_free of a holder taken over frees nothing: the packet id the new holder reused stays held", () => {
  const l = setup();
  take(l, "A");
  once(l, "m1", 7, "A");
  take(l, "B");
  assert.ok(free(l, [7], "B").ok);
  // B's connection reuses packet id 7 for another message.
  const m2 = once(l, "m2", 7, "B");
  assert.ok(m2.ok && !m2.duplicate);
  // A's late PUBREL: refused, slot 7 stays held for m2.
  const late = free(l, [7], "A");
  assert.ok(moved(late), JSON.stringify(late));
  const resent = once(l, "m2", 7, "B");
  assert.ok(resent.ok && m2.ok);
  assert.deepEqual([resent.seq, resent.duplicate], [m2.seq, true]);
  assert.equal(l.broker.topic("t")!.published, 2);
  // Without a holder (an API client), as before.
  const plain = free(l, [7]);
  assert.ok(plain.ok && plain.freed === 1);
});

Deno.test("fence: a claim_settle of a holder taken over acks nothing and holds no PUBREL; a pubrels free of it drops none", () => {
  const l = setup();
  assert.ok(l.apply({ op: "subscription_put", topic: "t", subscription: "s1", options: {} }).ok);
  take(l, "A", { subscriptions: ["s1"] });
  assert.ok(l.apply({ op: "topic_publish", topic: "t", message: { body: body("x") } }).ok);
  const got = l.apply({ op: "subscription_receive", topic: "t", subscription: "s1", max: 10 });
  assert.ok(got.ok && got.messages.length === 1);
  take(l, "B");
  const settle = (holder: string, hold: number[]) =>
    l.apply({
      op: "claim_settle",
      topic: "t",
      key: "c1",
      subscription: "s1",
      receipts: [got.messages[0].receipt],
      hold,
      holder,
    });
  const late = settle("A", [5]);
  assert.ok(moved(late), JSON.stringify(late));
  const stats = l.broker.subscription("t", "s1")!.stats;
  assert.equal(stats.ready + stats.leased, 1, "not acked");
  // B holds PUBREL 9 (its own settle); A's late PUBCOMP of 9 drops nothing.
  const own = settle("B", [9]);
  assert.ok(own.ok && own.kept);
  assert.ok(moved(free(l, [], "A", [9])));
  assert.deepEqual([...take(l, "C").pubrels], [9]);
});

Deno.test("fence: a holder of the wrong form is refused invalid_request", () => {
  const l = setup();
  take(l, "A");
  const r = l.apply({
    op: "topic_publish",
    topic: "t",
    message: { body: body("m"), once: { claim: "c1", slot: 1, holder: "" } },
  });
  assert.ok(!r.ok && r.reason === "invalid_request", JSON.stringify(r));
  const f = free(l, [1], "x".repeat(257));
  assert.ok(!f.ok && f.reason === "invalid_request", JSON.stringify(f));
});

Deno.test("fence: a take with ifHeld (a holder's update of its own session) by a holder taken over changes nothing; the new holder keeps the claim", () => {
  const l = setup();
  take(l, "A", { expireMs: 60_000, data: "a-data" });
  take(l, "B");
  const stamp = l.broker.claim("t", "c1")!.stamp;
  // A's late update (its SUBSCRIBE's data, retried after its connection ended): without the
  // fence it took the session back for a connection that is gone, and B's writes were refused.
  const late = l.apply({
    op: "claim_take",
    topic: "t",
    key: "c1",
    holder: "A",
    data: "stale",
    ifHeld: true,
  });
  assert.ok(moved(late), JSON.stringify(late));
  const c = l.broker.claim("t", "c1")!;
  assert.deepEqual([c.holder, c.data, c.stamp], ["B", "a-data", stamp]);
  const ok = once(l, "m", 7, "B");
  assert.ok(ok.ok && !ok.duplicate, JSON.stringify(ok));
  // Released (no holder): refused too, and the claim still ends after its expiry.
  assert.ok(l.apply({ op: "claim_release", topic: "t", key: "c1", holder: "B" }).ok);
  const afterRelease = l.apply({
    op: "claim_take",
    topic: "t",
    key: "c1",
    holder: "B",
    data: "late",
    ifHeld: true,
  });
  assert.ok(moved(afterRelease), JSON.stringify(afterRelease));
  assert.equal(l.broker.claim("t", "c1")!.holder, null);
  l.advance(60_000);
  assert.equal(l.broker.claim("t", "c1"), undefined, "ended: the late update did not keep it");
  // The holder's own update while it holds the claim is applied as before.
  take(l, "C");
  const own = l.apply({
    op: "claim_take",
    topic: "t",
    key: "c1",
    holder: "C",
    data: "c-data",
    ifHeld: true,
  });
  assert.ok(own.ok, JSON.stringify(own));
  assert.equal(l.broker.claim("t", "c1")!.data, "c-data");
});
