import assert from "node:assert/strict";
import { enc, FileCluster } from "./_testing_cluster.ts";
import { StaleIncarnationError } from "./identity.ts";
import type { NodeId } from "../raft/mod.ts";

/** Ticks until every node has every member's incarnation recorded (bounded). */
async function allRecorded(c: FileCluster, ids: NodeId[]): Promise<void> {
  const done = () =>
    ids.every((at) => ids.every((id) => c.drivers.get(at)!.identities.recorded(id) !== undefined));
  for (let i = 0; i < 500 && !done(); i++) await c.ticks(1);
  assert.ok(done(), "every member's incarnation recorded on every node");
}

/** A membership change, retried (ticking) while another is pending or a learner catches up. */
async function change<T extends { ok: boolean; detail?: string }>(
  c: FileCluster,
  propose: () => Promise<T>,
): Promise<T> {
  let out = await propose();
  for (let i = 0; i < 300 && !out.ok && /pending|not caught up/.test(out.detail ?? ""); i++) {
    await c.ticks(1);
    out = await propose();
  }
  return out;
}

Deno.test(
  "identity: a follower that lost its disk cannot elect a node that lacks a committed entry",
  async () => {
    const ids = ["n1", "n2", "n3"];
    const c = await FileCluster.start(ids, 1000, { identity: true });
    try {
      const leader = (await c.leader()).id;
      await allRecorded(c, ids);
      const [lagging, witness] = ids.filter((id) => id !== leader);
      // `lagging` misses an entry that the leader and `witness` commit.
      c.partition([leader, witness], [lagging]);
      const out = await c.drivers.get(leader)!.propose(enc("E"), 5_000);
      assert.ok(out.ok, JSON.stringify(out));
      await c.applied([leader, witness], out.index);
      // `witness` loses its disk and comes back empty; the leader is cut off. `lagging` and the
      // wiped `witness` are a majority by count, but the wiped one must not vote: had it voted,
      // `lagging` (without E) would lead and E, committed, would be lost.
      await c.wipe(witness);
      c.partition([lagging, witness], [leader]);
      await c.ticks(300);
      assert.notEqual(c.drivers.get(lagging)!.status().role, "leader", "no leader without E");
      const stale = c.stale.get(witness);
      assert.ok(stale instanceof StaleIncarnationError, "the wiped node learns it is stale");
      assert.match(stale.message, /removed from the membership and added again/);
      // The real majority (leader + lagging) goes on and keeps E.
      c.heal();
      const next = await (await c.leader([leader, lagging])).propose(enc("F"), 5_000);
      assert.ok(next.ok, JSON.stringify(next));
      await c.applied([leader, lagging], next.index);
      assert.deepEqual(c.machines.get(lagging)!.items, ["E", "F"]);
    } finally {
      await c.close();
    }
  },
);

Deno.test("identity: a removed member's record is forgotten; added again it is recorded anew", async () => {
  const ids = ["n1", "n2", "n3"];
  const c = await FileCluster.start(ids, 1000, { identity: true });
  try {
    const leader = await c.leader();
    await allRecorded(c, ids);
    const victim = ids.find((id) => id !== leader.id)!;
    const before = leader.identities.recorded(victim)!;
    const removed = await change(
      c,
      () => leader.proposeConfChange({ op: "remove", nodeId: victim }, 5_000),
    );
    assert.ok(removed.ok, JSON.stringify(removed));
    assert.equal(leader.identities.recorded(victim), undefined);
    // Its disk is replaced; it joins as a new member (no bootstrap membership).
    await c.drivers.get(victim)!.close();
    c.drivers.delete(victim);
    await c.wipeAndJoin(victim);
    const added = await change(c, () =>
      leader.proposeConfChange(
        { op: "add_learner", nodeId: victim, context: `http://${victim}` },
        5_000,
      ));
    const promoted = await change(
      c,
      () => leader.proposeConfChange({ op: "promote", nodeId: victim }, 5_000),
    );
    assert.ok(promoted.ok, JSON.stringify(promoted));
    assert.ok(added.ok, JSON.stringify(added));
    for (let i = 0; i < 500 && leader.identities.recorded(victim) === undefined; i++) {
      await c.ticks(1);
    }
    const after = leader.identities.recorded(victim);
    assert.ok(after !== undefined && after !== before, "the new data directory is recorded");
    assert.equal(c.stale.get(victim), undefined);
    const out = await leader.propose(enc("G"), 5_000);
    assert.ok(out.ok);
    await c.applied([victim], out.index);
  } finally {
    await c.close();
  }
});
