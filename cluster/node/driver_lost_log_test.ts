import assert from "node:assert/strict";
import { enc, FileCluster } from "./_testing_cluster.ts";
import { LostLogError } from "../raft/mod.ts";

// A `--storage memory` node restarted before the leader recorded the members' incarnations
// (identity.ts) comes back with only the bootstrap entries, while the leader still counts it
// holding what it acknowledged: the leader's heartbeat commits past the end of its log. The Raft
// core's assertion threw out of `receive` into the transport ("Cannot commit 8: the log ends at
// 6", uncaught); the node must stop itself and say why, as a stale incarnation does.
Deno.test("driver: a memory node restarted before its incarnation is recorded stops with LostLogError", async () => {
  const ids = ["n1", "n2", "n3"];
  const c = await FileCluster.start(ids, 1000, { identity: true, storage: "memory" });
  try {
    const leader = await c.leader();
    const out = await leader.propose(enc("A"), 5_000);
    assert.ok(out.ok, JSON.stringify(out));
    await c.applied(ids, out.index);
    const follower = ids.find((id) => id !== leader.id)!;
    assert.equal(leader.identities.recorded(follower), undefined, "not recorded yet");
    await c.restart(follower);
    assert.equal(c.drivers.get(follower)!.status().lastIndex < out.index, true, "came back empty");
    for (let i = 0; i < 100 && !c.lost.has(follower); i++) await c.ticks(1);
    const lost = c.lost.get(follower);
    assert.ok(lost instanceof LostLogError, "the restarted node stops itself");
    assert.equal(lost.nodeId, follower);
    assert.equal(lost.leaderId, leader.id);
    assert.match(lost.message, /removed from the membership and added again/);
    // The others go on.
    const next = await leader.propose(enc("B"), 5_000);
    assert.ok(next.ok, JSON.stringify(next));
  } finally {
    await c.close();
  }
});
