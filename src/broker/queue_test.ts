import assert from "node:assert/strict";
import { body, Log, text } from "./_testing.ts";
import { BatchResults, DEAD_LETTER_HEADERS } from "./state.ts";

Deno.test("publish answers a new seq, and a duplicate id within the window answers the original", () => {
  const l = new Log();
  l.queue("q");
  assert.deepEqual(l.publish("q", { id: "a" }), { ok: true, seq: 1, id: "a", duplicate: false });
  assert.deepEqual(l.publish("q", { id: "b" }), { ok: true, seq: 2, id: "b", duplicate: false });
  l.now += 299_999;
  assert.deepEqual(l.publish("q", { id: "a" }), { ok: true, seq: 1, id: "a", duplicate: true });
  assert.equal(l.broker.queue("q")!.stats.ready, 2);
});

Deno.test("publish after the dedup window enqueues the id again", () => {
  const l = new Log();
  l.queue("q", { dedupWindowMs: 1000 });
  l.publish("q", { id: "a" });
  l.now += 1000;
  assert.deepEqual(l.publish("q", { id: "a" }), { ok: true, seq: 2, id: "a", duplicate: false });
});

Deno.test("publish without an id gets a generated id whose status can be read", () => {
  const l = new Log();
  l.queue("q");
  const r = l.publish("q", {});
  assert.ok(r.ok && r.id.startsWith("~"));
  assert.equal(l.broker.messageStatus("q", r.ok ? r.id : "")?.state, "ready");
});

Deno.test("receive hands out messages in seq order with their fields and a lease", () => {
  const l = new Log();
  l.queue("q", { leaseMs: 5000 });
  l.publish("q", { text: "one", id: "1", group: "g", headers: { h: "v" } });
  l.publish("q", { text: "two" });
  const t0 = l.now;
  const d = l.receive("q", 10);
  assert.deepEqual(d.map(text), ["one", "two"]);
  assert.equal(d[0].seq, 1);
  assert.equal(d[0].group, "g");
  assert.deepEqual(d[0].headers, { h: "v" });
  assert.equal(d[0].attempt, 1);
  assert.equal(d[0].leaseExpiresAt, t0 + 5000);
  assert.equal(d[0].publishedAt, t0);
  assert.notEqual(d[0].receipt, d[1].receipt);
});

Deno.test("receive skips leased messages until their lease ends", () => {
  const l = new Log();
  l.queue("q", { leaseMs: 1000 });
  l.publish("q", {});
  assert.equal(l.receive("q").length, 1);
  l.now += 999;
  assert.equal(l.receive("q").length, 0);
  l.now += 1;
  const again = l.receive("q");
  assert.equal(again.length, 1);
  assert.equal(again[0].attempt, 2);
});

Deno.test("receive with max returns at most max messages", () => {
  const l = new Log();
  l.queue("q");
  for (let i = 0; i < 5; i++) l.publish("q", {});
  assert.equal(l.receive("q", 3).length, 3);
  assert.equal(l.receive("q", 3).length, 2);
});

Deno.test("ack of an older attempt is stale and never settles the newer delivery", () => {
  const l = new Log();
  l.queue("q", { leaseMs: 1000 });
  l.publish("q", { id: "m" });
  const [first] = l.receive("q");
  l.now += 1000;
  const [second] = l.receive("q");
  assert.equal(l.ack("q", first.receipt), "stale");
  assert.equal(l.broker.messageStatus("q", "m")?.state, "leased");
  assert.equal(l.ack("q", second.receipt), "acked");
  assert.equal(l.ack("q", first.receipt), "stale");
});

Deno.test("ack after the lease ended is stale even before a redelivery", () => {
  const l = new Log();
  l.queue("q", { leaseMs: 1000 });
  l.publish("q", {});
  const [d] = l.receive("q");
  l.now += 1000;
  assert.equal(l.ack("q", d.receipt), "stale");
  assert.equal(l.broker.queue("q")!.stats.ready, 1);
});

Deno.test("a repeated ack answers already_acked for an id, not_found without one", () => {
  const l = new Log();
  l.queue("q");
  l.publish("q", { id: "a" });
  l.publish("q", {});
  const [a, b] = l.receive("q");
  assert.equal(l.ack("q", a.receipt), "acked");
  assert.equal(l.ack("q", a.receipt), "already_acked");
  assert.equal(l.ack("q", b.receipt), "acked");
  assert.equal(l.ack("q", b.receipt), "not_found");
});

Deno.test("an acked message is never delivered again", () => {
  const l = new Log();
  l.queue("q", { leaseMs: 1000 });
  l.publish("q", {});
  l.ack("q", l.receive("q")[0].receipt);
  l.advance(10_000);
  assert.equal(l.receive("q").length, 0);
  assert.deepEqual(
    { ...l.broker.queue("q")!.stats, bytes: 0 },
    {
      ready: 0,
      leased: 0,
      delayed: 0,
      published: 1,
      acked: 1,
      delivered: 1,
      deadLettered: 0,
      bytes: 0,
    },
  );
});

Deno.test("a receipt of another queue or of a deleted incarnation is not_found", () => {
  const l = new Log();
  l.queue("q");
  l.queue("other");
  l.publish("q", {});
  const [d] = l.receive("q");
  assert.equal(l.ack("other", d.receipt), "not_found");
  assert.equal(l.ack("q", "garbage"), "not_found");
  l.apply({ op: "queue_delete", queue: "q" });
  l.queue("q");
  l.publish("q", {});
  assert.equal(l.ack("q", d.receipt), "not_found");
});

Deno.test("nack returns the message at once, or after delayMs", () => {
  const l = new Log();
  l.queue("q");
  l.publish("q", {});
  let [d] = l.receive("q");
  const n = l.apply({ op: "nack", queue: "q", receipts: [d.receipt] });
  assert.ok(n.ok && n.results[0].status === "nacked");
  [d] = l.receive("q");
  assert.equal(d.attempt, 2);
  l.apply({ op: "nack", queue: "q", receipts: [d.receipt], delayMs: 500 });
  assert.equal(l.broker.queue("q")!.stats.delayed, 1);
  l.now += 499;
  assert.equal(l.receive("q").length, 0);
  l.now += 1;
  assert.equal(l.receive("q")[0].attempt, 3);
});

Deno.test("extend moves the lease end, so the old end does not redeliver", () => {
  const l = new Log();
  l.queue("q", { leaseMs: 1000 });
  l.publish("q", {});
  const [d] = l.receive("q");
  l.now += 900;
  const r = l.apply({ op: "extend", queue: "q", receipts: [d.receipt], leaseMs: 1000 });
  assert.ok(r.ok);
  assert.deepEqual(r.results[0], {
    receipt: d.receipt,
    status: "extended",
    leaseExpiresAt: l.now + 1000,
  });
  l.now += 500;
  assert.equal(l.receive("q").length, 0);
  assert.equal(l.ack("q", d.receipt), "acked");
});

Deno.test("after maxDeliveries the message moves to the dead-letter queue with its reason", () => {
  const l = new Log();
  l.queue("dlq");
  l.queue("q", { leaseMs: 100, maxDeliveries: 2, deadLetterQueue: "dlq" });
  l.publish("q", { text: "poison", id: "p", headers: { a: "b" } });
  l.receive("q");
  l.now += 100;
  l.receive("q");
  l.advance(100);
  assert.equal(l.broker.queue("q")!.stats.deadLettered, 1);
  assert.equal(l.broker.messageStatus("q", "p")?.state, "dead");
  const [dead] = l.receive("dlq");
  assert.equal(text(dead), "poison");
  assert.equal(dead.id, "p");
  assert.deepEqual(dead.headers, {
    a: "b",
    [DEAD_LETTER_HEADERS.origin]: "q",
    [DEAD_LETTER_HEADERS.reason]: "max_deliveries",
    [DEAD_LETTER_HEADERS.attempts]: "2",
  });
});

Deno.test("a nack at maxDeliveries dead-letters, and without a dead-letter queue it is dropped and counted", () => {
  const l = new Log();
  l.queue("q", { maxDeliveries: 1 });
  l.publish("q", {});
  const [d] = l.receive("q");
  l.apply({ op: "nack", queue: "q", receipts: [d.receipt] });
  const s = l.broker.queue("q")!.stats;
  assert.equal(s.deadLettered, 1);
  assert.equal(s.ready + s.leased + s.delayed, 0);
  assert.equal(l.receive("q").length, 0);
});

Deno.test("a delayed message is delivered only after its delay", () => {
  const l = new Log();
  l.queue("q");
  l.publish("q", { delayMs: 1000, text: "later" });
  l.publish("q", { text: "now" });
  assert.equal(l.broker.queue("q")!.stats.delayed, 1);
  assert.deepEqual(l.receive("q").map(text), ["now"]);
  l.now += 1000;
  assert.deepEqual(l.receive("q").map(text), ["later"]);
});

Deno.test("a message past its TTL is dead-lettered with reason ttl", () => {
  const l = new Log();
  l.queue("dlq");
  l.queue("q", { messageTtlMs: 5000, deadLetterQueue: "dlq" });
  l.publish("q", { ttlMs: 1000, text: "short" });
  l.publish("q", { text: "long" });
  l.advance(1000);
  assert.equal(l.broker.queue("q")!.stats.ready, 1);
  l.advance(4000);
  assert.equal(l.broker.queue("q")!.stats.ready, 0);
  const dead = l.receive("dlq");
  assert.deepEqual(dead.map(text), ["short", "long"]);
  assert.equal(dead[0].headers[DEAD_LETTER_HEADERS.reason], "ttl");
});

Deno.test("a leased message past its TTL finishes its lease, then is dead-lettered", () => {
  const l = new Log();
  l.queue("q", { leaseMs: 2000 });
  l.publish("q", { ttlMs: 1000 });
  const [d] = l.receive("q");
  l.advance(1500);
  assert.equal(l.broker.queue("q")!.stats.leased, 1);
  assert.equal(l.ack("q", d.receipt), "acked");
  l.publish("q", { ttlMs: 1000 });
  l.receive("q");
  l.advance(2000);
  assert.equal(l.broker.queue("q")!.stats.deadLettered, 1);
});

Deno.test("stats count a lease that ended as ready at the next entry", () => {
  const l = new Log();
  l.queue("q", { leaseMs: 1000 });
  l.publish("q", {});
  l.receive("q");
  assert.equal(l.broker.queue("q")!.stats.leased, 1);
  l.advance(1000);
  const s = l.broker.queue("q")!.stats;
  assert.equal(s.leased, 0);
  assert.equal(s.ready, 1);
});

Deno.test("at_most_once removes a message at delivery", () => {
  const l = new Log();
  l.queue("q", { deliveryMode: "at_most_once", leaseMs: 10 });
  l.publish("q", { id: "a" });
  const [d] = l.receive("q");
  assert.equal(d.leaseExpiresAt, l.now);
  l.advance(1000);
  assert.equal(l.receive("q").length, 0);
  assert.equal(l.ack("q", d.receipt), "already_acked");
  assert.equal(l.broker.messageStatus("q", "a")?.state, "acked");
});

Deno.test("exactly_once refuses a publish without an id", () => {
  const l = new Log();
  l.queue("q", { deliveryMode: "exactly_once" });
  const r = l.publish("q", {});
  assert.equal(!r.ok && r.reason, "invalid_request");
});

Deno.test("exactly_once answers acked once per id across attempts and retries", () => {
  const l = new Log();
  l.queue("q", { deliveryMode: "exactly_once", leaseMs: 100 });
  l.publish("q", { id: "x" });
  const receipts: string[] = [];
  for (let i = 0; i < 3; i++) {
    receipts.push(l.receive("q")[0].receipt);
    l.now += 100;
  }
  l.now -= 50;
  receipts.push(l.receive("q")[0]?.receipt ?? "");
  l.publish("q", { id: "x" });
  const statuses = [...receipts, ...receipts].map((r) => l.ack("q", r));
  assert.equal(statuses.filter((s) => s === "acked").length, 1);
  assert.equal(l.receive("q").length, 0);
});

Deno.test("fifo delivers one message of a group at a time, in order", () => {
  const l = new Log();
  l.queue("q", { fifo: true });
  for (const t of ["a1", "a2", "a3"]) l.publish("q", { group: "a", text: t });
  const [first] = l.receive("q", 10);
  assert.equal(text(first), "a1");
  assert.equal(l.receive("q", 10).length, 0);
  l.ack("q", first.receipt);
  assert.deepEqual(l.receive("q", 10).map(text), ["a2"]);
});

Deno.test("fifo redelivers the group head before the next message after its lease ends", () => {
  const l = new Log();
  l.queue("q", { fifo: true, leaseMs: 100 });
  l.publish("q", { group: "a", text: "a1" });
  l.publish("q", { group: "a", text: "a2" });
  l.receive("q");
  l.now += 100;
  const d = l.receive("q");
  assert.deepEqual(d.map(text), ["a1"]);
  assert.equal(d[0].attempt, 2);
});

Deno.test("fifo never holds other groups back behind a deep backlog", () => {
  const l = new Log();
  l.queue("q", { fifo: true });
  for (let i = 0; i < 20_000; i++) l.publish("q", { group: "big", text: `big${i}` });
  l.publish("q", { group: "small", text: "s0" });
  l.publish("q", { text: "nogroup" });
  assert.deepEqual(l.receive("q", 10).map(text), ["big0", "s0", "nogroup"]);
});

Deno.test("maxMessages and maxBytes answer queue_full", () => {
  const l = new Log();
  l.queue("n", { maxMessages: 1 });
  l.queue("b", { maxBytes: 5 });
  assert.ok(l.publish("n", {}).ok);
  const r1 = l.publish("n", {});
  assert.equal(!r1.ok && r1.reason, "queue_full");
  assert.ok(l.publish("b", { text: "12345" }).ok);
  const r2 = l.publish("b", { text: "6" });
  assert.equal(!r2.ok && r2.reason, "queue_full");
});

Deno.test("publish_batch answers per message, refusing only the ones that do not fit", () => {
  const l = new Log();
  l.queue("q", { maxMessages: 2 });
  const r = l.apply({
    op: "publish_batch",
    queue: "q",
    messages: [{ body: body("1"), id: "a" }, { body: body("2"), id: "a" }, { body: body("3") }, {
      body: body("4"),
    }],
  });
  assert.ok(r.ok);
  assert.deepEqual(r.results.map((x) => x.ok ? `${x.seq}${x.duplicate ? "d" : ""}` : x.reason), [
    "1",
    "1d",
    "2",
    "queue_full",
  ]);
});

Deno.test("messageStatus follows a message through delayed, ready, leased and acked", () => {
  const l = new Log();
  l.queue("q");
  l.publish("q", { id: "m", delayMs: 10 });
  const s = () => l.broker.messageStatus("q", "m");
  assert.deepEqual(s(), { id: "m", seq: 1, state: "delayed", attempt: 0 });
  l.advance(10);
  assert.equal(s()?.state, "ready");
  const [d] = l.receive("q");
  assert.deepEqual(s(), { id: "m", seq: 1, state: "leased", attempt: 1 });
  l.ack("q", d.receipt);
  assert.deepEqual(s(), { id: "m", seq: 1, state: "acked", attempt: 1 });
  l.advance(300_000);
  assert.equal(s(), undefined);
});

Deno.test("queue_put answers created, then updated; fifo cannot change", () => {
  const l = new Log();
  const a = l.apply({ op: "queue_put", queue: "q", options: { leaseMs: 5 } });
  assert.ok(a.ok && a.created);
  const b = l.apply({ op: "queue_put", queue: "q", options: {} });
  assert.ok(b.ok && !b.created && b.config.leaseMs === 30_000);
  const c = l.apply({ op: "queue_update", queue: "q", options: { maxDeliveries: 3 } });
  assert.ok(c.ok && c.config.maxDeliveries === 3 && c.config.leaseMs === 30_000);
  const d = l.apply({ op: "queue_put", queue: "q", options: { fifo: true } });
  assert.equal(!d.ok && d.reason, "invalid_request");
  const e = l.apply({ op: "queue_update", queue: "none", options: {} });
  assert.equal(!e.ok && e.reason, "queue_not_found");
});

Deno.test("commands on a missing queue answer queue_not_found", () => {
  const l = new Log();
  for (
    const r of [
      l.publish("none", {}),
      l.apply({ op: "receive", queue: "none", max: 1 }),
      l.apply({ op: "ack", queue: "none", receipts: ["x"] }),
      l.apply({ op: "queue_delete", queue: "none" }),
    ]
  ) assert.equal(!r.ok && r.reason, "queue_not_found");
});

Deno.test("malformed commands answer invalid_request and change nothing", () => {
  const l = new Log();
  l.queue("q");
  const bad = [
    l.apply({ op: "receive", queue: "q", max: 0 }),
    l.apply({ op: "receive", queue: "q", max: 1001 }),
    l.apply({ op: "publish", queue: "q", message: { body: "text" as unknown as Uint8Array } }),
    l.apply({ op: "publish", queue: "q", message: { body: body(""), id: "~1.1" } }),
    l.apply({ op: "publish", queue: "q", message: { body: body(""), delayMs: -1 } }),
    l.apply({ op: "queue_put", queue: "", options: {} }),
    l.apply({ op: "queue_put", queue: "x", options: { deliveryMode: "maybe" as "at_most_once" } }),
    l.apply({ op: "ack", queue: "q", receipts: [] }),
    l.apply({ op: "nope" } as unknown as { op: "tick" }),
  ];
  for (const r of bad) assert.equal(!r.ok && r.reason, "invalid_request");
  assert.equal(l.broker.queue("q")!.stats.published, 0);
});

Deno.test("apply clamps entry time so it never goes back", () => {
  const l = new Log();
  l.queue("q", { leaseMs: 1000 });
  l.publish("q", {});
  const [d] = l.receive("q");
  l.now -= 60_000;
  l.apply({ op: "tick" });
  assert.equal(l.broker.lastTs, d.leaseExpiresAt - 1000);
  assert.equal(l.ack("q", d.receipt), "acked");
});

Deno.test("apply throws when the index does not increase", () => {
  const l = new Log();
  l.apply({ op: "tick" });
  assert.throws(() => l.broker.apply(1, { ts: 0, cmd: { op: "tick" } }), /already/);
});

Deno.test("deliverability tells a long-poll whether and when a message can be received", () => {
  const l = new Log();
  l.queue("q", { leaseMs: 1000 });
  assert.deepEqual(l.broker.deliverability({ queue: "q" }), { deliverableNow: false });
  l.publish("q", { delayMs: 500 });
  assert.deepEqual(l.broker.deliverability({ queue: "q" }), {
    deliverableNow: false,
    nextAt: l.now + 500,
  });
  l.advance(500);
  assert.equal(l.broker.deliverability({ queue: "q" })!.deliverableNow, true);
  l.receive("q");
  assert.deepEqual(l.broker.deliverability({ queue: "q" }), {
    deliverableNow: false,
    nextAt: l.now + 1000,
  });
  assert.equal(l.broker.deliverability({ queue: "none" }), undefined);
});

Deno.test("applyEntry moves the index over a no-op and refuses undecodable data", () => {
  const l = new Log();
  assert.equal(l.broker.applyEntry(1, new Uint8Array(0)), undefined);
  const r = l.broker.applyEntry(2, new Uint8Array([1, 0xc1, 0xc1]));
  assert.ok(!(r instanceof BatchResults));
  assert.equal(r !== undefined && !r.ok && r.reason, "invalid_request");
  assert.equal(l.broker.lastIndex, 2);
});

Deno.test("deliverability of a fifo queue is false while the only group's head is leased", () => {
  const l = new Log();
  l.queue("q", { fifo: true });
  l.publish("q", { group: "g" });
  l.publish("q", { group: "g" });
  l.receive("q", 1);
  assert.equal(l.broker.deliverability({ queue: "q" })!.deliverableNow, false);
  l.publish("q", { group: "h" });
  assert.equal(l.broker.deliverability({ queue: "q" })!.deliverableNow, true);
});
