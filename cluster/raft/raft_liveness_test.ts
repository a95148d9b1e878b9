/**
 * Pre-vote (dissertation §9.6), check-quorum and the leader lease (§6.2, "disruptive servers"),
 * ReadIndex (§6.4) and leadership transfer (§3.10).
 */

import assert from "node:assert/strict";
import { bytes, Network } from "./_testing_network.ts";

Deno.test("pre-vote: a partitioned node does not raise its term, and rejoins without disruption", () => {
  const net = new Network(["n1", "n2", "n3"]);
  net.elect("n1");
  const term = net.node("n1").status().term;
  net.isolate("n3");
  net.tickAll(100);
  assert.equal(net.node("n3").status().term, term, "pre-vote keeps the term");
  assert.equal(net.node("n3").status().role, "pre_candidate");
  net.heal();
  net.tickAll(20);
  assert.equal(net.node("n1").status().role, "leader");
  assert.equal(net.node("n1").status().term, term);
  assert.equal(net.node("n3").status().leaderId, "n1");
});

Deno.test("without pre-vote a partitioned node raises its term and deposes the leader on return", () => {
  const net = new Network(["n1", "n2", "n3"], { config: { preVote: false, checkQuorum: false } });
  net.elect("n1");
  const term = net.node("n1").status().term;
  net.isolate("n3");
  net.tickAll(100);
  assert.ok(net.node("n3").status().term > term);
  net.heal();
  net.tickAll(1);
  assert.ok(net.node("n1").status().term > term, "the contrast that pre-vote exists for");
});

Deno.test("check-quorum: a leader that has not heard from a majority steps down", () => {
  const net = new Network(["n1", "n2", "n3"]);
  net.elect("n1");
  net.isolate("n1");
  for (let i = 0; i < 25; i++) {
    net.tick("n1");
    net.settle();
  }
  assert.equal(net.node("n1").status().role, "follower");
});

Deno.test("leader lease: followers hearing from a live leader ignore a vote request", () => {
  const net = new Network(["n1", "n2", "n3"], { config: { preVote: false } });
  net.elect("n1");
  const term = net.node("n1").status().term;
  // n3 cannot hear the leader (one-way cut) and campaigns; n2 still hears n1 and ignores it.
  net.cuts.add("n1>n3");
  for (let i = 0; i < 30; i++) {
    net.tick("n1");
    net.tick("n3");
    net.settle();
  }
  assert.equal(net.node("n1").status().role, "leader");
  assert.equal(net.node("n1").status().term, term);
  assert.equal(net.node("n2").status().term, term);
});

Deno.test("ReadIndex on the leader completes after a heartbeat round with the commit index", () => {
  const net = new Network(["n1", "n2", "n3"]);
  net.elect("n1");
  net.propose("n1", "a");
  const commit = net.node("n1").status().commit;
  net.node("n1").readIndex(bytes("r1"));
  net.settle();
  assert.deepEqual(net.sim("n1").readStates, [{ index: commit, context: "r1" }]);
});

Deno.test("ReadIndex does not complete while the leader cannot reach a majority", () => {
  const net = new Network(["n1", "n2", "n3"]);
  net.elect("n1");
  net.isolate("n1");
  net.node("n1").readIndex(bytes("r1"));
  net.settle();
  net.tick("n1", 3);
  net.settle();
  assert.deepEqual(net.sim("n1").readStates, []);
  net.heal();
  net.tick("n1", 1); // the periodic heartbeat carries the pending context
  net.settle();
  assert.equal(net.sim("n1").readStates.length, 1);
});

Deno.test("ReadIndex waits until the new leader committed an entry of its term", () => {
  const net = new Network(["n1", "n2", "n3"]);
  // Hold the no-op back: appends from the new leader are dropped.
  net.filter = (m) => m.type !== "append";
  net.elect("n1");
  net.node("n1").readIndex(bytes("r1"));
  net.tickAll(2);
  assert.deepEqual(net.sim("n1").readStates, []);
  net.filter = () => true;
  net.tickAll(2);
  const st = net.node("n1").status();
  assert.deepEqual(net.sim("n1").readStates, [{ index: st.commit, context: "r1" }]);
});

Deno.test("ReadIndex from a follower is forwarded and answered with read_index_resp", () => {
  const net = new Network(["n1", "n2", "n3"]);
  net.elect("n1");
  net.propose("n1", "a", "b");
  net.node("n2").readIndex(bytes("f1"));
  net.settle();
  assert.deepEqual(net.sim("n2").readStates, [{
    index: net.node("n1").status().commit,
    context: "f1",
  }]);
  assert.ok(net.delivered.some((m) => m.type === "read_index_resp" && m.to === "n2"));
});

Deno.test("ReadIndex in a single-voter cluster answers at once", () => {
  const net = new Network(["n1"]);
  net.elect("n1");
  net.node("n1").readIndex(bytes("s"));
  const rd = net.cycle("n1");
  assert.equal(rd?.readStates.length, 1);
});

Deno.test("transferLeadership() catches the target up, sends timeout_now, target wins", () => {
  const net = new Network(["n1", "n2", "n3"]);
  net.elect("n1");
  net.isolate("n3");
  net.propose("n1", "a", "b");
  net.heal();
  const r = net.node("n1").transferLeadership("n3");
  assert.ok(r.ok);
  assert.deepEqual(net.node("n1").propose(bytes("c")), {
    ok: false,
    reason: "transfer_in_progress",
  });
  net.settle();
  assert.equal(net.node("n3").status().role, "leader");
  assert.ok(net.delivered.some((m) => m.type === "timeout_now" && m.to === "n3"));
  net.tickAll(1);
  assert.deepEqual(net.sim("n3").app, ["a", "b"]);
});

Deno.test("transferLeadership() without a target picks the most up-to-date voter", () => {
  const net = new Network(["n1", "n2", "n3"]);
  net.elect("n1");
  net.isolate("n2");
  net.propose("n1", "a");
  net.heal();
  assert.ok(net.node("n1").transferLeadership().ok);
  net.settle();
  assert.equal(net.node("n3").status().role, "leader");
});

Deno.test("transferLeadership() is abandoned after an election timeout", () => {
  const net = new Network(["n1", "n2", "n3"]);
  net.elect("n1");
  net.filter = (m) => m.type !== "timeout_now";
  assert.ok(net.node("n1").transferLeadership("n2").ok);
  net.settle();
  assert.equal(net.node("n1").status().leadTransferee, "n2");
  net.tickAll(10);
  assert.equal(net.node("n1").status().leadTransferee, "");
  assert.ok(net.node("n1").propose(bytes("ok again")).ok);
});

Deno.test("a follower asks the leader to transfer with transfer_leader", () => {
  const net = new Network(["n1", "n2", "n3"]);
  net.elect("n1");
  assert.ok(net.node("n2").transferLeadership("n2").ok);
  net.settle();
  assert.equal(net.node("n2").status().role, "leader");
});

Deno.test("timeout_now lets the target win even though voters are in their leader lease", () => {
  const net = new Network(["n1", "n2", "n3"]);
  net.elect("n1");
  const term = net.node("n1").status().term;
  assert.ok(net.node("n1").transferLeadership("n2").ok);
  net.settle();
  assert.equal(net.node("n2").status().role, "leader");
  assert.equal(net.node("n2").status().term, term + 1);
  assert.ok(net.delivered.some((m) => m.type === "vote" && m.from === "n2"));
  assert.ok(!net.delivered.some((m) => m.type === "prevote" && m.from === "n2"));
});
