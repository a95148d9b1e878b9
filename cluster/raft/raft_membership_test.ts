/**
 * Single-server membership changes (dissertation §4.1 and the 2015 raft-dev fix): learners,
 * promotion, removal (the leader too), one change at a time.
 */

import assert from "node:assert/strict";
import { bytes, Network } from "./_testing_network.ts";
import { decodeConfChange, encodeConfChange } from "./conf_change.ts";
import type { ConfChange, ProposeResult } from "./types.ts";

function change(net: Network, leader: string, cc: ConfChange): ProposeResult {
  const r = net.node(leader).proposeConfChange(cc);
  net.settle();
  net.tickAll(2); // followers learn the commit and apply
  return r;
}

function withLearner(): Network {
  const net = new Network(["n1", "n2", "n3"]);
  net.elect("n1");
  // A joining node starts with the cluster's bootstrap membership, which does not include it.
  net.addNode("n4", { voters: ["n1", "n2", "n3"], learners: [] });
  assert.ok(change(net, "n1", { op: "add_learner", nodeId: "n4", context: "http://n4" }).ok);
  return net;
}

Deno.test("encodeConfChange() and decodeConfChange() round-trip; garbage is refused", () => {
  const cc: ConfChange = { op: "promote", nodeId: "n7", context: "x" };
  assert.deepEqual(decodeConfChange(encodeConfChange(cc)), cc);
  assert.deepEqual(decodeConfChange(encodeConfChange({ op: "remove", nodeId: "n2" })), {
    op: "remove",
    nodeId: "n2",
  });
  assert.throws(() => decodeConfChange(bytes('{"op":"explode","nodeId":"n1"}')), /unknown op/);
  assert.throws(() => decodeConfChange(bytes("not json")), /Cannot decode/);
});

Deno.test("add_learner: the learner receives the log but never votes or campaigns", () => {
  const net = withLearner();
  net.propose("n1", "a", "b");
  net.tickAll(2);
  assert.deepEqual(net.sim("n4").app, ["a", "b"]);
  for (const id of ["n1", "n2", "n3", "n4"]) {
    assert.deepEqual(net.node(id).status().conf, { voters: ["n1", "n2", "n3"], learners: ["n4"] });
  }
  const term = net.node("n1").status().term;
  net.isolate("n1");
  for (let i = 0; i < 60; i++) net.tick("n4");
  net.settle();
  assert.equal(net.node("n4").status().role, "follower");
  assert.equal(net.node("n4").status().term, term);
});

Deno.test("proposeConfChange(): one change at a time (conf_change_pending)", () => {
  const net = new Network(["n1", "n2", "n3"]);
  net.elect("n1");
  const first = net.node("n1").proposeConfChange({ op: "add_learner", nodeId: "n4" });
  assert.ok(first.ok);
  assert.deepEqual(net.node("n1").proposeConfChange({ op: "add_learner", nodeId: "n5" }), {
    ok: false,
    reason: "conf_change_pending",
  });
  net.settle();
  assert.ok(net.node("n1").proposeConfChange({ op: "add_learner", nodeId: "n5" }).ok);
});

Deno.test("proposeConfChange(): refused until the leader committed an entry of its term", () => {
  const net = new Network(["n1", "n2", "n3"]);
  net.filter = (m) => m.type !== "append"; // the no-op cannot commit
  net.elect("n1");
  assert.deepEqual(net.node("n1").proposeConfChange({ op: "add_learner", nodeId: "n4" }), {
    ok: false,
    reason: "conf_change_pending",
  });
  net.filter = () => true;
  net.tickAll(2);
  assert.ok(net.node("n1").proposeConfChange({ op: "add_learner", nodeId: "n4" }).ok);
});

Deno.test("proposeConfChange(): invalid changes are refused with a reason", () => {
  const net = new Network(["n1", "n2", "n3"]);
  net.elect("n1");
  const r1 = net.node("n1").proposeConfChange({ op: "add_learner", nodeId: "n2" });
  assert.equal(r1.ok ? "" : r1.reason, "invalid_conf_change");
  const r2 = net.node("n1").proposeConfChange({ op: "promote", nodeId: "n9" });
  assert.equal(r2.ok ? "" : r2.reason, "invalid_conf_change");
  const r3 = net.node("n2").proposeConfChange({ op: "remove", nodeId: "n3" });
  assert.deepEqual(r3, { ok: false, reason: "not_leader", leaderId: "n1" });
});

Deno.test("promote: refused while the learner is far behind, accepted once caught up", () => {
  const net = withLearner();
  net.isolate("n4");
  net.propose("n1", ...Array.from({ length: 1100 }, (_, i) => `e${i}`));
  const r = net.node("n1").proposeConfChange({ op: "promote", nodeId: "n4" });
  assert.equal(r.ok ? "" : r.reason, "invalid_conf_change");
  net.heal();
  net.tickAll(3);
  assert.ok(change(net, "n1", { op: "promote", nodeId: "n4" }).ok);
  assert.deepEqual(net.node("n4").status().conf.voters, ["n1", "n2", "n3", "n4"]);
  // 4 voters: a majority is 3, so losing two of them stops commits.
  net.isolate("n2");
  net.isolate("n3");
  const p = net.node("n1").propose(bytes("needs 3"));
  net.settle();
  assert.ok(p.ok && net.node("n1").status().commit < p.index);
});

Deno.test("remove: a removed follower is fenced off and cannot disrupt the cluster", () => {
  const net = new Network(["n1", "n2", "n3"]);
  net.elect("n1");
  // n3 misses its own removal, so it still believes it is a voter.
  net.isolate("n3");
  assert.ok(change(net, "n1", { op: "remove", nodeId: "n3" }).ok);
  net.heal();
  const term = net.node("n1").status().term;
  assert.deepEqual(net.node("n1").status().conf.voters, ["n1", "n2"]);
  assert.deepEqual(net.node("n3").status().conf.voters, ["n1", "n2", "n3"]);
  // n3 no longer hears anything; it times out over and over.
  for (let i = 0; i < 100; i++) {
    net.tick("n3");
    net.tick("n1");
    net.tick("n2");
    net.settle();
  }
  assert.equal(net.node("n1").status().role, "leader");
  assert.equal(net.node("n1").status().term, term);
  assert.ok(net.node("n2").status().dropped.nonMember > 0);
  net.node("n3").readIndex(bytes("x")); // n3 knows no leader: nothing to send
  net.propose("n1", "still works");
  assert.equal(net.node("n1").status().commit, net.node("n1").status().lastIndex);
});

Deno.test("remove: messages from a removed node are dropped and counted", () => {
  const net = new Network(["n1", "n2", "n3"]);
  net.elect("n1");
  assert.ok(change(net, "n1", { op: "remove", nodeId: "n3" }).ok);
  net.node("n2").step({
    type: "vote",
    clusterId: "c1",
    from: "n3",
    to: "n2",
    term: 99,
    logTerm: 99,
    index: 99,
    commit: 0,
  });
  assert.equal(net.node("n2").status().dropped.nonMember, 1);
  assert.notEqual(net.node("n2").status().term, 99);
});

Deno.test("remove: a removed leader steps down once the change commits; the rest elect", () => {
  const net = new Network(["n1", "n2", "n3"]);
  net.elect("n1");
  assert.ok(change(net, "n1", { op: "remove", nodeId: "n1" }).ok);
  assert.equal(net.node("n1").status().role, "follower");
  net.tickAll(40);
  const leaders = net.leaders();
  assert.equal(leaders.length, 1);
  assert.notEqual(leaders[0], "n1");
  assert.deepEqual(net.node(leaders[0]).status().conf.voters, ["n2", "n3"]);
  net.propose(leaders[0], "after");
  net.tickAll(1);
  assert.deepEqual(net.sim("n2").app, ["after"]);
});

Deno.test("a member whose configuration is behind still follows a leader it does not know", () => {
  const net = new Network(["n1", "n2", "n3"]);
  net.elect("n1");
  net.isolate("n3"); // n3 misses the next changes
  net.addNode("n4", { voters: ["n1", "n2", "n3"], learners: [] });
  assert.ok(change(net, "n1", { op: "add_learner", nodeId: "n4" }).ok);
  assert.ok(change(net, "n1", { op: "promote", nodeId: "n4" }).ok);
  net.propose("n1", "x");
  assert.ok(net.node("n1").transferLeadership("n4").ok);
  net.settle();
  assert.equal(net.node("n4").status().role, "leader");
  net.heal();
  net.tickAll(5);
  assert.deepEqual(net.node("n3").status().conf.voters, ["n1", "n2", "n3", "n4"]);
  assert.deepEqual(net.sim("n3").app, ["x"]);
  assert.equal(net.node("n3").status().leaderId, "n4");
});
