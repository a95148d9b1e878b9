/**
 * Leadership transfer (dissertation §3.10) when things go wrong: a timeout_now the target could
 * not act on or never got, one that comes after the leader gave up, a target far behind or
 * unreachable, a second request while one is in progress. Ticks are logical: "within the
 * election timeout" means within `electionTicks` ticks of the leader.
 */

import assert from "node:assert/strict";
import { bytes, Network } from "./_testing_network.ts";
import type { NodeId } from "./types.ts";

const ELECTION_TICKS = 10;

/** A network whose `held` nodes step messages but run no Ready (a driver busy elsewhere). */
function heldNetwork(voters: NodeId[]): { net: Network; held: Set<NodeId> } {
  const net = new Network(voters);
  const held = new Set<NodeId>();
  const cycle = net.cycle.bind(net);
  net.cycle = (id) => held.has(id) ? undefined : cycle(id);
  return { net, held };
}

/**
 * The leader commits a conf change that `target` holds and knows committed but has not applied
 * yet (its driver has not run the Ready that applies it): the state in which `Raft.campaign`
 * refuses to start an election.
 */
function confChangeCommittedNotApplied(net: Network, held: Set<NodeId>, target: NodeId): void {
  const cc = net.node("n1").proposeConfChange({ op: "identify", nodeId: "n3", context: "x" });
  assert.ok(cc.ok);
  const index = cc.index;
  // The entry reaches every follower, which persists and acknowledges it, but the target does not
  // hear that it committed yet.
  net.filter = (m) => !(m.to === target && m.commit >= index);
  net.settle();
  net.filter = () => true;
  assert.equal(net.node("n1").status().commit, index);
  held.add(target);
  // A heartbeat carries the commit: at the second tick, as the target acknowledged a new entry
  // since its last one (in step: the first tick sends it none, `leaderHeartbeats` in leader.ts).
  for (let i = 0; i < 2; i++) {
    net.tick("n1");
    net.settle();
  }
  const st = net.node(target).status();
  assert.equal(st.commit, index, "the target knows the conf change committed");
  assert.ok(net.sim(target).appliedIndex < index, "and has not applied it");
}

Deno.test("transfer: a timeout_now that came while a conf change was unapplied is sent again", () => {
  const { net, held } = heldNetwork(["n1", "n2", "n3"]);
  net.elect("n1");
  confChangeCommittedNotApplied(net, held, "n2");
  assert.ok(net.node("n1").transferLeadership("n2").ok);
  net.settle();
  assert.ok(net.delivered.some((m) => m.type === "timeout_now" && m.to === "n2"));
  assert.equal(net.node("n2").status().role, "follower", "it could not campaign then");
  held.delete("n2");
  net.settle(); // the target applies the conf change
  net.tickAll(ELECTION_TICKS - 1);
  assert.equal(net.node("n2").status().role, "leader");
  assert.deepEqual(net.leaders(), ["n2"]);
});

Deno.test("transfer: a lost timeout_now is sent again on the next heartbeat answer", () => {
  const net = new Network(["n1", "n2", "n3"]);
  net.elect("n1");
  let dropped = 0;
  net.filter = (m) => !(m.type === "timeout_now" && dropped++ === 0);
  assert.ok(net.node("n1").transferLeadership("n2").ok);
  net.settle();
  assert.equal(dropped, 1);
  assert.equal(net.node("n1").status().role, "leader");
  net.tickAll(ELECTION_TICKS - 1);
  assert.deepEqual(net.leaders(), ["n2"]);
});

Deno.test("transfer: a target that turned pre-candidate follows again and takes over", () => {
  const net = new Network(["n1", "n2", "n3"]);
  net.elect("n1");
  net.isolate("n2");
  net.tickAll(3 * ELECTION_TICKS); // n2 hears no leader and runs pre-votes that fail
  assert.equal(net.node("n2").status().role, "pre_candidate");
  net.heal();
  assert.ok(net.node("n1").transferLeadership("n2").ok);
  net.settle();
  net.tickAll(ELECTION_TICKS - 1);
  assert.deepEqual(net.leaders(), ["n2"]);
});

Deno.test("transfer: a target far behind is caught up and takes over", () => {
  const net = new Network(["n1", "n2", "n3"], { config: { maxInflightMessages: 2 } });
  net.elect("n1");
  net.isolate("n3");
  for (let i = 0; i < 50; i++) net.propose("n1", `e${i}`);
  net.heal();
  assert.ok(net.node("n1").transferLeadership("n3").ok);
  net.settle();
  net.tickAll(ELECTION_TICKS - 1);
  assert.deepEqual(net.leaders(), ["n3"]);
  net.tickAll(1);
  assert.equal(net.sim("n3").app.length, 50);
  assert.deepEqual(net.appliedConflicts(), []);
});

Deno.test("transfer: to an unreachable node it is abandoned and the leader goes on", () => {
  const net = new Network(["n1", "n2", "n3"]);
  net.elect("n1");
  const term = net.node("n1").status().term;
  net.isolate("n3");
  assert.ok(net.node("n1").transferLeadership("n3").ok);
  assert.equal(net.node("n1").propose(bytes("refused")).ok, false);
  net.tickAll(ELECTION_TICKS);
  assert.equal(net.node("n1").status().leadTransferee, "", "abandoned");
  assert.deepEqual(net.leaders(), ["n1"]);
  assert.equal(net.node("n1").status().term, term);
  net.propose("n1", "accepted again");
  // Another transfer may start, and succeeds to a node that answers.
  assert.ok(net.node("n1").transferLeadership("n2").ok);
  net.settle();
  assert.deepEqual(net.leaders(), ["n2"]);
  net.heal();
  net.tickAll(2 * ELECTION_TICKS);
  assert.deepEqual(net.leaders(), ["n2"]);
  assert.deepEqual(net.appliedConflicts(), []);
});

Deno.test("transfer: a second request while one is in progress", () => {
  const net = new Network(["n1", "n2", "n3"]);
  net.elect("n1");
  net.isolate("n2");
  net.propose("n1", "a", "b");
  net.heal();
  assert.ok(net.node("n1").transferLeadership("n2").ok);
  assert.ok(net.node("n1").transferLeadership("n2").ok, "the same target: already under way");
  assert.deepEqual(net.node("n1").transferLeadership("n3"), {
    ok: false,
    reason: "transfer_in_progress",
  });
  assert.ok(net.node("n1").transferLeadership().ok, "any target: the one under way");
  net.settle();
  assert.deepEqual(net.leaders(), ["n2"], "the first request's target takes over");
  assert.equal(net.delivered.filter((m) => m.type === "timeout_now").length, 1);
});

Deno.test("transfer: a timeout_now that arrives after the leader gave up and went on", () => {
  const net = new Network(["n1", "n2", "n3"]);
  net.elect("n1");
  const late = holdTimeoutNow(net);
  assert.ok(net.node("n1").transferLeadership("n2").ok);
  net.tickAll(ELECTION_TICKS);
  assert.equal(net.node("n1").status().leadTransferee, "", "abandoned");
  // The leader appends meanwhile, n2 does not get it: its log is behind n1's and n3's.
  net.cuts.add("n1>n2");
  net.propose("n1", "after");
  net.heal();
  net.filter = () => true;
  assert.ok(late.length > 0);
  net.deliver(late[0]); // n2 campaigns with a shorter log: it cannot win
  net.settle();
  assert.notEqual(net.node("n2").status().role, "leader");
  net.tickAll(5 * ELECTION_TICKS);
  const leaders = net.leaders();
  assert.equal(leaders.length, 1, "the cluster elects a leader again");
  assert.notEqual(leaders[0], "n2");
  assert.ok(net.sim(leaders[0]).app.includes("after"), "nothing committed is lost");
  assert.deepEqual(net.appliedConflicts(), []);
});

Deno.test("transfer: a delayed timeout_now to a target still up to date elects it", () => {
  const net = new Network(["n1", "n2", "n3"]);
  net.elect("n1");
  const late = holdTimeoutNow(net);
  assert.ok(net.node("n1").transferLeadership("n2").ok);
  net.tickAll(ELECTION_TICKS);
  net.filter = () => true;
  net.deliver(late[0]); // the leader's lease does not stop an election it asked for
  net.settle();
  assert.deepEqual(net.leaders(), ["n2"]);
});

/** Holds back every timeout_now `net` would deliver, into the returned list. */
function holdTimeoutNow(net: Network): Parameters<Network["deliver"]>[0][] {
  const late: Parameters<Network["deliver"]>[0][] = [];
  net.filter = (m) => {
    if (m.type !== "timeout_now") return true;
    late.push(m);
    return false;
  };
  return late;
}
