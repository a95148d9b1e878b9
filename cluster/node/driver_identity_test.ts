import assert from "node:assert/strict";
import { enc, FileCluster } from "./_testing_cluster.ts";
import { StaleIncarnationError } from "./identity.ts";
import type { Message, NodeId } from "../raft/mod.ts";

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
      // A lagging node's word does not stop it (only a current leader's does).
      assert.equal(c.stale.get(witness), undefined);
      // The real majority (leader + lagging) goes on and keeps E; its leader stops the wiped one.
      c.heal();
      const next = await (await c.leader([leader, lagging])).propose(enc("F"), 5_000);
      assert.ok(next.ok, JSON.stringify(next));
      await c.applied([leader, lagging], next.index);
      assert.deepEqual(c.machines.get(lagging)!.items, ["E", "F"]);
      for (let i = 0; i < 300 && !c.stale.has(witness); i++) await c.ticks(1);
      const stale = c.stale.get(witness);
      assert.ok(stale instanceof StaleIncarnationError, "the wiped node learns it is stale");
      assert.match(stale.message, /removed from the membership and added again/);
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

Deno.test("identity: the recorded incarnations survive a snapshot and a restart from it", async () => {
  const ids = ["n1", "n2", "n3"];
  // A snapshot every 5 entries: the identify entries are compacted away below.
  const c = await FileCluster.start(ids, 5, { identity: true });
  try {
    const leader = await c.leader();
    await allRecorded(c, ids);
    const recorded = ids.map((id) => leader.identities.recorded(id));
    let first = 0;
    let last = 0;
    for (let i = 0; i < 30; i++) {
      const out = await leader.propose(enc(`e${i}`), 5_000);
      assert.ok(out.ok, JSON.stringify(out));
      if (i === 0) first = out.index; // after every identify entry
      last = out.index;
    }
    await c.applied(ids, last);
    await c.ticks(20); // the background snapshot saves finish
    const follower = ids.find((id) => id !== leader.id)!;
    const restarted = await c.restart(follower);
    const status = restarted.status();
    assert.ok(
      status.firstIndex > first,
      `compacted past the identify entries: ${status.firstIndex}`,
    );
    assert.deepEqual(ids.map((id) => restarted.identities.recorded(id)), recorded);
    // And a wiped node is still told apart by a node that restarted from that snapshot.
    const other = ids.find((id) => id !== leader.id && id !== follower)!;
    await c.wipe(other);
    for (let i = 0; i < 300 && !c.stale.has(other); i++) await c.ticks(1);
    assert.ok(c.stale.get(other) instanceof StaleIncarnationError);
  } finally {
    await c.close();
  }
});

Deno.test("identity: a lagging node with the old record does not stop a member re-added with new data", async () => {
  const ids = ["n1", "n2", "n3", "n4", "n5"];
  const c = await FileCluster.start(ids, 1000, { identity: true });
  try {
    const leader = await c.leader();
    await allRecorded(c, ids);
    const [victim, lagging] = ids.filter((id) => id !== leader.id);
    // `lagging` misses the remove, the new data directory and its record, and campaigns alone.
    c.partition([lagging]);
    const removed = await change(
      c,
      () => leader.proposeConfChange({ op: "remove", nodeId: victim }, 5_000),
    );
    assert.ok(removed.ok, JSON.stringify(removed));
    await c.drivers.get(victim)!.close();
    c.drivers.delete(victim);
    await c.wipeAndJoin(victim);
    c.partition([lagging]);
    const added = await change(c, () =>
      leader.proposeConfChange(
        { op: "add_learner", nodeId: victim, context: `http://${victim}` },
        5_000,
      ));
    assert.ok(added.ok, JSON.stringify(added));
    const promoted = await change(
      c,
      () => leader.proposeConfChange({ op: "promote", nodeId: victim }, 5_000),
    );
    assert.ok(promoted.ok, JSON.stringify(promoted));
    for (let i = 0; i < 500 && leader.identities.recorded(victim) === undefined; i++) {
      await c.ticks(1);
    }
    assert.notEqual(leader.identities.recorded(victim), undefined);
    // Healed but still deaf to the leader, `lagging` holds the old record and campaigns: its
    // requests reach the re-added member, and must not stop it.
    let campaigned = false;
    const fromLeader = (m: Message) => m.from === leader.id && m.to === lagging;
    c.hold = (m) => {
      if (m.from === lagging && m.to === victim && /vote/.test(m.type)) campaigned = true;
      return fromLeader(m);
    };
    c.heal();
    for (let i = 0; i < 300 && !campaigned; i++) await c.ticks(1);
    assert.ok(campaigned, "the lagging node asked the re-added member for its vote");
    c.hold = () => false;
    c.release(fromLeader);
    const out = await leader.propose(enc("after"), 5_000);
    assert.ok(out.ok, JSON.stringify(out));
    await c.applied([victim, lagging], out.index);
    assert.equal(c.stale.get(victim), undefined, String(c.stale.get(victim)?.message));
    assert.equal(
      c.drivers.get(lagging)!.identities.recorded(victim),
      leader.identities.recorded(victim),
    );
  } finally {
    await c.close();
  }
});
