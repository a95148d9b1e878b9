import assert from "node:assert/strict";
import { captureSnapshot, restoreSnapshot } from "./snapshot.ts";
import { concatParts, frame, pack, snapshotPreamble, unpack } from "./_snapshot_format.ts";
import { Log } from "./_testing.ts";

Deno.test("delivered counts every attempt a receive hands out, in queues and subscriptions", () => {
  const l = new Log();
  l.queue("q", { leaseMs: 1000 });
  l.publish("q", {});
  l.publish("q", {});
  assert.equal(l.broker.queue("q")!.stats.delivered, 0);
  const [a] = l.receive("q", 1);
  l.apply({ op: "nack", queue: "q", receipts: [a.receipt] });
  l.receive("q", 10); // the nacked one again, and the second
  assert.equal(l.broker.queue("q")!.stats.delivered, 3);
  l.advance(5_000); // both leases lapse: redelivered, counted again
  assert.equal(l.receive("q", 10).length, 2);
  assert.equal(l.broker.queue("q")!.stats.delivered, 5);
  l.queue("once", { deliveryMode: "at_most_once" });
  l.publish("once", {});
  l.receive("once");
  assert.equal(l.broker.queue("once")!.stats.delivered, 1);
  assert.ok(l.apply({ op: "topic_put", topic: "t", options: {} }).ok);
  assert.ok(l.apply({ op: "subscription_put", topic: "t", subscription: "s", options: {} }).ok);
  l.apply({ op: "topic_publish", topic: "t", message: { body: new Uint8Array([1]) } });
  l.apply({ op: "subscription_receive", topic: "t", subscription: "s", max: 10 });
  assert.equal(l.broker.subscription("t", "s")!.stats.delivered, 1);
});

Deno.test("delivered survives a snapshot, and an older snapshot without it restores 0", () => {
  const l = new Log();
  l.queue("q");
  l.publish("q", {});
  l.receive("q");
  const bytes = captureSnapshot(l.broker).serialize();
  assert.equal(restoreSnapshot(bytes.slice()).queue("q")!.stats.delivered, 1);
  // Rewrite the channel part as a build before the counter wrote it: six counters.
  const parts: Uint8Array[] = [snapshotPreamble()];
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  let trimmed = 0;
  for (let at = 5; at < bytes.length;) {
    const len = view.getUint32(at, true);
    let payload: Uint8Array = bytes.slice(at + 4, at + 4 + len);
    at += 4 + len;
    const part = tryUnpack(payload);
    if (Array.isArray(part) && part[0] === "channel") {
      assert.equal(part[4].length, 7);
      part[4] = part[4].slice(0, 6);
      payload = pack(part);
      trimmed++;
    }
    parts.push(...frame(payload));
  }
  assert.equal(trimmed, 1);
  const old = restoreSnapshot(concatParts(parts)).queue("q")!.stats;
  assert.equal(old.delivered, 0);
  assert.equal(old.published, 1);
  assert.equal(old.leased, 1);
});

function tryUnpack(b: Uint8Array): unknown {
  try {
    return unpack(b);
  } catch {
    return undefined;
  }
}
