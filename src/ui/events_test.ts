import assert from "node:assert/strict";
import { EventRing } from "./events.ts";

Deno.test("the event ring keeps the newest events up to its capacity, newest first", () => {
  let t = 0;
  const ring = new EventRing(3, () => ++t);
  ring.record("leader_changed", { leaderId: "n1" });
  ring.record("request_failed", {});
  assert.deepEqual(ring.recent(), [{
    at: 1,
    event: "leader_changed",
    details: { leaderId: "n1" },
  }]);
  for (const i of [2, 3, 4, 5]) ring.record("snapshot_taken", { index: i });
  assert.deepEqual(ring.recent().map((e) => e.details.index), [5, 4, 3]);
  assert.throws(() => new EventRing(0), /capacity 0/);
});
