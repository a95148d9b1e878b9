/**
 * The Raft log's memory budget with real drivers on file storage: a follower cut off while the
 * leader's log runs far past the budget catches up from entries the leader reads back from its
 * segment files (no snapshot is due), and every node ends with the same state.
 */

import assert from "node:assert/strict";
import { enc, FileCluster } from "./_testing_cluster.ts";

Deno.test("NodeDriver: a lagging follower catches up from entries the leader read back from disk", async () => {
  // Every entry counts 24 bytes + its data: a 200-byte budget holds a handful of them.
  const c = await FileCluster.start(["a", "b", "c"], 100_000, { logCacheBytes: 200 });
  try {
    const leader = await c.leader();
    const lagging = ["a", "b", "c"].find((id) => id !== leader.id)!;
    c.partition([lagging]);
    for (let i = 0; i < 120; i++) {
      assert.equal((await leader.propose(enc(`x${i}`), 2000)).ok, true);
    }
    const held = leader.status().logBytesHeld;
    assert.ok(held <= 200, `the leader holds ${held} bytes of entries`);
    assert.equal(c.drivers.get(lagging)!.appliedIndex < leader.appliedIndex, true);
    c.heal();
    await c.applied(["a", "b", "c"], leader.appliedIndex);
    const items = c.machines.get(leader.id)!.items;
    assert.equal(items.length, 120);
    for (const id of ["a", "b", "c"]) assert.deepEqual(c.machines.get(id)!.items, items, id);
    assert.equal(c.drivers.get(lagging)!.status().firstIndex, 1, "caught up from the log");
  } finally {
    await c.close();
  }
});
