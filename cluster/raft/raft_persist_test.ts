/**
 * The persistence contract of Ready (types.ts) and fencing by cluster id and membership.
 */

import assert from "node:assert/strict";
import { bytes, Network } from "./_testing_network.ts";
import { RawNode } from "./raw_node.ts";
import { EntryKind, type Message, NO_NODE, type RaftConfig } from "./types.ts";

function msg(m: Partial<Message> & Pick<Message, "type" | "from" | "to" | "term">): Message {
  return { clusterId: "c1", logTerm: 0, index: 0, commit: 0, ...m };
}

function fresh(id: string, voters: string[], cfg: Partial<RaftConfig> = {}): RawNode {
  return new RawNode({
    id,
    clusterId: "c1",
    electionTicks: 10,
    heartbeatTicks: 1,
    random: () => 0,
    ...cfg,
  }, {
    hardState: { term: 0, vote: NO_NODE, commit: 0 },
    bootstrapConf: { voters, learners: [] },
    entries: [],
  });
}

Deno.test("Ready: a granted vote leaves only after persistence, with term and vote in hardState", () => {
  const n = fresh("n1", ["n1", "n2", "n3"]);
  n.step(msg({ type: "vote", from: "n2", to: "n1", term: 4, index: 0, logTerm: 0 }));
  const rd = n.ready();
  assert.equal(rd.messages.filter((m) => m.type === "vote_resp").length, 0);
  const resp = rd.messagesAfterPersist.find((m) => m.type === "vote_resp");
  assert.ok(resp !== undefined && !resp.reject);
  assert.deepEqual(rd.hardState, { term: 4, vote: "n2", commit: 0 });
});

Deno.test("Ready: an append is acknowledged only after its entries are persisted", () => {
  const n = fresh("n2", ["n1", "n2", "n3"]);
  n.step(msg({
    type: "append",
    from: "n1",
    to: "n2",
    term: 1,
    entries: [{ term: 1, index: 1, kind: EntryKind.Normal, data: bytes("a") }],
    commit: 1,
  }));
  const rd = n.ready();
  assert.equal(rd.messages.filter((m) => m.type === "append_resp").length, 0);
  assert.equal(rd.messagesAfterPersist.find((m) => m.type === "append_resp")?.index, 1);
  assert.deepEqual(rd.entries.map((e) => e.index), [1]);
  // The commit may be persisted in the same Ready: it is written after the entries.
  assert.equal(rd.hardState?.commit, 1);
});

Deno.test("Ready: a candidate counts its own vote only once term and vote are persisted", () => {
  const n = fresh("n1", ["n1", "n2", "n3"], { preVote: false });
  for (let i = 0; i < 10; i++) n.tick();
  const rd = n.ready();
  assert.equal(rd.hardState?.vote, "n1");
  // A grant arrives before the candidate persisted its vote: one vote is not a majority of 3.
  n.step(msg({ type: "vote_resp", from: "n2", to: "n1", term: 1 }));
  assert.equal(n.status().role, "candidate");
  n.advance(rd);
  assert.equal(n.status().role, "leader");
});

Deno.test("Ready: a single voter becomes leader only after persisting its vote", () => {
  const n = fresh("n1", ["n1"]);
  for (let i = 0; i < 10; i++) n.tick();
  assert.notEqual(n.status().role, "leader");
  let rd = n.ready();
  n.advance(rd);
  assert.equal(n.status().role, "leader");
  rd = n.ready(); // the no-op
  assert.equal(rd.entries.length, 1);
  assert.equal(rd.committedEntries.length, 0, "not committed before it is persisted");
  n.advance(rd);
  rd = n.ready();
  assert.deepEqual(rd.committedEntries.map((e) => e.index), [1]);
});

Deno.test("Ready: a leader does not commit its unpersisted entries even with a follower ack", () => {
  const net = new Network(["n1", "n2", "n3"]);
  net.elect("n1");
  const leader = net.node("n1");
  const p = leader.propose(bytes("x"));
  assert.ok(p.ok);
  const rd = leader.ready(); // the driver has not persisted it yet
  for (const m of rd.messages) net.deliver(m);
  net.cycle("n2");
  net.cycle("n3");
  const fromN3 = net.queue.filter((m) => m.from === "n3");
  for (const m of net.queue.splice(0)) if (m.from === "n2") net.deliver(m);
  assert.ok(leader.status().commit < p.index, "3 nodes: one follower ack + unpersisted leader");
  // n3's ack makes a majority without the leader: committing is then correct.
  for (const m of fromN3) net.deliver(m);
  assert.equal(leader.status().commit, p.index);
  net.persist(net.sim("n1").disk, rd);
  net.queue.push(...rd.messagesAfterPersist);
  leader.advance(rd);
  net.settle();
  assert.equal(leader.status().commit, p.index);
});

Deno.test("Ready: the leader's own persistence plus one ack commits in a 3-node cluster", () => {
  const net = new Network(["n1", "n2", "n3"]);
  net.elect("n1");
  net.isolate("n3");
  const p = net.node("n1").propose(bytes("y"));
  assert.ok(p.ok);
  net.settle();
  assert.equal(net.node("n1").status().commit, p.index);
});

Deno.test("Ready: nothing committed or applied lies beyond the durable log, across crashes", () => {
  // The test network asserts this on every Ready; drive elections, proposals and crashes.
  const net = new Network(["n1", "n2", "n3"], { seed: 7 });
  net.elect("n1");
  for (let round = 0; round < 5; round++) {
    const leader = net.leaders()[0];
    net.propose(leader, `r${round}a`, `r${round}b`);
    net.crash(leader);
    net.tickAll(30);
    net.restart(leader);
    net.tickAll(5);
  }
  assert.deepEqual(net.appliedConflicts(), []);
  const apps = [...net.sims.values()].map((s) => s.app.join(","));
  assert.equal(new Set(apps).size, 1, apps.join(" | "));
  assert.equal(apps[0].split(",").length, 10);
});

Deno.test("step() drops messages of another cluster and counts them", () => {
  const n = fresh("n1", ["n1", "n2", "n3"]);
  n.step({ ...msg({ type: "heartbeat", from: "n2", to: "n1", term: 9 }), clusterId: "other" });
  const st = n.status();
  assert.equal(st.term, 0);
  assert.equal(st.dropped.clusterMismatch, 1);
});

Deno.test("step() drops messages from non-members; a removed node cannot disrupt", () => {
  const n = fresh("n1", ["n1", "n2", "n3"]);
  n.step(msg({ type: "vote", from: "n9", to: "n1", term: 50, index: 100, logTerm: 50 }));
  n.step(msg({ type: "prevote", from: "n9", to: "n1", term: 50, index: 100, logTerm: 50 }));
  const st = n.status();
  assert.equal(st.term, 0);
  assert.equal(st.vote, NO_NODE);
  assert.equal(st.dropped.nonMember, 2);
  assert.equal(n.hasReady(), false);
});

Deno.test("step() drops messages addressed to another node", () => {
  const n = fresh("n1", ["n1", "n2", "n3"]);
  n.step(msg({ type: "heartbeat", from: "n2", to: "n3", term: 2 }));
  assert.equal(n.status().dropped.misaddressed, 1);
  assert.equal(n.status().term, 0);
});

Deno.test("restart: a node reloads term, vote, log and commit and re-applies committed entries", () => {
  const net = new Network(["n1", "n2", "n3"]);
  net.elect("n1");
  net.propose("n1", "a", "b");
  net.tickAll(1);
  const before = net.node("n2").status();
  net.crash("n2");
  net.restart("n2");
  const after = net.node("n2").status();
  assert.equal(after.term, before.term);
  assert.equal(after.lastIndex, before.lastIndex);
  assert.equal(after.commit, before.commit);
  net.settle();
  assert.deepEqual(net.sim("n2").app, ["a", "b"]);
});

Deno.test("Ready: a candidate crashing before persisting its vote cannot cause two leaders", () => {
  const net = new Network(["n1", "n2", "n3"], { config: { preVote: false } });
  // n1 campaigns: its vote requests leave (driver step 1), its term/vote are not yet durable.
  net.tick("n1", 20);
  assert.equal(net.node("n1").status().role, "candidate");
  net.begin("n1");
  for (const m of net.queue.splice(0)) if (m.to === "n2") net.deliver(m);
  net.cycle("n2"); // n2 persists and grants
  for (const m of net.queue.splice(0)) net.deliver(m);
  // With its own (volatile) vote n1 would have a majority now; it must not lead yet.
  assert.equal(net.node("n1").status().role, "candidate");
  net.crash("n1");
  net.restart("n1");
  assert.equal(net.node("n1").status().term, 0, "the campaign was never persisted");
  // n3 campaigns in the same term; n1 may now vote for it.
  net.elect("n3");
  assert.equal(net.node("n3").status().term, 1);
  assert.deepEqual(net.leaders(), ["n3"]);
});

Deno.test("advance() marks stable the persisted prefix of a Ready whose tail was replaced", () => {
  const n = fresh("n2", ["n1", "n2", "n3"]);
  const ent = (index: number, term: number) => ({
    index,
    term,
    kind: EntryKind.Normal,
    data: bytes(`${index}`),
  });
  n.step(msg({
    type: "append",
    from: "n1",
    to: "n2",
    term: 1,
    entries: [1, 2, 3, 4, 5].map((i) => ent(i, 1)),
    commit: 3,
  }));
  const rd1 = n.ready();
  // While rd1 is being persisted, a leader of term 2 replaces 4..5.
  n.step(
    msg({
      type: "append",
      from: "n3",
      to: "n2",
      term: 2,
      index: 3,
      logTerm: 1,
      entries: [ent(4, 2)],
      commit: 3,
    }),
  );
  n.advance(rd1);
  assert.equal(n.status().stableIndex, 3);
  n.compact({ meta: { index: 3, term: 1, conf: n.status().conf }, data: bytes("") });
  const rd2 = n.ready();
  assert.deepEqual(rd2.entries.map((e) => `${e.index}/${e.term}`), ["4/2"]);
});
