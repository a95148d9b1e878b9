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

Deno.test("the Idempotency-Key table forgets its oldest keys beyond its bound", () => {
  const l = new Log(new BrokerState({ idemKeysMax: 2 }));
  for (const k of ["a", "b", "c"]) l.apply({ op: "tick" }, { key: k, fingerprint: "f" });
  assert.equal(l.apply({ op: "tick" }, { key: "a", fingerprint: "g" }).ok, true);
  assert.equal(l.apply({ op: "tick" }, { key: "c", fingerprint: "g" }).ok, false);
  assert.equal(l.broker.idem.byKey.size, 2);
});
