/**
 * `claim_settle` is MQTT QoS 2's PUBREC: the client has the message, whatever became of the lease
 * it was delivered under. A settle applied after that lease ended (a slow client, or a settle
 * that waited out an election) must still take the message out of the subscription: otherwise it
 * is delivered again after PUBCOMP freed its packet id, a second message to the client.
 */

import assert from "node:assert/strict";
import { body, Log } from "./_testing.ts";

function setup(): Log {
  const l = new Log();
  assert.ok(l.apply({ op: "topic_put", topic: "t", options: {} }).ok);
  const s = l.apply({
    op: "subscription_put",
    topic: "t",
    subscription: "s1",
    options: { leaseMs: 10_000 },
  });
  assert.ok(s.ok, JSON.stringify(s));
  // The session's claim owns its subscription (an MQTT session's own).
  const taken = l.apply({
    op: "claim_take",
    topic: "t",
    key: "c1",
    holder: "h1",
    subscriptions: ["s1"],
  });
  assert.ok(taken.ok);
  const p = l.apply({ op: "topic_publish", topic: "t", message: { body: body("m1") } });
  assert.ok(p.ok);
  return l;
}

function receive(l: Log) {
  const got = l.apply({ op: "subscription_receive", topic: "t", subscription: "s1", max: 10 });
  assert.ok(got.ok);
  return got.messages;
}

function settle(l: Log, receipt: string) {
  const r = l.apply({
    op: "claim_settle",
    topic: "t",
    key: "c1",
    subscription: "s1",
    receipts: [receipt],
    hold: [7],
  });
  assert.ok(r.ok, JSON.stringify(r));
  return r.results.map((x) => x.status);
}

const waiting = (l: Log) => {
  const s = l.broker.subscription("t", "s1")!.stats;
  return s.ready + s.leased + s.delayed;
};

Deno.test("claim_settle after the delivery's lease ended (message ready again) settles it", () => {
  const l = setup();
  const [d] = receive(l);
  l.advance(10_001); // the lease ends: the message is ready again
  assert.equal(l.broker.subscription("t", "s1")!.stats.ready, 1);
  assert.deepEqual(settle(l, d.receipt), ["acked"]);
  assert.equal(waiting(l), 0, "the message is gone from the subscription");
  assert.deepEqual(receive(l), [], "it is not delivered again");
});

Deno.test("claim_settle of an earlier attempt while a later one holds the lease settles it", () => {
  const l = setup();
  const [first] = receive(l);
  l.advance(10_001);
  const [again] = receive(l);
  assert.equal(again.attempt, 2);
  assert.deepEqual(settle(l, first.receipt), ["acked"]);
  assert.equal(waiting(l), 0);
  // The later attempt's own settle or ack finds it settled already.
  assert.notEqual(settle(l, again.receipt)[0], "acked");
});

Deno.test("claim_settle still refuses a receipt of another subscription or of a seq never delivered", () => {
  const l = setup();
  receive(l);
  assert.deepEqual(settle(l, "zz.1.1"), ["not_found"]);
  assert.deepEqual(settle(l, "2.9.1"), ["not_found"]);
  assert.equal(waiting(l), 1);
});

Deno.test("claim_settle on a subscription the claim does not own keeps its receipts fenced", () => {
  const l = setup();
  const put = l.apply({ op: "subscription_put", topic: "t", subscription: "s2", options: {} });
  assert.ok(put.ok);
  assert.ok(l.apply({ op: "topic_publish", topic: "t", message: { body: body("m2") } }).ok);
  const take = () => {
    const r = l.apply({ op: "subscription_receive", topic: "t", subscription: "s2", max: 10 });
    assert.ok(r.ok);
    return r.messages;
  };
  const [first] = take();
  l.advance(60_001); // past s2's lease (the default)
  const [again] = take();
  assert.equal(again.attempt, 2);
  // Another consumer holds it now: the old receipt acks nothing.
  const r = l.apply({
    op: "claim_settle",
    topic: "t",
    key: "c1",
    subscription: "s2",
    receipts: [first.receipt],
    hold: [7],
  });
  assert.ok(r.ok);
  assert.deepEqual(r.results.map((x) => x.status), ["stale"]);
  assert.equal(l.broker.subscription("t", "s2")!.stats.leased, 1);
});
