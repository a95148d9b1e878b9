import assert from "node:assert/strict";
import { restoreSnapshot, snapshotBytes } from "./snapshot.ts";
import { body, Log, text } from "./_testing.ts";

function setup(): Log {
  const l = new Log();
  assert.ok(l.apply({ op: "topic_put", topic: "t", options: {} }).ok);
  return l;
}

function pub(l: Log, subject: string, t: string, retain?: "set" | "clear", ttlMs?: number) {
  return l.apply({
    op: "topic_publish",
    topic: "t",
    message: {
      body: body(t),
      subject,
      ...(retain ? { retain } : {}),
      ...(ttlMs ? { ttlMs } : {}),
    },
  });
}

const retained = (l: Log, pattern?: string) =>
  l.broker.retained("t", pattern)!.map((m) => `${m.subject}=${text(m)}`);

Deno.test("retain: the last retained message per subject is kept; clear drops it; plain publishes leave it", () => {
  const l = setup();
  pub(l, "a.x", "1", "set");
  pub(l, "a.x", "2", "set");
  pub(l, "a.y", "3", "set");
  pub(l, "a.x", "plain");
  pub(l, "b", "4", "set");
  assert.deepEqual(retained(l), ["a.x=2", "a.y=3", "b=4"]);
  assert.deepEqual(retained(l, "a.*"), ["a.x=2", "a.y=3"]);
  pub(l, "a.y", "", "clear");
  assert.deepEqual(retained(l, "a.>"), ["a.x=2"]);
  // Every one of them was published as usual.
  assert.equal(l.broker.topic("t")!.published, 6);
});

Deno.test("retain: a retained message past its TTL is not read", () => {
  const l = setup();
  pub(l, "a", "short", "set", 1000);
  pub(l, "b", "long", "set");
  assert.deepEqual(retained(l), ["a=short", "b=long"]);
  l.advance(1000);
  assert.deepEqual(retained(l), ["b=long"]);
});

Deno.test("retain: refused without a subject and on a queue publish", () => {
  const l = setup();
  const r = l.apply({
    op: "topic_publish",
    topic: "t",
    message: { body: body("x"), retain: "set" },
  });
  assert.ok(!r.ok && r.reason === "invalid_request");
  l.queue("q");
  const q = l.publish("q", { subject: "a", retain: "set" });
  assert.ok(!q.ok && q.reason === "invalid_request");
  const tx = l.apply({
    op: "transaction",
    ack: [],
    publish: [{ queue: "q", body: body("x"), subject: "a", retain: "set" }],
  });
  assert.ok(!tx.ok && tx.reason === "transaction_aborted");
});

function take(l: Log, holder: string, extra: Record<string, unknown> = {}) {
  const r = l.apply({ op: "claim_take", topic: "t", key: "c1", holder, ...extra });
  assert.ok(r.ok, JSON.stringify(r));
  return r;
}

function release(l: Log, holder: string, expireMs?: number) {
  const r = l.apply({
    op: "claim_release",
    topic: "t",
    key: "c1",
    holder,
    ...(expireMs === undefined ? {} : { expireMs }),
  });
  assert.ok(r.ok);
  return r.released;
}

function subscribe(l: Log, name: string) {
  assert.ok(l.apply({ op: "subscription_put", topic: "t", subscription: name, options: {} }).ok);
}

Deno.test("claims: a take names the holder before; a release by a holder taken over is a no-op", () => {
  const l = setup();
  subscribe(l, "s1");
  const first = take(l, "n1/a", { subscriptions: ["s1"] });
  assert.deepEqual([first.previous, first.present], [null, false]);
  const second = take(l, "n2/b");
  assert.deepEqual([second.previous, second.present], ["n1/a", true]);
  assert.equal(l.broker.claim("t", "c1")!.holder, "n2/b");
  // The old connection ends (a clean session would end the claim): nothing happens.
  assert.equal(release(l, "n1/a", 0), false);
  assert.ok(l.broker.subscription("t", "s1"));
  // The holder's own release with expiry 0 ends it and its subscriptions.
  assert.equal(release(l, "n2/b", 0), true);
  assert.equal(l.broker.claim("t", "c1"), undefined);
  assert.equal(l.broker.subscription("t", "s1"), undefined);
});

Deno.test("claims: a released claim ends after its expiry with its subscriptions, unless taken again", () => {
  const l = setup();
  subscribe(l, "s1");
  take(l, "h1", { subscriptions: ["s1"], expireMs: 5000 });
  assert.equal(release(l, "h1"), true);
  l.advance(4000);
  const again = take(l, "h2");
  assert.deepEqual([again.previous, again.present], [null, true]);
  l.advance(5000); // the first expiry is moot
  assert.ok(l.broker.subscription("t", "s1"));
  release(l, "h2", 2000);
  l.advance(1999);
  assert.ok(l.broker.subscription("t", "s1"));
  l.advance(1);
  assert.equal(l.broker.subscription("t", "s1"), undefined);
  assert.equal(l.broker.claim("t", "c1"), undefined);
});

Deno.test("claims: fresh drops the old subscriptions; taken again by its holder it keeps them", () => {
  const l = setup();
  subscribe(l, "s1");
  take(l, "h1", { subscriptions: ["s1"], data: "d1" });
  const same = take(l, "h1", { data: "d2" });
  assert.deepEqual([same.previous, same.present, same.data], ["h1", true, "d2"]);
  assert.ok(l.broker.subscription("t", "s1"));
  const fresh = take(l, "h2", { fresh: true, subscriptions: ["s1"] });
  assert.deepEqual([fresh.previous, fresh.present, fresh.data], ["h1", false, null]);
  assert.equal(l.broker.subscription("t", "s1"), undefined);
});

Deno.test("retained messages and claims survive a snapshot, a pending claim end included", () => {
  const l = setup();
  subscribe(l, "s1");
  pub(l, "a.b", "kept", "set");
  take(l, "h1", { subscriptions: ["s1"], expireMs: 3000, data: "x" });
  release(l, "h1");
  const bytes = snapshotBytes(l.broker);
  const restored = new Log(restoreSnapshot(bytes));
  restored.index = l.index;
  restored.now = l.now;
  assert.deepEqual(new Uint8Array(snapshotBytes(restored.broker)), new Uint8Array(bytes));
  assert.deepEqual(retained(restored), ["a.b=kept"]);
  assert.deepEqual(restored.broker.claim("t", "c1"), {
    holder: null,
    data: "x",
    subscriptions: ["s1"],
    stamp: 2,
    expireMs: 3000,
    endsAt: l.now + 3000,
  });
  restored.advance(3000);
  assert.equal(restored.broker.claim("t", "c1"), undefined);
  assert.equal(restored.broker.subscription("t", "s1"), undefined);
});

Deno.test("once: the same message under a held slot answers the first one's seq and is not applied; the slot outlives the session; freed, or another message, it carries a new one", () => {
  const l = setup();
  take(l, "h1");
  const once = (log: Log, t: string, slot: number) => {
    const r = log.apply({
      op: "topic_publish_batch",
      topic: "t",
      messages: [{ body: body(t), subject: "a", once: { claim: "c1", slot } }],
    });
    assert.ok(r.ok && r.results[0].ok);
    return r.results[0];
  };
  const first = once(l, "m1", 7);
  const again = once(l, "m1", 7);
  assert.deepEqual([again.seq, again.duplicate], [first.seq, true]);
  assert.equal(l.broker.topic("t")!.published, 1);
  // The session ends (a clean one, at its release) and a new one starts clean: a client that
  // sends the PUBLISH again still gets the first answer.
  release(l, "h1", 0);
  take(l, "h2", { fresh: true });
  // And across a snapshot.
  const restored = new Log(restoreSnapshot(snapshotBytes(l.broker)));
  restored.index = l.index;
  restored.now = l.now;
  const r3 = once(restored, "m1", 7);
  assert.deepEqual([r3.seq, r3.duplicate], [first.seq, true]);
  // Another message under the held slot: the client moved on (no PUBREL came): applied.
  const other = once(l, "m2", 7);
  assert.equal(other.duplicate, false);
  const freed = l.apply({ op: "claim_free", topic: "t", key: "c1", slots: [7, 8] });
  assert.ok(freed.ok && freed.freed === 1);
  const next = once(l, "m2", 7);
  assert.equal(next.duplicate, false);
  assert.equal(l.broker.topic("t")!.published, 3);
  // A held slot goes after 24 h.
  const late = once(l, "m3", 9);
  l.advance(24 * 3600 * 1000);
  assert.equal(once(l, "m3", 9).duplicate, false);
  assert.notEqual(late.seq, undefined);
});

Deno.test("claims: the keys changed since a count, for a node's gateway to look at only those", () => {
  const l = setup();
  const t = l.broker.topics.get("t")!;
  const at = l.broker.claimChanges("t");
  take(l, "h1");
  l.apply({ op: "claim_take", topic: "t", key: "c2", holder: "h2" });
  release(l, "h1");
  assert.deepEqual(l.broker.claimsChangedSince("t", at), ["c1", "c2", "c1"]);
  assert.deepEqual(l.broker.claimsChangedSince("t", at + 2), ["c1"]);
  assert.deepEqual(l.broker.claimsChangedSince("t", l.broker.claimChanges("t")), []);
  // Too far back (or a count from a replaced replica): undefined, look at everything.
  assert.equal(l.broker.claimsChangedSince("t", at - 1), undefined);
  assert.equal(l.broker.claimsChangedSince("t", at + 100), undefined);
  for (let i = 0; i < 10_000; i++) t.claims.touch(`k${i}`);
  assert.equal(l.broker.claimsChangedSince("t", at), undefined);
  assert.deepEqual(l.broker.claimsChangedSince("t", l.broker.claimChanges("t") - 2), [
    "k9998",
    "k9999",
  ]);
});

Deno.test("claim_settle acks a subscription's receipts and holds PUBREL ids in the claim, in one entry; the next take sees them until freed", () => {
  const l = setup();
  subscribe(l, "s1");
  take(l, "h1", { subscriptions: ["s1"] });
  pub(l, "a", "m1");
  const got = l.apply({ op: "subscription_receive", topic: "t", subscription: "s1", max: 10 });
  assert.ok(got.ok && got.messages.length === 1);
  const settled = l.apply({
    op: "claim_settle",
    topic: "t",
    key: "c1",
    subscription: "s1",
    receipts: [got.messages[0].receipt],
    hold: [42],
  });
  assert.ok(settled.ok && settled.kept);
  assert.deepEqual(settled.results.map((r) => r.status), ["acked"]);
  // Another node's connection takes the session: it owes PUBREL 42.
  const restored = new Log(restoreSnapshot(snapshotBytes(l.broker)));
  restored.index = l.index;
  restored.now = l.now;
  const next = take(restored, "h2");
  assert.deepEqual([...next.pubrels], [42]);
  const freed = restored.apply({
    op: "claim_free",
    topic: "t",
    key: "c1",
    slots: [],
    pubrels: [42],
  });
  assert.ok(freed.ok && freed.freed === 1);
  assert.deepEqual([...take(restored, "h3").pubrels], []);
  assert.equal(restored.broker.subscription("t", "s1")!.stats.ready, 0);
});

Deno.test("maxRetained / maxRetainedBytes: a retained message for a new subject beyond the cap is refused (retained_full), nothing applied; replacing and clearing go on", () => {
  const l = new Log();
  assert.ok(
    l.apply({ op: "topic_put", topic: "t", options: { maxRetained: 2, maxRetainedBytes: 64 } })
      .ok,
  );
  assert.ok(pub(l, "a", "1", "set").ok);
  assert.ok(pub(l, "b", "2", "set").ok);
  const full = pub(l, "c", "3", "set");
  assert.equal(!full.ok && full.reason, "retained_full");
  assert.equal(l.broker.topic("t")!.published, 2, "the refused publish was not published");
  assert.ok(pub(l, "a", "1b", "set").ok, "a subject's retained message may be replaced");
  assert.ok(pub(l, "c", "plain").ok, "a publish without retain is not concerned");
  assert.ok(pub(l, "b", "", "clear").ok);
  assert.ok(pub(l, "c", "3", "set").ok, "room again after a clear");
  assert.deepEqual(retained(l), ["a=1b", "c=3"]);
  // Bytes: the bodies' JSON text (each `"..."`); replacing with a larger one counts the change.
  const big = "x".repeat(70);
  const over = pub(l, "a", big, "set");
  assert.equal(!over.ok && over.reason, "retained_full");
  assert.deepEqual(retained(l), ["a=1b", "c=3"]);
  // Past its TTL a retained message no longer counts.
  const l2 = new Log();
  assert.ok(l2.apply({ op: "topic_put", topic: "t", options: { maxRetained: 1 } }).ok);
  assert.ok(pub(l2, "a", "1", "set", 1000).ok);
  l2.advance(2000);
  assert.ok(pub(l2, "b", "2", "set").ok);
  // The caps survive a snapshot with the topic's config.
  const restored = restoreSnapshot(snapshotBytes(l.broker));
  assert.equal(restored.topic("t")!.config.maxRetained, 2);
});

Deno.test("a snapshot of the first claim layout (slots inside the claim rows) restores: its slots hold for any message", async () => {
  const { FrameReader, frame, pack, snapshotPreamble, unpack, concatParts } = await import(
    "./_snapshot_format.ts"
  );
  const l = setup();
  take(l, "h1");
  const first = l.apply({
    op: "topic_publish",
    topic: "t",
    message: { body: body("m1"), subject: "a", once: { claim: "c1", slot: 7 } },
  });
  assert.ok(first.ok);
  // Rewrite the topicx part as the first layout wrote it.
  const r = new FrameReader(snapshotBytes(l.broker));
  const parts: Uint8Array[] = [snapshotPreamble()];
  let rawNext = false;
  for (let i = 0; i < 100; i++) {
    const bytes = r.raw();
    if (rawNext) {
      // The bodies frame after a "tmsgs" part: raw bytes, passed on as they are.
      parts.push(...frame(bytes));
      rawNext = false;
      continue;
    }
    let v = unpack(bytes) as unknown[];
    rawNext = v[0] === "tmsgs";
    if (v[0] === "topicx") {
      const [tag, name, retainedRows, claimRows, nextNo, slotRows] = v as [
        string,
        string,
        unknown[],
        unknown[][],
        number,
        [string, [number, number, string, number, number][]][],
      ];
      const old = claimRows.map((row) => {
        const slots = slotRows.find(([k]) => k === row[0])?.[1] ?? [];
        return [...row.slice(0, 7), slots.map(([s, seq, id]) => [s, seq, id]), ...row.slice(7)];
      });
      v = [tag, name, retainedRows, old, nextNo];
    }
    parts.push(...frame(pack(v)));
    if (v[0] === "end") break;
  }
  const restored = new Log(restoreSnapshot(concatParts(parts)));
  restored.index = l.index;
  restored.now = l.now;
  assert.equal(restored.broker.claim("t", "c1")!.holder, "h1");
  const again = restored.apply({
    op: "topic_publish",
    topic: "t",
    message: { body: body("other"), subject: "a", once: { claim: "c1", slot: 7 } },
  });
  assert.ok(again.ok && again.duplicate && again.seq === first.seq);
});
