import assert from "node:assert/strict";
import { BrokerState } from "./state.ts";
import { Log } from "./_testing.ts";

Deno.test("the same Idempotency-Key replays the stored result without applying again", () => {
  const l = new Log();
  l.queue("q");
  const cmd = { op: "receive", queue: "q", max: 1 } as const;
  l.publish("q", {});
  const first = l.apply(cmd, { key: "k", fingerprint: "f" });
  const again = l.apply(cmd, { key: "k", fingerprint: "f" });
  assert.ok(first.ok && again.ok);
  assert.equal(first.replayed, undefined);
  assert.equal(again.replayed, true);
  assert.deepEqual(again.messages, first.messages);
  assert.equal(l.broker.queue("q")!.stats.leased, 1);
});

Deno.test("the same Idempotency-Key with another fingerprint is idempotency_conflict", () => {
  const l = new Log();
  l.queue("q");
  l.publish("q", {});
  l.apply({ op: "tick" }, { key: "k", fingerprint: "f" });
  const r = l.apply({ op: "tick" }, { key: "k", fingerprint: "other" });
  assert.equal(!r.ok && r.reason, "idempotency_conflict");
});

Deno.test("a stored failure is replayed too", () => {
  const l = new Log();
  const a = l.apply({ op: "queue_delete", queue: "q" }, { key: "k", fingerprint: "f" });
  l.queue("q");
  const b = l.apply({ op: "queue_delete", queue: "q" }, { key: "k", fingerprint: "f" });
  assert.equal(!a.ok && a.reason, "queue_not_found");
  assert.equal(!b.ok && b.reason, "queue_not_found");
  assert.equal(b.replayed, true);
  assert.ok(l.broker.queue("q"));
});

Deno.test("an Idempotency-Key expires after its time to live in entry time", () => {
  const l = new Log(new BrokerState({ idemTtlMs: 1000 }));
  l.queue("q");
  const cmd = { op: "publish", queue: "q", message: { body: new Uint8Array(1) } } as const;
  l.apply(cmd, { key: "k", fingerprint: "f" });
  l.now += 999;
  assert.equal(l.apply(cmd, { key: "k", fingerprint: "f" }).replayed, true);
  l.now += 1;
  assert.equal(l.apply(cmd, { key: "k", fingerprint: "f" }).replayed, undefined);
  assert.equal(l.broker.queue("q")!.stats.published, 2);
});

Deno.test("at its bound the Idempotency-Key table refuses new keys and forgets none", () => {
  const l = new Log(new BrokerState({ idemKeysMax: 2 }));
  l.queue("q");
  const cmd = { op: "publish", queue: "q", message: { body: new Uint8Array(1) } } as const;
  for (const k of ["a", "b"]) assert.equal(l.apply(cmd, { key: k, fingerprint: "f" }).ok, true);
  const c = l.apply(cmd, { key: "c", fingerprint: "f" });
  assert.equal(!c.ok && c.reason, "sessions_full");
  assert.equal(l.apply(cmd, { key: "a", fingerprint: "f" }).replayed, true);
  assert.equal(l.broker.queue("q")!.stats.published, 2);
  assert.equal(l.broker.idem.byKey.size, 2);
});

Deno.test("the Idempotency-Key byte bound refuses new keys; expiry makes room again", () => {
  const l = new Log(new BrokerState({ exactlyOnceBytesMax: 1000, idemTtlMs: 1000 }));
  l.queue("q");
  const cmd = { op: "publish", queue: "q", message: { body: new Uint8Array(1) } } as const;
  let n = 0;
  for (; n < 100; n++) {
    if (!l.apply(cmd, { key: `k${n}`, fingerprint: "f" }).ok) break;
  }
  assert.ok(n > 0 && n < 100, `keys before the bound: ${n}`);
  assert.ok(l.broker.idem.bytes <= 1000 + 400);
  for (let i = 0; i < n; i++) {
    assert.equal(l.apply(cmd, { key: `k${i}`, fingerprint: "f" }).replayed, true);
  }
  l.now += 1000;
  assert.equal(l.apply(cmd, { key: "fresh", fingerprint: "f" }).ok, true);
  assert.equal(l.broker.queue("q")!.stats.published, n + 1);
});

Deno.test("Idempotency-Keys are scoped to the proposing owner", () => {
  const l = new Log();
  l.queue("q");
  const cmd = { op: "publish", queue: "q", message: { body: new Uint8Array(1) } } as const;
  const idem = { key: "k", fingerprint: "f" };
  const a = l.send(cmd, { idem, owner: "alice" });
  const b = l.send(cmd, { idem, owner: "bob" });
  assert.ok(a.ok && b.ok && a.replayed === undefined && b.replayed === undefined);
  assert.notEqual(a.seq, b.seq);
});

Deno.test("a repeated receive under a key answers the deliveries still held, from the queue", () => {
  const l = new Log();
  l.queue("q", { leaseMs: 100 });
  l.publish("q", { text: "a" });
  l.publish("q", { text: "b" });
  const cmd = { op: "receive", queue: "q", max: 2 } as const;
  const first = l.apply(cmd, { key: "k", fingerprint: "f" });
  assert.ok(first.ok && first.messages.length === 2);
  const stored = l.broker.idem.get("k")!.result;
  assert.ok("held" in stored && stored.whole.length === 0, "bodies are not stored");
  assert.equal(l.ack("q", first.messages[0].receipt), "acked");
  const again = l.apply(cmd, { key: "k", fingerprint: "f" });
  assert.ok(again.ok && again.replayed);
  assert.deepEqual(again.messages, [first.messages[1]]);
  l.now += 100;
  const late = l.apply(cmd, { key: "k", fingerprint: "f" });
  assert.ok(late.ok && late.messages.length === 0, "a lease that ended is not handed out again");
});

Deno.test("idempotency_release frees the owner's key for another request, and only theirs", () => {
  const l = new Log();
  assert.ok(l.apply({ op: "topic_put", topic: "t", options: {} }).ok);
  const publish = (body: string) =>
    ({
      op: "topic_publish",
      topic: "t",
      message: { body: new TextEncoder().encode(body) },
    }) as const;
  const idem = { key: "mqtt-qos2.c.1", fingerprint: "f1" };
  const first = l.send(publish("a"), { idem, owner: "alice" });
  assert.ok(first.ok);
  // bob's release names his own key space: alice's key stays.
  const other = l.send({ op: "idempotency_release", key: idem.key }, { owner: "bob" });
  assert.deepEqual(other, { ok: true, released: false });
  const replay = l.send(publish("a"), { idem, owner: "alice" });
  assert.equal(replay.replayed, true);
  const freed = l.send({ op: "idempotency_release", key: idem.key }, { owner: "alice" });
  assert.deepEqual(freed, { ok: true, released: true });
  assert.equal(l.broker.idem.bytes, 0);
  // The same key with the same request is a new publish now, not a replay.
  const again = l.send(publish("a"), { idem, owner: "alice" });
  assert.ok(again.ok && first.ok);
  assert.equal(again.replayed, undefined);
  assert.notEqual(again.seq, first.seq);
});
