/**
 * Snapshots written by an earlier build still restore. `testdata/snapshot_v2_objects.bin` is the
 * snapshot (format v2) of `buildFixtureLog()`'s state, written by the build that kept a JS object
 * per message and per id record (before messages and ids were stored in columns).
 */

import assert from "node:assert/strict";
import { restoreSnapshot, snapshotBytes } from "./snapshot.ts";
import { Log, text } from "./_testing.ts";
import { buildFixtureLog } from "./_testing_snapshot_state.ts";

const OLD = Deno.readFileSync(new URL("./testdata/snapshot_v2_objects.bin", import.meta.url));

Deno.test("a snapshot written before columns restores, and encodes back to the same bytes", () => {
  const restored = restoreSnapshot(OLD);
  assert.deepEqual(snapshotBytes(restored), OLD);
  // The same log applied by this build makes the same bytes: the format did not change.
  assert.deepEqual(snapshotBytes(buildFixtureLog().broker), OLD);
});

Deno.test("the state restored from an old snapshot goes on like the one that was never saved", () => {
  const built = buildFixtureLog();
  const restored = new Log(restoreSnapshot(OLD));
  restored.index = built.index;
  restored.now = built.now;
  // The fixture holds what it should: leases, dead letters, keys, a session, settled ids.
  assert.ok(built.broker.queue("q")!.stats.leased > 0);
  assert.ok(built.broker.queue("dlq")!.stats.ready > 0);
  assert.equal(built.broker.exactlyOnceStats().keys, 1);
  assert.equal(built.broker.exactlyOnceStats().sessions, 1);
  for (const l of [built, restored]) {
    l.advance(3_000);
    const got = l.receive("q", 50);
    for (const d of got.slice(0, 10)) l.ack("q", d.receipt);
    assert.equal(l.publish("q", { id: "q-39", text: "dup" }).ok, true);
    const f = l.receive("f", 10).map(text);
    l.apply({ op: "subscription_receive", topic: "t", subscription: "eu", max: 5 });
    l.apply({ op: "queue_redrive", queue: "dlq" });
    assert.ok(f.length > 0);
  }
  assert.deepEqual(snapshotBytes(restored.broker), snapshotBytes(built.broker));
  assert.deepEqual(restored.broker.listQueues(), built.broker.listQueues());
  assert.deepEqual(
    restored.broker.messageStatus("q", "q-39"),
    built.broker.messageStatus("q", "q-39"),
  );
});
